"""Binance spot: a signed account read, then the key's API restrictions instead of guessing.

Requests: `GET /api/v3/account` (the balance check; weight 20) and
`GET /sapi/v1/account/apiRestrictions` (weight 1; works for any valid key from an allowed address):
`enableReading`, `enableSpotAndMarginTrading`, `enableWithdrawals`, `ipRestrict`.

`-2015 Invalid API-key, IP, or permissions for action` is one message for three causes; the
restrictions call tells them apart (see `nbsupport.conntest.classify`).
"""

from __future__ import annotations

from typing import Any

from nbsupport.diagnosis import ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError, whole_key_scopes
from nbsupport.venues.wire import RawResponse, Wire

_CODES: dict[int, ErrorKind] = {
    -2015: ErrorKind.AMBIGUOUS_AUTH,
    -2014: ErrorKind.AUTH,  # API-key format invalid
    -2008: ErrorKind.AUTH,  # invalid API-key id
    -1022: ErrorKind.AUTH,  # signature not valid
    -1002: ErrorKind.DENIED,  # not authorized to execute this request
    -1021: ErrorKind.NONCE,  # timestamp outside recvWindow: the clock, Binance's nonce
    -1003: ErrorKind.RATE_LIMIT,
    -1015: ErrorKind.RATE_LIMIT,
    -1000: ErrorKind.UNAVAILABLE,
    -1001: ErrorKind.UNAVAILABLE,
    -1006: ErrorKind.UNAVAILABLE,
    -1007: ErrorKind.UNAVAILABLE,
    -1008: ErrorKind.UNAVAILABLE,
    -1013: ErrorKind.ORDER_REJECTED,
    -2010: ErrorKind.ORDER_REJECTED,
    -2011: ErrorKind.ORDER_REJECTED,
}


def _flag(value: Any) -> ScopeState:
    if value is None:
        return ScopeState.UNKNOWN
    return ScopeState.GRANTED if bool(value) else ScopeState.MISSING


def parse_api_restrictions(body: dict[str, Any]) -> KeyInfo:
    reading = _flag(body.get("enableReading"))
    trading = _flag(body.get("enableSpotAndMarginTrading"))
    scopes = whole_key_scopes(reading, trading, _flag(body.get("enableWithdrawals")))
    ip_restrict = body.get("ipRestrict")
    return KeyInfo(
        scopes=scopes,
        ip_restricted=bool(ip_restrict) if ip_restrict is not None else None,
        summary={k: body[k] for k in ("enableFutures", "enableMargin", "enableInternalTransfer",
                                      "permitsUniversalTransfer") if k in body},
    )


def binance_error(raw_body: Any, status: int) -> VenueError | None:
    if not isinstance(raw_body, dict) or "code" not in raw_body:
        return None
    try:
        code = int(raw_body["code"])
    except (TypeError, ValueError):
        return None
    if code in (0, 200):
        return None
    message = str(raw_body.get("msg", ""))[:120]
    kind = _CODES.get(code, ErrorKind.OTHER)
    if status == 418:
        kind = ErrorKind.LOCKOUT
    return VenueError(kind, f"{code} {message}".strip(), status)


class Binance(Venue):
    def __init__(self, exchange_id: str = "binance") -> None:
        self.exchange_id = exchange_id

    def balance(self, wire: Wire) -> None:
        response = wire.json(wire.client.private_get_account)
        if "balances" not in response:
            raise wire.fail(ErrorKind.GARBAGE, "account answered without balances")

    def key_info(self, wire: Wire) -> KeyInfo:
        return parse_api_restrictions(wire.json(wire.client.sapi_get_account_apirestrictions))

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        if raw.status == 418:
            return VenueError(ErrorKind.LOCKOUT, "HTTP 418 (address banned after repeated 429s)", 418)
        return binance_error(raw.json(), raw.status)
