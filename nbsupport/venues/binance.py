"""Binance spot: a signed account read, then the key's API restrictions instead of guessing.

Requests: `GET /api/v3/account` (the balance check; weight 20) and `GET /sapi/v1/account/apiRestrictions`
(weight 1; https://developers.binance.com/docs/wallet/account/api-key-permission): `ipRestrict`,
`enableReading`, `enableSpotAndMarginTrading`, `enableWithdrawals`, and `tradingAuthorityExpirationTime`
("Expiration time for spot and margin trading permission": on a key bound to no address Binance lifts Spot &
Margin Trading 30 days after it was granted; a key with an IP restriction keeps it).

`-2015 REJECTED_MBX_KEY "Invalid API-key, IP, or permissions for action."` is one message for three causes
(https://github.com/binance/binance-spot-api-docs/blob/master/errors.md). The restrictions call is signed and
checked like any other, so when it answers the key is valid and the address allowed: what is left of a -2015
is a permission, which the restrictions either show missing or, when they grant everything, leave
unexplained (`unknown`, with Binance's answer). A -2015 on both calls leaves all three causes open.
"""

from __future__ import annotations

from datetime import UTC, datetime

from nbsupport.diagnosis import ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError, whole_key_scopes
from nbsupport.venues.wire import RawResponse, Wire

# code -> kind, with the doc's name. https://github.com/binance/binance-spot-api-docs/blob/master/errors.md
_CODES: dict[int, ErrorKind] = {
    -2015: ErrorKind.AMBIGUOUS_AUTH,  # REJECTED_MBX_KEY "Invalid API-key, IP, or permissions for action."
    -2014: ErrorKind.AUTH,  # BAD_API_KEY_FMT "API-key format invalid."
    -2008: ErrorKind.AUTH,  # "Invalid Api-Key ID." (sapi)
    -1022: ErrorKind.AUTH,  # INVALID_SIGNATURE "Signature for this request is not valid."
    -1002: ErrorKind.DENIED,  # UNAUTHORIZED "You are not authorized to execute this request."
    -1021: ErrorKind.NONCE,  # INVALID_TIMESTAMP "Timestamp for this request is outside of the recvWindow."
    -1003: ErrorKind.RATE_LIMIT,  # TOO_MANY_REQUESTS
    -1015: ErrorKind.RATE_LIMIT,  # TOO_MANY_ORDERS
    -1000: ErrorKind.UNAVAILABLE,  # UNKNOWN "An unknown error occurred while processing the request."
    -1001: ErrorKind.UNAVAILABLE,  # DISCONNECTED "Internal error; unable to process your request."
    -1006: ErrorKind.UNAVAILABLE,  # UNEXPECTED_RESP
    -1007: ErrorKind.UNAVAILABLE,  # TIMEOUT
    -1008: ErrorKind.UNAVAILABLE,  # SERVER_BUSY
    -1013: ErrorKind.ORDER_REJECTED,  # INVALID_MESSAGE (an order filter)
    -2010: ErrorKind.ORDER_REJECTED,  # NEW_ORDER_REJECTED
    -2011: ErrorKind.ORDER_REJECTED,  # CANCEL_REJECTED
}

# HTTP statuses, https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#http-return-codes:
# 418 "an IP has been auto-banned for continuing to send requests after receiving 429 codes"; 403 "a WAF (Web
# Application Firewall) rule has been violated. This can indicate a rate limit violation or a security block":
# two causes the answer does not tell apart, so `unknown` with that reading (not an outage).
HTTP_STATUSES: dict[int, tuple[ErrorKind, str]] = {
    418: (ErrorKind.LOCKOUT, "HTTP 418 (address banned after repeated 429s)"),
    403: (ErrorKind.OTHER, "HTTP 403 WAF block (a rate limit violation or a security block)"),
}


def _flag(value: object) -> ScopeState:
    if value is None:
        return ScopeState.UNKNOWN
    return ScopeState.GRANTED if bool(value) else ScopeState.MISSING


def _millis(value: object) -> datetime | None:
    """`tradingAuthorityExpirationTime` in ms; absent or 0 means the permission does not lapse."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def parse_api_restrictions(body: dict[str, object]) -> KeyInfo:
    reading = _flag(body.get("enableReading"))
    trading = _flag(body.get("enableSpotAndMarginTrading"))
    scopes = whole_key_scopes(reading, trading, _flag(body.get("enableWithdrawals")))
    ip_restrict = body.get("ipRestrict")
    lapses = _millis(body.get("tradingAuthorityExpirationTime"))
    return KeyInfo(
        scopes=scopes,
        ip_restricted=bool(ip_restrict) if ip_restrict is not None else None,
        trading_expires_at=lapses if trading is ScopeState.GRANTED else None,
        summary={k: body[k] for k in ("enableFutures", "enableMargin", "enableInternalTransfer",
                                      "permitsUniversalTransfer") if k in body},
    )


def binance_error(raw_body: object, status: int) -> VenueError | None:
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
        reading = binance_error(raw.json(), raw.status)
        if reading is None and raw.status in HTTP_STATUSES:
            kind, code = HTTP_STATUSES[raw.status]
            return VenueError(kind, code, raw.status)
        return reading
