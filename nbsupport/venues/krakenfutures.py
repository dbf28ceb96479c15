"""Kraken Futures: another host, another signature (`Authent`), and coarse key access levels.

Requests (one round trip each, none can change the account):

* `GET /derivatives/api/v3/accounts` — the balance check (General API: read-only or better).
* `GET /api/auth/v1/api-keys/v3/check` — the key check: General API and Withdrawal API access levels,
  allowed CIDR blocks. ccxt has no method for it, so `configure()` adds the auth service as an extra ccxt
  API (`auth`) that ccxt signs like the history service; URL rewriting covers it like every other URL.
* Fallback probes when the check is unavailable: `openorders` (query_open_orders), `fills`
  (query_closed_orders), `cancelorder` of an order id that cannot exist (cancel_orders: answered
  `cancelStatus: notFound` when the key may trade). Futures grants create and cancel together (Full
  Access), so create_orders is reported from the cancel probe; withdraw cannot be probed without a
  withdrawal request and stays `unknown`.

Kraken Futures refuses a bad key, a bad signature, an address outside the allowlist, an expired key and a
missing access level all with `authenticationError`; the runner tells them apart by the pattern (key check,
sibling product, the key's stored allowlist).
"""

from __future__ import annotations

from typing import Any

import ccxt

from nbsupport.diagnosis import Scope, ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError
from nbsupport.venues.kraken import kraken_secret_problem
from nbsupport.venues.wire import RawResponse, Wire

KEY_CHECK_PATH = "api-keys/v3/check"
AUTH_API_URL = "https://futures.kraken.com/api/auth/"
IMPOSSIBLE_ORDER_ID = "00000000-0000-4000-8000-00000000dead"

_ERRORS: dict[str, ErrorKind] = {
    "authenticationError": ErrorKind.AUTH,
    "apiLimitExceeded": ErrorKind.RATE_LIMIT,
    "nonceBelowThreshold": ErrorKind.NONCE,
    "nonceDuplicate": ErrorKind.NONCE,
    "unavailable": ErrorKind.UNAVAILABLE,
    "Unavailable": ErrorKind.UNAVAILABLE,
    "Server Error": ErrorKind.UNAVAILABLE,
    "notFound": ErrorKind.NOT_SUPPORTED,
    "invalidArgument": ErrorKind.ORDER_REJECTED,
    "requiredArgumentMissing": ErrorKind.ORDER_REJECTED,
}

_GENERAL_SCOPES: dict[str, tuple[Scope, ...]] = {
    "no-access": (),
    "read-only": (Scope.QUERY_FUNDS, Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS),
    "full-access": (Scope.QUERY_FUNDS, Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS,
                    Scope.CREATE_ORDERS, Scope.CANCEL_ORDERS),
}


def _level(value: Any) -> str:
    return str(value or "").strip().lower().replace("_", "-").replace(" ", "-")


def parse_key_check(body: dict[str, Any]) -> KeyInfo:
    permissions = body.get("permissions") if isinstance(body.get("permissions"), dict) else {}
    general, withdrawal = _level(permissions.get("general")), _level(permissions.get("withdrawal"))
    scopes = {scope: ScopeState.MISSING for scope in Scope}
    if general not in _GENERAL_SCOPES:
        scopes = {scope: ScopeState.UNKNOWN for scope in Scope}
    for scope in _GENERAL_SCOPES.get(general, ()):
        scopes[scope] = ScopeState.GRANTED
    if withdrawal:
        scopes[Scope.WITHDRAW] = ScopeState.GRANTED if withdrawal == "full-access" else ScopeState.MISSING
    blocks = body.get("allowedCidrBlocks")
    if not isinstance(blocks, list):
        single = body.get("allowedCidrBlock")
        blocks = [single] if single else ([] if "allowedCidrBlock" in body else None)
    return KeyInfo(
        scopes=scopes,
        ip_allowlist=[str(b) for b in blocks] if blocks is not None else None,
        ip_restricted=bool(blocks) if blocks is not None else None,
        summary={"general_access": general or "unknown", "withdrawal_access": withdrawal or "unknown"},
    )


class KrakenFutures(Venue):
    exchange_id = "krakenfutures"
    sibling = "kraken"
    auth_is_ambiguous = True
    probe_scopes = (Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS, Scope.CANCEL_ORDERS)
    implied_scopes = {Scope.CREATE_ORDERS: Scope.CANCEL_ORDERS}  # noqa: RUF012

    def check_secret(self, secret: str) -> str | None:
        # Futures private keys are base64 of 64 bytes too, and ccxt base64-decodes them to sign.
        problem = kraken_secret_problem(secret)
        return problem.replace("Kraken private keys", "Kraken Futures private keys") if problem else None

    def configure(self, client: ccxt.Exchange) -> None:
        client.urls["api"]["auth"] = AUTH_API_URL
        client.options.setdefault("access", {})["auth"] = {"GET": {KEY_CHECK_PATH: "private"}}
        client.options.setdefault("versions", {})["auth"] = {"GET": {KEY_CHECK_PATH: "v1"}}

    def balance(self, wire: Wire) -> None:
        response = wire.json(wire.client.private_get_accounts)
        if not isinstance(response.get("accounts"), dict):
            raise wire.fail(ErrorKind.GARBAGE, "accounts answered without accounts")

    def key_info(self, wire: Wire) -> KeyInfo:
        body = wire.json(wire.client.request, KEY_CHECK_PATH, ["auth"], "GET")
        if "permissions" not in body:
            raise wire.fail(ErrorKind.GARBAGE, "key check answered without permissions")
        return parse_key_check(body)

    def probe(self, wire: Wire, scope: Scope) -> ScopeState:
        client = wire.client
        calls = {
            Scope.QUERY_OPEN_ORDERS: (client.private_get_openorders, {}),
            Scope.QUERY_CLOSED_ORDERS: (client.private_get_fills, {}),
            Scope.CANCEL_ORDERS: (client.private_post_cancelorder, {"order_id": IMPOSSIBLE_ORDER_ID}),
        }
        if scope not in calls:
            return ScopeState.UNKNOWN
        method, params = calls[scope]
        # The balance call already authenticated this key: a refusal now is the missing access level.
        return self.run_probe(wire, method, params, denied=ErrorKind.AUTH)

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        body = raw.json()
        if not isinstance(body, dict):
            return None
        error = body.get("error")
        if error is None and isinstance(body.get("errors"), list) and body["errors"]:
            first = body["errors"][0]
            error = first.get("message") if isinstance(first, dict) else first
        if not error:
            return None
        error = str(error)
        kind = _ERRORS.get(error, ErrorKind.EXPIRED if "expired" in error.lower() else ErrorKind.OTHER)
        return VenueError(kind, error, raw.status)

    def withdraw_note(self) -> str:
        return "the Withdrawal API access level could not be read (key check unavailable)"
