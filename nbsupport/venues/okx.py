"""OKX (v5): a signed balance read, then the key's own settings from the account configuration.

Requests (both `GET`, signed with `OK-ACCESS-KEY/-SIGN/-TIMESTAMP/-PASSPHRASE`, neither changes anything):

* `/api/v5/account/balance` — the balance check (ccxt's `fetch_balance` is the same call, but the
  direct call skips ccxt's market loading).
* `/api/v5/account/config` (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-account-configuration)
  — `data[0]`: `perm` (comma list of `read_only`, `trade`, `withdraw`), `ip` (comma list of the addresses
  bound to the key, `""` when none), `label` (the key's name).

OKX reports no expiry for a key, but deletes a key with trade or withdraw permission and no bound address
after 14 days without use (https://www.okx.com/docs-v5/en/#overview-rest-authentication-generating-an-apikey):
such a key gets a warning. Errors are `{"code": "50111", "msg": ...}` with the HTTP status the error table
gives each code (https://www.okx.com/docs-v5/en/#error-code-rest-api-public, "API Class": most are 401,
50119/50120/50121 come with HTTP 200, 50100 with 400).

Sites: a key exists only on the OKX site it was made on: www.okx.com (ccxt `okx`), the EEA site my.okx.com
(`myokx`, API host eea.okx.com) and the US site (`okxus`, us.okx.com). Each key is told which one it was
tested on, and a key unknown to one site is pointed at the others.
"""

from __future__ import annotations

from nbsupport.diagnosis import ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError, whole_key_scopes
from nbsupport.venues.wire import RawResponse, Wire

# code -> kind, with the doc's words and HTTP status. https://www.okx.com/docs-v5/en/#error-code-rest-api-public
_CODES: dict[str, ErrorKind] = {
    "50100": ErrorKind.AUTH,  # 400 "API frozen, please contact customer service."
    "50101": ErrorKind.AUTH,  # 401 "APIKey does not match current environment." (demo vs live)
    "50103": ErrorKind.AUTH,  # 401 'Request header "OK-ACCESS-KEY" cannot be empty.'
    "50104": ErrorKind.AUTH,  # 401 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'
    "50105": ErrorKind.AUTH,  # 401 'Request header "OK-ACCESS-PASSPHRASE" incorrect.'
    "50106": ErrorKind.AUTH,  # 401 'Request header "OK-ACCESS-SIGN" cannot be empty.'
    "50111": ErrorKind.AUTH,  # 401 "Invalid OK-ACCESS-KEY."
    "50113": ErrorKind.AUTH,  # 401 "Invalid signature."
    "50114": ErrorKind.AUTH,  # 401 "Invalid authorization."
    "50119": ErrorKind.AUTH,  # 200 "API key doesn't exist" (also: the key of another OKX site)
    "50102": ErrorKind.NONCE,  # 401 "Timestamp request expired.": the clock
    "50110": ErrorKind.IP_DENIED,  # 401 "Your IP {param0} is not included in your API key's IP whitelist."
    "50030": ErrorKind.DENIED,  # 200 "You don't have permission to use this API endpoint"
    "50120": ErrorKind.DENIED,  # 200 "This API key doesn't have permission to use this function"
    "50121": ErrorKind.REGION,  # 200 "You can't access our services through the IP address ({param0})"
    "50051": ErrorKind.REGION,  # 200 "Due to compliance restrictions in your country or region, you cannot
                                #     use this feature."
    "50011": ErrorKind.RATE_LIMIT,  # 200/429 "Rate limit reached." / "Too Many Requests"
    "50001": ErrorKind.UNAVAILABLE,  # 503 "Service temporarily unavailable. Please try again later."
    "50004": ErrorKind.UNAVAILABLE,  # 400 "API endpoint request timeout."
    "50005": ErrorKind.UNAVAILABLE,  # 410 "API endpoint is inactive or unavailable."
    "50013": ErrorKind.UNAVAILABLE,  # 429 "Systems are busy. Please try again later."
    "50026": ErrorKind.UNAVAILABLE,  # 500 "System error. Try again later"
}

