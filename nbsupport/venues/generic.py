"""Every other ccxt venue: ccxt's unified `fetch_balance`, read by exception class and raw body.

Cost: one signed balance request, plus whatever public requests the venue's `fetch_balance` needs first
(many load markets; those are unsigned and do not touch the key's budget). Scopes beyond query_funds are
reported `unknown`: a balance that works is not proof the key can trade.
"""

from __future__ import annotations

import re

import ccxt

from nbsupport.venues.base import ErrorKind, Venue, VenueError
from nbsupport.venues.wire import RawResponse, Wire

_IP_WORDS = re.compile(r"\bip\b|ip address|whitelist|allowlist|not in the (white|allow) ?list", re.IGNORECASE)
_EXPIRED_WORDS = re.compile(r"\bexpired?\b", re.IGNORECASE)
_OTP_WORDS = re.compile(r"\botp\b|2fa|two[- ]factor", re.IGNORECASE)
_REGION_WORDS = re.compile(r"restricted (location|jurisdiction|region|country)|not available in your (region|"
                           r"country)", re.IGNORECASE)

# (ccxt class, kind): checked in order, the first match wins; subclasses come before their parents.
_CLASSES: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (ccxt.InvalidNonce, ErrorKind.NONCE),
    (ccxt.RateLimitExceeded, ErrorKind.RATE_LIMIT),
    (ccxt.DDoSProtection, ErrorKind.RATE_LIMIT),
    (ccxt.OnMaintenance, ErrorKind.UNAVAILABLE),
    (ccxt.ExchangeNotAvailable, ErrorKind.UNAVAILABLE),
    (ccxt.PermissionDenied, ErrorKind.DENIED),
    (ccxt.AccountSuspended, ErrorKind.OTHER),
    (ccxt.AuthenticationError, ErrorKind.AUTH),
    (ccxt.InvalidOrder, ErrorKind.ORDER_REJECTED),
)


def venue_message(body: object) -> str:
    """`code message` from the common JSON error shapes (`code/msg`, `retCode/retMsg`, `error`...)."""
    if not isinstance(body, dict):
        return ""
    code = next((body[k] for k in ("code", "retCode", "error_code", "status") if k in body), "")
    message = next((body[k] for k in ("msg", "message", "retMsg", "error", "error_message") if k in body), "")
    if isinstance(message, dict | list):
        message = str(message)
    if str(code) in ("0", "200", "", "None", "ok", "success") and not message:
        return ""
    return f"{code} {message}".strip()


def generic_kind(exc: BaseException, message: str) -> ErrorKind:
    kind = next((k for cls, k in _CLASSES if isinstance(exc, cls)), ErrorKind.OTHER)
    if kind in (ErrorKind.AUTH, ErrorKind.DENIED, ErrorKind.OTHER):
        if _REGION_WORDS.search(message):
            return ErrorKind.REGION
        if _IP_WORDS.search(message):
            return ErrorKind.IP_DENIED
        if _EXPIRED_WORDS.search(message):
            return ErrorKind.EXPIRED
        if _OTP_WORDS.search(message):
            return ErrorKind.OTP
    return kind


class Generic(Venue):
    def __init__(self, exchange_id: str) -> None:
        self.exchange_id = exchange_id

    def balance(self, wire: Wire) -> None:
        wire.json(wire.client.fetch_balance)

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        message = venue_message(raw.json())
        kind = generic_kind(exc, message)
        if kind is ErrorKind.OTHER and not message:
            return None
        return VenueError(kind, message or type(exc).__name__, raw.status)
