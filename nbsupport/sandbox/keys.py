"""What the sandbox knows about one API key: its credentials, its settings on the venue, its faults."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from nbsupport.diagnosis import STRATEGY_SCOPES, Scope
from nbsupport.venues import kraken_facts as facts
from nbsupport.venues.kraken_facts import FuturesAccessLevel

Product = Literal["spot", "futures"]


class Fault(StrEnum):
    """Failures the sandbox produces on demand, per key or server-wide."""

    SERVICE_UNAVAILABLE = "service_unavailable"
    BUSY = "busy"
    HTML_502 = "html_502"
    HTML_404 = "html_404"  # a CDN's page for a path it does not route (an endpoint missing on this host)
    HTTP_429 = "http_429"
    REGION_BLOCKED = "region_blocked"
    TIMEOUT = "timeout"
    DROP_CONNECTION = "drop_connection"
    TRUNCATED_JSON = "truncated_json"
    EMPTY_BODY = "empty_body"
    GARBAGE = "garbage"
    # These two answer only after the request authenticated, as the venue's limiter does.
    RATE_LIMITED = "rate_limited"
    LOCKOUT = "lockout"


# Faults the venue's limiter produces; every other fault happens at the edge, before authentication.
AUTHENTICATED_FAULTS: frozenset[Fault] = frozenset({Fault.RATE_LIMITED, Fault.LOCKOUT})

# Kraken spot's permission names as GetApiKeyInfo lists them (nbsupport.venues.kraken_facts).
KRAKEN_PERMISSION_NAMES: dict[Scope, tuple[str, ...]] = {
    # The sandbox folds Kraken's separate "Query Ledger Entries" into query_funds: Scope has no ledger scope.
    Scope.QUERY_FUNDS: (facts.SPOT_PERMISSION_QUERY_FUNDS, facts.SPOT_PERMISSION_QUERY_LEDGER),
    Scope.QUERY_OPEN_ORDERS: (facts.SPOT_PERMISSION_QUERY_OPEN,),
    Scope.QUERY_CLOSED_ORDERS: (facts.SPOT_PERMISSION_QUERY_CLOSED,),
    Scope.CREATE_ORDERS: (facts.SPOT_PERMISSION_MODIFY_TRADES,),
    Scope.CANCEL_ORDERS: (facts.SPOT_PERMISSION_CLOSE_TRADES,),
    Scope.WITHDRAW: (facts.SPOT_PERMISSION_WITHDRAW,),
}

_READ_SCOPES = frozenset({Scope.QUERY_FUNDS, Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS})
_TRADE_SCOPES = frozenset({Scope.CREATE_ORDERS, Scope.CANCEL_ORDERS})

_FIXED_CREATED_AT = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _default_balances() -> dict[str, str]:
    return {"ZUSD": "1250.0000", "XXBT": "0.0421000000", "XETH": "0.5000000000"}


@dataclass
class SandboxKey:
    """One key as the venue stores it. `secret` is base64, as Kraken shows it (64 bytes for spot)."""

    api_key: str
    secret: str = field(repr=False)
    product: Product = "spot"
    permissions: frozenset[Scope] = frozenset(STRATEGY_SCOPES)
    name: str = "noon-barbari"
    expires_at: datetime | None = None
    # Single addresses or CIDR blocks; empty means any address may use the key.
    ip_allowlist: tuple[str, ...] = ()
    # When set, every private spot call must carry `otp` equal to this (a static stand-in for TOTP).
    otp: str | None = None
    # The highest nonce some other process already used with this key.
    nonce_floor: int = 0
    # How far below the highest nonce seen a fresh nonce may still be accepted (Kraken's "nonce window").
    nonce_window: int = 0
    # History queries only return entries inside [start, end]; None leaves that side open.
    query_window: tuple[datetime | None, datetime | None] = (None, None)
    # False makes GetApiKeyInfo (and the futures key check) unavailable, so callers must probe scopes.
    key_info_enabled: bool = True
    # A fault only GetApiKeyInfo (and the futures key check) answer with, once the request authenticated:
    # the key works, its settings cannot be read (an HTML 404, a 5xx, a garbage body).
    key_info_fault: Fault | None = None
    balances: dict[str, str] = field(default_factory=_default_balances)
    fault: Fault | None = None
    created_at: datetime = _FIXED_CREATED_AT

    def __post_init__(self) -> None:
        self.permissions = frozenset(Scope(p) for p in self.permissions)
        self.ip_allowlist = tuple(self.ip_allowlist)
        # Naive datetimes are taken as UTC, so comparing them with the clock can never raise.
        self.expires_at = _as_utc(self.expires_at)
        self.query_window = (_as_utc(self.query_window[0]), _as_utc(self.query_window[1]))
        if self.fault is not None:
            self.fault = Fault(self.fault)
        if self.key_info_fault is not None:
            self.key_info_fault = Fault(self.key_info_fault)

    def allows_ip(self, peer: str) -> bool:
        if not self.ip_allowlist:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(entry, strict=False) for entry in self.ip_allowlist)

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def kraken_permission_names(self) -> list[str]:
        names: list[str] = []
        for scope in Scope:
            if scope in self.permissions:
                names.extend(KRAKEN_PERMISSION_NAMES[scope])
        return names

    def futures_general_access(self) -> FuturesAccessLevel:
        """Futures keys have one coarse level for the General API; any trade scope makes it full access."""
        if self.permissions & _TRADE_SCOPES:
            return "FULL_ACCESS"
        if self.permissions & _READ_SCOPES:
            return "READ_ONLY"
        return "NO_ACCESS"

    def futures_transfer_access(self) -> FuturesAccessLevel:
        """The key check's `transfer` level (the settings page's withdrawal access)."""
        return "FULL_ACCESS" if Scope.WITHDRAW in self.permissions else "NO_ACCESS"