# ccxt id -> (the site users make keys on, the API host ccxt calls).
SITES: dict[str, tuple[str, str]] = {
    "okx": ("www.okx.com", "www.okx.com"),
    "myokx": ("my.okx.com (EEA)", "eea.okx.com"),
    "okxus": ("app.okx.com (US)", "us.okx.com"),
}
# Permissions that make OKX delete a key bound to no address after 14 idle days.
_DELETED_WHEN_IDLE = {"trade", "withdraw"}


def _comma_list(value: object) -> list[str] | None:
    if not isinstance(value, str):
        return None
    return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]


def parse_account_config(config: dict[str, object]) -> KeyInfo:
    perms = _comma_list(config.get("perm"))
    notes: list[str] = []
    if perms is None:
        reading = trading = withdraw = ScopeState.UNKNOWN
    else:
        names = {p.lower() for p in perms}
        # `read_only` is the permission every key starts with; a trade key reads too.
        reading = ScopeState.GRANTED if names & {"read_only", "trade"} else ScopeState.MISSING
        trading = ScopeState.GRANTED if "trade" in names else ScopeState.MISSING
        withdraw = ScopeState.GRANTED if "withdraw" in names else ScopeState.MISSING
    addresses = _comma_list(config.get("ip"))
    if perms is not None and addresses == [] and _DELETED_WHEN_IDLE & {p.lower() for p in perms}:
        notes.append("OKX deletes a key with trade or withdraw permission and no bound IP address after "
                     "14 days without use: bind the platform address to keep it")
    return KeyInfo(
        scopes=whole_key_scopes(reading, trading, withdraw),
        ip_allowlist=addresses or None,
        ip_restricted=bool(addresses) if addresses is not None else None,
        summary={
            "key_name": str(config.get("label") or "")[:100],
            "permissions": sorted(perms or []),
            "account_level": str(config.get("acctLv") or ""),
        },
        notes=notes,
    )


def okx_error(body: object, status: int) -> VenueError | None:
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


def _first(response: dict[str, object]) -> dict[str, object] | None:
    data = response.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0]
    return None


class Okx(Venue):
    # OKX answers an address outside the key's binding with its own code (50110).
    address_error_is_distinct = True

    def __init__(self, exchange_id: str = "okx") -> None:
        self.exchange_id = exchange_id
        self.site, self.api_host = SITES[exchange_id]

    def balance(self, wire: Wire) -> None:
        response = wire.json(wire.client.private_get_account_balance)
        if not isinstance(response.get("data"), list):
            raise wire.fail(ErrorKind.GARBAGE, "account/balance answered without data")

    def key_info(self, wire: Wire) -> KeyInfo:
        config = _first(wire.json(wire.client.private_get_account_config))
        if config is None or "perm" not in config:
            raise wire.fail(ErrorKind.GARBAGE, "account/config answered without the key's permissions")
        info = parse_account_config(config)
        info.summary["site"] = self.site
        return info

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        return okx_error(raw.json(), raw.status)

    def refusal_hint(self, error: VenueError, secret: str) -> str | None:
        code = error.code.split(" ", 1)[0]
        if code == "50100":
            return "OKX froze this API key: only OKX support can lift it (or the customer makes a new key)"
        if code in ("50119", "50111"):
            others = ", ".join(f"{site} (save it as {exchange_id})"
                               for exchange_id, (site, _) in SITES.items() if exchange_id != self.exchange_id)
            return (f"a key exists only on the OKX site it was made on; this one was tested on {self.site}: "
                    f"if it was made on {others}, store it under that exchange")
        return None

    def withdraw_note(self) -> str:
        return "withdraw permission could not be read from OKX's account configuration"
