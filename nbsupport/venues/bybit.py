"""Bybit (v5): a signed wallet read, then the key's own settings instead of guessing.

Requests (both `GET`, both signed with `X-BAPI-*` headers, neither can change the account):

* `/v5/account/wallet-balance?accountType=UNIFIED` — the balance check (ccxt's `fetch_balance` would first
  call `query-api` and `account/info` to find the account type: three requests where one does).
* `/v5/user/query-api` — "any permission can access this endpoint": `readOnly` (0 read and write,
  1 read only), `permissions` (lists per product: `Spot: ["SpotTrade"]`, `Wallet: [..., "Withdraw"]`),
  `ips` (`["*"]` when the key is bound to no address), `expiredAt` / `deadlineDay` (only for keys
  without an IP binding).

Errors are `retCode` in an HTTP 200 body; the codes below are ccxt's `bybit.exceptions['exact']`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nbsupport.diagnosis import ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError, whole_key_scopes
from nbsupport.venues.wire import RawResponse, Wire

_CODES: dict[int, ErrorKind] = {
    10002: ErrorKind.NONCE,  # request expired: timestamp outside recv_window, i.e. the clock
    10003: ErrorKind.AUTH,  # invalid api key (or a testnet/demo key on mainnet)
    10004: ErrorKind.AUTH,  # signature wrong
    10007: ErrorKind.AUTH,  # api key missing from the request
    10005: ErrorKind.DENIED,  # permission denied for this key
    10010: ErrorKind.IP_DENIED,  # request IP does not match the key's binding
    10006: ErrorKind.RATE_LIMIT,
    10018: ErrorKind.RATE_LIMIT,  # per-IP limit
    10009: ErrorKind.LOCKOUT,  # IP banned
    10016: ErrorKind.UNAVAILABLE,  # system error, try again
    33004: ErrorKind.EXPIRED,  # api key expired
}

# Permission lists that mean "this key can place orders" on some product; only Spot's decides
# create/cancel (as Binance's spot flag does), the others are shown to support.
_TRADE_PERMISSIONS = {"Spot": "SpotTrade", "ContractTrade": "Order", "Derivatives": "DerivativesTrade",
                      "Options": "OptionsTrade"}
# `ips` entry for "not bound to any address".
_ANY_ADDRESS = "*"


def _names(permissions: dict[str, Any], group: str) -> set[str]:
    value = permissions.get(group)
    return {str(v) for v in value} if isinstance(value, list) else set()


def _moment(value: Any) -> datetime | None:
    """`2023-05-15T03:21:05Z`; empty or unparseable means the key reports no expiry."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ips(value: Any) -> tuple[list[str] | None, bool | None]:
    if not isinstance(value, list):
        return None, None
    addresses = [str(a).strip() for a in value if str(a).strip()]
    if not addresses or _ANY_ADDRESS in addresses:
        return None, False
    return addresses, True


def parse_query_api(result: dict[str, Any]) -> KeyInfo:
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
    deadline = result.get("deadlineDay")
    summary: dict[str, Any] = {
        "key_name": str(result.get("note") or "")[:100],
        "read_only": str(read_only) == "1" if read_only is not None else None,
        "trade_products": sorted(group for group, name in _TRADE_PERMISSIONS.items()
                                 if name in _names(permissions, group)),
        "permissions": sorted(f"{group}:{name}" for group in permissions
                              for name in _names(permissions, group)),
    }
    if isinstance(deadline, int) and deadline > 0:
        summary["days_left"] = deadline
    return KeyInfo(
        scopes=whole_key_scopes(reading, trading, withdraw),
        ip_allowlist=allowlist,
        ip_restricted=restricted,
        expires_at=_moment(result.get("expiredAt")),
        summary=summary,
    )


def bybit_error(body: Any, status: int) -> VenueError | None:
    if not isinstance(body, dict):
        return None
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
    exchange_id = "bybit"

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
        return parse_query_api(result)

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        return bybit_error(raw.json(), raw.status)

    def withdraw_note(self) -> str:
        return "withdraw permission could not be read from Bybit's key settings"
