"""Bybit (v5): a signed wallet read, then the key's own settings instead of guessing.

Requests (both `GET`, both signed with `X-BAPI-*` headers, neither can change the account):

* `/v5/account/wallet-balance?accountType=UNIFIED` — the balance check (ccxt's `fetch_balance` would first
  call `query-api` and `account/info` to find the account type: three requests where one does).
* `/v5/user/query-api` — "Any permission can access this endpoint"
  (https://bybit-exchange.github.io/docs/v5/user/apikey-info): `readOnly` (0 read and write, 1 read only),
  `permissions` (lists per product: `Spot: ["SpotTrade"]`, `Wallet: [..., "Withdraw"]`), `ips` (`["*"]`
  when the key is bound to no address), `deadlineDay` / `expiredAt` — "Only for those api key with no IP
  bound or the password has been changed": the official example of an IP-bound key answers
  `"deadlineDay": -2, "expiredAt": "1970-01-01T00:00:00Z"`, which means no expiry.

Errors are `retCode` in an HTTP 200 body (https://bybit-exchange.github.io/docs/v5/error, "UTA" table,
read 2026-07-24); a few HTTP statuses come without Bybit's envelope (same page, "HTTP Code").

Regional sites: a key lives on the site it was made on (https://bybit-exchange.github.io/docs/v5/guide,
"Authentication": bybit.eu, bybit.id, bybit.nl, ... each with its own API host); ccxt's `bybiteu` and
`bybitid` reach two of them, and every other key is tested on api.bybit.com.
"""

from __future__ import annotations

from datetime import UTC, datetime

from nbsupport.diagnosis import ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError, whole_key_scopes
from nbsupport.venues.wire import RawResponse, Wire

# retCode -> kind, with the doc's words. https://bybit-exchange.github.io/docs/v5/error ("UTA").
# 10008 "Common banned, please check your account mode" and 10024 "Compliance rules triggered" name no cause
# the docs explain: `unknown`, with Bybit's own words as the raw answer.
_CODES: dict[int, ErrorKind] = {
    -2015: ErrorKind.EXPIRED,  # "(Spot) Your api key has expired"
    33004: ErrorKind.EXPIRED,  # "(Derivatives) Your api key has expired"
    10002: ErrorKind.NONCE,  # "The request time exceeds the time window range.": the clock
    10003: ErrorKind.AUTH,  # "API key is invalid. Check whether the key and domain are matched" (4 envs)
    10004: ErrorKind.AUTH,  # "Error sign, please check your signature generation algorithm."
    10007: ErrorKind.AUTH,  # "User authentication failed."
    10005: ErrorKind.DENIED,  # "Permission denied, please check your API key permissions."
    10010: ErrorKind.IP_DENIED,  # "Unmatched IP, please check your API key's bound IP addresses."
    # "Service Restricted: Access is currently unavailable for your region." (was "IP has been banned." until
    # the docs commit of 2026-05-28)
    10009: ErrorKind.REGION,
    10006: ErrorKind.RATE_LIMIT,  # "Too many visits. Exceeded the API Rate Limit."
    10018: ErrorKind.RATE_LIMIT,  # "Exceeded the IP Rate Limit." (struck through on the page, still answered)
    10000: ErrorKind.UNAVAILABLE,  # "Server Timeout"
    10016: ErrorKind.UNAVAILABLE,  # "Server error."
    10008: ErrorKind.OTHER,  # "Common banned, please check your account mode"
    10024: ErrorKind.OTHER,  # "Compliance rules triggered"
}

# HTTP statuses answered without Bybit's JSON envelope. https://bybit-exchange.github.io/docs/v5/error ("HTTP
# Code"): 401 "Need to use the correct key to access"; 403 "1. IP rate limit breached; 2. You send GET request
# with an empty json body; 3. You are using U.S IP". The rate-limit ban has its own words
# (https://bybit-exchange.github.io/docs/v5/rate-limit: "403, access too frequent", lifted after >= 10 min);
# our GETs carry no body; what remains is the address's country (https://bybit-exchange.github.io/docs/v5/guide:
# "IP addresses located in the US or Mainland China are restricted and will return a 403 Forbidden error").
HTTP_STATUSES: dict[int, ErrorKind] = {401: ErrorKind.AUTH, 403: ErrorKind.REGION}
RATE_BAN_WORDS = "access too frequent"

# The API host of each ccxt id this module serves (https://bybit-exchange.github.io/docs/v5/guide).
API_HOSTS: dict[str, str] = {"bybit": "api.bybit.com", "bybiteu": "api.bybit.eu", "bybitid": "api.bybit.id"}
REGIONAL_SITES = "bybit.eu, bybit.id, bybit.nl, bybit.kz, bybit-tr.com, bybit.ae, bybitgeorgia.ge"
# What the same page says about a site's API beyond its host.
SITE_NOTES: dict[str, str] = {
    "bybiteu": "Bybit EU's API serves only API-broker keys (\"Connect to Third-Party Applications\"), per "
               "https://bybit-exchange.github.io/docs/v5/guide",
}

# Permission lists that mean "this key can place orders" on some product; only Spot's decides
# create/cancel (as Binance's spot flag does), the others are shown to support.
_TRADE_PERMISSIONS = {"Spot": "SpotTrade", "ContractTrade": "Order", "Derivatives": "DerivativesTrade",
                      "Options": "OptionsTrade"}
