"""OKX (v5): a signed balance read, then the key's own settings from the account configuration.

Requests (both `GET`, signed with `OK-ACCESS-KEY/-SIGN/-TIMESTAMP/-PASSPHRASE`, neither changes anything):

* `/api/v5/account/balance` — the balance check (ccxt's `fetch_balance` is the same call, but the
  direct call skips ccxt's market loading).
* `/api/v5/account/config` — `data[0]`: `perm` (comma list of `read_only`, `trade`, `withdraw`), `ip`
  (comma list of the addresses bound to the key, empty when none), `label` (the key's name).

OKX reports no expiry for a key. Errors are `{"code": "50111", "msg": ...}`, usually with HTTP 401/429;
the codes are those of ccxt's `okx.exceptions['exact']`, plus 50119/50120 seen in OKX answers.
"""

from __future__ import annotations

from typing import Any

from nbsupport.diagnosis import ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError, whole_key_scopes
from nbsupport.venues.wire import RawResponse, Wire

_CODES: dict[str, ErrorKind] = {
    "50101": ErrorKind.AUTH,  # the key belongs to the other environment (demo vs live)
    "50103": ErrorKind.AUTH,  # OK-ACCESS-KEY header empty
    "50104": ErrorKind.AUTH,  # OK-ACCESS-PASSPHRASE header empty
    "50105": ErrorKind.AUTH,  # OK-ACCESS-PASSPHRASE incorrect
    "50106": ErrorKind.AUTH,  # OK-ACCESS-SIGN empty
    "50111": ErrorKind.AUTH,  # invalid OK-ACCESS-KEY
    "50113": ErrorKind.AUTH,  # invalid signature
    "50114": ErrorKind.AUTH,  # invalid authorization
    "50119": ErrorKind.AUTH,  # API key doesn't exist (wrong key, or the key of another OKX site)
    "50102": ErrorKind.NONCE,  # timestamp request expired: the clock
    "50110": ErrorKind.IP_DENIED,  # your IP is not in the key's bound IP list
    "50120": ErrorKind.DENIED,  # API key doesn't have permission
    "50011": ErrorKind.RATE_LIMIT,  # request too frequent (HTTP 429)
    "50001": ErrorKind.UNAVAILABLE,  # matching engine upgrading
    "50004": ErrorKind.UNAVAILABLE,  # endpoint request timeout
    "50005": ErrorKind.UNAVAILABLE,  # API offline or unavailable
    "50013": ErrorKind.UNAVAILABLE,  # system busy
    "50026": ErrorKind.UNAVAILABLE,  # system error
}


def _comma_list(value: Any) -> list[str] | None:
    if not isinstance(value, str):
        return None
    return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]


def parse_account_config(config: dict[str, Any]) -> KeyInfo:
    perms = _comma_list(config.get("perm"))
    if perms is None:
        reading = trading = withdraw = ScopeState.UNKNOWN
    else:
        names = {p.lower() for p in perms}
        # `read_only` is the permission every key starts with; a trade key reads too.
        reading = ScopeState.GRANTED if names & {"read_only", "trade"} else ScopeState.MISSING
        trading = ScopeState.GRANTED if "trade" in names else ScopeState.MISSING
        withdraw = ScopeState.GRANTED if "withdraw" in names else ScopeState.MISSING
    addresses = _comma_list(config.get("ip"))
    return KeyInfo(
        scopes=whole_key_scopes(reading, trading, withdraw),
        ip_allowlist=addresses or None,
        ip_restricted=bool(addresses) if addresses is not None else None,
        summary={
            "key_name": str(config.get("label") or "")[:100],
            "permissions": sorted(perms or []),
            "account_level": str(config.get("acctLv") or ""),
        },
    )


def okx_error(body: Any, status: int) -> VenueError | None:
    if not isinstance(body, dict):
        return None
    if "code" not in body:
        # JSON, but not OKX's envelope (ccxt raises on a missing code): not the venue's format.
        return VenueError(ErrorKind.GARBAGE, f"unexpected JSON answer (HTTP {status})", status)
    code = str(body["code"]).strip()
    if code == "0":
        return None
    message = str(body.get("msg", ""))[:120]
    return VenueError(_CODES.get(code, ErrorKind.OTHER), f"{code} {message}".strip(), status)


def _first(response: dict[str, Any]) -> dict[str, Any] | None:
    data = response.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0]
    return None


class Okx(Venue):
    exchange_id = "okx"

    def balance(self, wire: Wire) -> None:
        response = wire.json(wire.client.private_get_account_balance)
        if not isinstance(response.get("data"), list):
            raise wire.fail(ErrorKind.GARBAGE, "account/balance answered without data")

    def key_info(self, wire: Wire) -> KeyInfo:
        config = _first(wire.json(wire.client.private_get_account_config))
        if config is None or "perm" not in config:
            raise wire.fail(ErrorKind.GARBAGE, "account/config answered without the key's permissions")
        return parse_account_config(config)

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        return okx_error(raw.json(), raw.status)

    def withdraw_note(self) -> str:
        return "withdraw permission could not be read from OKX's account configuration"
