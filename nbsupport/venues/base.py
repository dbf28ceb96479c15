"""What every venue module provides to the connection test: its requests and its error vocabulary.

A venue module never decides the diagnosis; it reads one response into an `ErrorKind` (what the venue
said) and leaves the verdict across probes to `nbsupport.conntest.classify`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from nbsupport.diagnosis import Scope, ScopeState

if TYPE_CHECKING:
    import ccxt

    from nbsupport.venues.wire import RawResponse, Wire


class ErrorKind(StrEnum):
    """What one failed request says, before looking at the other probes."""

    AUTH = "auth"  # key unknown or signature wrong
    DENIED = "denied"  # permission denied: a missing scope, or (Kraken) an IP outside the allowlist
    AMBIGUOUS_AUTH = "ambiguous_auth"  # one message for key, IP and permission (Binance -2015)
    IP_DENIED = "ip_denied"  # the venue says outright that the address is not allowed
    EXPIRED = "expired"
    OTP = "otp"
    NONCE = "nonce"
    RATE_LIMIT = "rate_limit"
    LOCKOUT = "lockout"
    UNAVAILABLE = "unavailable"  # EService errors, 5xx, HTML error pages, maintenance
    REGION = "region"  # HTTP 451 and geo-block pages
    NETWORK = "network"  # refused, reset, DNS, dropped mid-response
    TIMEOUT = "timeout"
    PROXY = "proxy"  # our own egress proxy failed or refused us
    GARBAGE = "garbage"  # a response that is not the venue's format
    NOT_SUPPORTED = "not_supported"  # the endpoint does not exist (key info disabled or absent)
    ORDER_REJECTED = "order_rejected"  # the order/cancel was refused for its content: the scope passed
    OTHER = "other"


# Kinds after which no further request for this key may help: a transient venue or network state.
TERMINAL_KINDS = frozenset(
    {ErrorKind.RATE_LIMIT, ErrorKind.LOCKOUT, ErrorKind.UNAVAILABLE, ErrorKind.REGION, ErrorKind.NETWORK,
     ErrorKind.TIMEOUT, ErrorKind.PROXY, ErrorKind.NONCE, ErrorKind.OTP, ErrorKind.EXPIRED,
     ErrorKind.GARBAGE}
)


# Who produced a failure's text: the venue's own answer, or our side (egress proxy, client timeout, network).
ErrorSource = Literal["venue", "console"]


@dataclass(frozen=True)
class VenueError:
    kind: ErrorKind
    # The raw venue code, already scrubbed: `EAPI:Invalid key`, `authenticationError`, `HTTP 502`, `timeout`.
    code: str
    status: int | None = None
    # "console" when no venue answer carried the code: only "venue" codes may be quoted as the venue's words.
    source: ErrorSource = "venue"


class ProbeFailed(Exception):
    """One request failed; carries only the scrubbed reading, never the ccxt message (which holds URLs)."""

    def __init__(self, error: VenueError) -> None:
        super().__init__(f"{error.kind}: {error.code}")
        self.error = error


@dataclass
class KeyInfo:
    """A key's own settings as the venue reports them; None means the venue did not say."""

    scopes: dict[Scope, ScopeState] = field(default_factory=dict)
    ip_allowlist: list[str] | None = None
    ip_restricted: bool | None = None
    expires_at: datetime | None = None
    query_from: datetime | None = None
    query_to: datetime | None = None
    nonce_window: int | None = None
    # When the trading permission lapses on its own while the key stays valid (Binance lifts Spot & Margin
    # Trading 30 days after it was granted on a key bound to no address).
    trading_expires_at: datetime | None = None
    # What the venue's docs say about this key's settings that support should know (one sentence each).
    notes: list[str] = field(default_factory=list)
    # Non-secret extras worth showing support (key name, access levels); never the key or an IBAN.
    summary: dict[str, object] = field(default_factory=dict)


def whole_key_scopes(
    reading: ScopeState, trading: ScopeState, withdraw: ScopeState
) -> dict[Scope, ScopeState]:
    """The scopes of a venue whose key settings grant reading and trading as a whole, not per endpoint."""
    return {
        Scope.QUERY_FUNDS: reading,
        Scope.QUERY_OPEN_ORDERS: reading,
        Scope.QUERY_CLOSED_ORDERS: reading,
        Scope.CREATE_ORDERS: trading,
        Scope.CANCEL_ORDERS: trading,
        Scope.WITHDRAW: withdraw,
    }


class Venue(ABC):
    """One venue family. Stateless: the same instance serves every thread."""

    exchange_id: str
    sibling: str | None = None
    # True when the venue answers a bad key, a blocked address and a missing access level alike.
    auth_is_ambiguous: bool = False
    # Scopes `probe()` can check one request each, in the order they are probed.
    probe_scopes: tuple[Scope, ...] = ()
    # Scopes the venue cannot tell apart from another one: create_orders on Kraken Futures is implied by
    # the same access level as cancel_orders, so it is reported from the cancel probe.
    implied_scopes: dict[Scope, Scope] = {}  # noqa: RUF012 (class-level constant, never mutated)
    # Conclusions the runner may draw from a pattern of refusals, each declared only by a venue whose docs
    # support it (off by default: a venue that says nothing gets no inference).
    # The venue refuses an address outside the key's allowlist with the same permission error as a missing
    # scope, and its key-settings call needs no permission: that call refused too (or every scope probe
    # refused) means the address. Kraken spot.
    denied_may_be_address: bool = False
    # The venue has its own answer for an address outside the allowlist (Bybit 10010, OKX 50110), so a
    # refused key is never blamed on the address because of the whitelist the user gave us.
    address_error_is_distinct: bool = False

    def check_secret(self, secret: str) -> str | None:
        """A reason the secret cannot be right for this venue, decided offline; None when it may be."""
        return None

    def configure(self, client: ccxt.Exchange) -> None:  # noqa: B027 (an optional hook)
        """Adjust a fresh client before its URLs are rewritten (extra endpoints, nonce source)."""

    @abstractmethod
    def balance(self, wire: Wire) -> None:
        """One read-only balance request; raises ProbeFailed."""

    def key_info(self, wire: Wire) -> KeyInfo | None:
        """The key's own settings in one request, or None when the venue has no such call."""
        return None

    def probe(self, wire: Wire, scope: Scope) -> ScopeState:
        """One request that cannot change state; GRANTED/MISSING, or raises ProbeFailed for anything else."""
        return ScopeState.UNKNOWN

    @staticmethod
    def run_probe(
        wire: Wire,
        method: Callable[[Mapping[str, object]], object],
        params: Mapping[str, object],
        denied: ErrorKind,
    ) -> ScopeState:
        """Send one probe: `denied` means the scope is missing, a rejected (impossible) order that it is
        granted; any other failure propagates."""
        try:
            wire.json(method, params)
        except ProbeFailed as failed:
            if failed.error.kind is denied:
                return ScopeState.MISSING
            if failed.error.kind is ErrorKind.ORDER_REJECTED:
                return ScopeState.GRANTED
            raise
        return ScopeState.GRANTED

    @abstractmethod
    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        """The venue's own vocabulary for a failed response; None to fall back to the HTTP-level reading."""

    def withdraw_note(self) -> str:
        """What to say when withdraw could not be checked."""
        return "withdraw permission could not be checked on this venue"

    def refusal_hint(self, error: VenueError, secret: str) -> str | None:
        """What the venue's docs add when it refused the credentials (a key of another regional site, a key
        type the venue does not accept); None when they add nothing."""
        return None