# `ips` entry for "not bound to any address".
_ANY_ADDRESS = "*"
# `expiredAt` of a key that does not expire (IP-bound), with a negative `deadlineDay`.
_NO_EXPIRY = datetime(1970, 1, 2, tzinfo=UTC)


def _names(permissions: dict[str, object], group: str) -> set[str]:
    value = permissions.get(group)
    return {str(v) for v in value} if isinstance(value, list) else set()


def _moment(value: object) -> datetime | None:
    """`2023-05-15T03:21:05Z`; empty or unparseable means the key reports no expiry."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _expiry(result: dict[str, object]) -> datetime | None:
    """The key's expiry, or None: IP-bound keys answer the epoch and a negative `deadlineDay` (no expiry)."""
    deadline = result.get("deadlineDay")
    if isinstance(deadline, int) and deadline < 0:
        return None
    moment = _moment(result.get("expiredAt"))
    return moment if moment is not None and moment >= _NO_EXPIRY else None


def _ips(value: object) -> tuple[list[str] | None, bool | None]:
    if not isinstance(value, list):
        return None, None
    addresses = [str(a).strip() for a in value if str(a).strip()]
    if not addresses or _ANY_ADDRESS in addresses:
        return None, False
    return addresses, True


def parse_query_api(result: dict[str, object]) -> KeyInfo:
    """`result` of `/v5/user/query-api` -> KeyInfo. Never copies `apiKey` (the key itself) or `secret`."""
    permissions = result.get("permissions")
    permissions = permissions if isinstance(permissions, dict) else {}
    read_only = result.get("readOnly")
    if read_only is None:
        trading = ScopeState.UNKNOWN
    elif str(read_only) == "1":
        trading = ScopeState.MISSING
    else:
        trading = ScopeState.GRANTED if "SpotTrade" in _names(permissions, "Spot") else ScopeState.MISSING
    # Every Bybit key can read; a read-only key is exactly that.
    reading = ScopeState.GRANTED if read_only is not None else ScopeState.UNKNOWN
    withdraw = ScopeState.GRANTED if "Withdraw" in _names(permissions, "Wallet") else ScopeState.MISSING
    allowlist, restricted = _ips(result.get("ips"))
    expires = _expiry(result)
    summary: dict[str, object] = {
        "key_name": str(result.get("note") or "")[:100],
        "read_only": str(read_only) == "1" if read_only is not None else None,
        "trade_products": sorted(group for group, name in _TRADE_PERMISSIONS.items()
                                 if name in _names(permissions, group)),
        "permissions": sorted(f"{group}:{name}" for group in permissions
                              for name in _names(permissions, group)),
    }
    deadline = result.get("deadlineDay")
    if expires is not None and isinstance(deadline, int) and deadline > 0:
        summary["days_left"] = deadline
    return KeyInfo(
        scopes=whole_key_scopes(reading, trading, withdraw),
        ip_allowlist=allowlist,
        ip_restricted=restricted,
        expires_at=expires,
        summary=summary,
    )


def bybit_error(raw: RawResponse) -> VenueError | None:
    body, status = raw.json(), raw.status
    if not isinstance(body, dict):
        kind = HTTP_STATUSES.get(status)
        if kind is None:
            return None
        if status == 403 and RATE_BAN_WORDS in raw.text.lower():
            return VenueError(ErrorKind.LOCKOUT, "HTTP 403 access too frequent (banned >= 10 min)", 403)
        return VenueError(kind, raw.describe(), status)
    if "retCode" not in body:
        # JSON, but not Bybit's envelope (ccxt raises on a missing retCode): not the venue's format.
        return VenueError(ErrorKind.GARBAGE, f"unexpected JSON answer (HTTP {status})", status)
    try:
        code = int(body["retCode"])
    except (TypeError, ValueError):
        return VenueError(ErrorKind.GARBAGE, f"unexpected retCode (HTTP {status})", status)
    if code == 0:
        return None
    message = str(body.get("retMsg", ""))[:120]
    return VenueError(_CODES.get(code, ErrorKind.OTHER), f"{code} {message}".strip(), status)


class Bybit(Venue):
    # Bybit answers an address outside the key's binding with its own code (10010).
    address_error_is_distinct = True

    def __init__(self, exchange_id: str = "bybit") -> None:
        self.exchange_id = exchange_id
        self.api_host = API_HOSTS[exchange_id]

    def balance(self, wire: Wire) -> None:
        response = wire.json(wire.client.private_get_v5_account_wallet_balance, {"accountType": "UNIFIED"})
        result = response.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("list"), list):
            raise wire.fail(ErrorKind.GARBAGE, "wallet-balance answered without a list")

    def key_info(self, wire: Wire) -> KeyInfo:
        response = wire.json(wire.client.private_get_v5_user_query_api)
        result = response.get("result")
        if not isinstance(result, dict) or "readOnly" not in result:
            raise wire.fail(ErrorKind.GARBAGE, "query-api answered without the key's settings")
        info = parse_query_api(result)
        info.summary["api_host"] = self.api_host
        if self.exchange_id in SITE_NOTES:
            info.notes.append(SITE_NOTES[self.exchange_id])
        return info

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        return bybit_error(raw)

    def refusal_hint(self, error: VenueError, secret: str) -> str | None:
        if not error.code.startswith("10003"):
            return None
        return (f"Bybit answers 10003 for a key of another environment (testnet, demo trading) or another "
                f"Bybit site ({REGIONAL_SITES}); this key was tested on {self.api_host}")

    def withdraw_note(self) -> str:
        return "withdraw permission could not be read from Bybit's key settings"
