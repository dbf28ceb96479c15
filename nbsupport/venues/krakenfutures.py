"""Kraken Futures: another host, another signature (`Authent`), and coarse key access levels.

Requests (one round trip each, none can change the account):

* `GET /derivatives/api/v3/accounts` — the balance check (General API: read-only or better).
* `GET /api/auth/v1/api-keys/v3/check` — the key check (kraken_facts.FUTURES_KEY_CHECK_DOC): the
  `general` and `transfer` access levels (NO_ACCESS, READ_ONLY, FULL_ACCESS), allowed CIDR blocks.
  ccxt has no method for it, so `configure()` adds the auth service as an extra ccxt API (`auth`) that
  ccxt signs like the history service; URL rewriting covers it like every other URL.
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

import ccxt

from nbsupport.diagnosis import Scope, ScopeState
from nbsupport.venues import kraken_facts as facts
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError
from nbsupport.venues.kraken import kraken_secret_problem
from nbsupport.venues.wire import RawResponse, Wire

KEY_CHECK_PATH = "api-keys/v3/check"
AUTH_API_URL = "https://futures.kraken.com/api/auth/"
IMPOSSIBLE_ORDER_ID = "00000000-0000-4000-8000-00000000dead"

# The Futures `error` names -> what they say about a request (names and sources: kraken_facts). A plain
# table on purpose: the error guide checks its patterns against it.
ERROR_KINDS: dict[str, ErrorKind] = {
    facts.FUTURES_AUTHENTICATION_ERROR: ErrorKind.AUTH,
    # The account behind the key cannot be used: refused like credentials, the fix is on the venue.
    facts.FUTURES_ACCOUNT_INACTIVE: ErrorKind.AUTH,
    facts.FUTURES_INVALID_ACCOUNT: ErrorKind.AUTH,
    facts.FUTURES_API_LIMIT_EXCEEDED: ErrorKind.RATE_LIMIT,
    facts.FUTURES_NONCE_BELOW_THRESHOLD: ErrorKind.NONCE,
    facts.FUTURES_NONCE_DUPLICATE: ErrorKind.NONCE,
    facts.FUTURES_UNAVAILABLE: ErrorKind.UNAVAILABLE,
    "unavailable": ErrorKind.UNAVAILABLE,  # the lower-case spelling ccxt also lists
    facts.FUTURES_SERVER_ERROR: ErrorKind.UNAVAILABLE,
    facts.FUTURES_MARKET_UNAVAILABLE: ErrorKind.UNAVAILABLE,
    facts.FUTURES_NOT_FOUND: ErrorKind.NOT_SUPPORTED,
    # Refusals of a request's content: the access check had passed (a probe's order was looked at).
    facts.FUTURES_INVALID_ARGUMENT: ErrorKind.ORDER_REJECTED,
    facts.FUTURES_REQUIRED_ARGUMENT_MISSING: ErrorKind.ORDER_REJECTED,
    facts.FUTURES_INVALID_AMOUNT: ErrorKind.ORDER_REJECTED,
    facts.FUTURES_INVALID_UNIT: ErrorKind.ORDER_REJECTED,
    facts.FUTURES_INSUFFICIENT_FUNDS: ErrorKind.ORDER_REJECTED,
    facts.FUTURES_JSON_PARSE_ERROR: ErrorKind.OTHER,
    facts.FUTURES_UNKNOWN_ERROR: ErrorKind.OTHER,
}

# The key check's `general` level -> the scopes it grants (kraken_facts.FUTURES_KEY_CHECK_DOC). `transfer`
# FULL_ACCESS grants withdraw; READ_ONLY and NO_ACCESS do not (reading transfers moves no funds).
GENERAL_SCOPES: dict[str, tuple[Scope, ...]] = {
    facts.FUTURES_NO_ACCESS: (),
    facts.FUTURES_READ_ONLY: (Scope.QUERY_FUNDS, Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS),
    facts.FUTURES_FULL_ACCESS: (Scope.QUERY_FUNDS, Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS,
                                Scope.CREATE_ORDERS, Scope.CANCEL_ORDERS),
}


def _level(value: object) -> str:
    return str(value or "").strip().upper()


def parse_key_check(body: dict[str, object]) -> KeyInfo:
    """CheckedV3ApiKeyDetails: `permissions` {general, transfer}, `allowedCidrBlock(s)`. A level outside the
    documented enum says nothing: its scopes stay unknown rather than missing."""
    listed = body.get("permissions")
    permissions = listed if isinstance(listed, dict) else {}
    general = _level(permissions.get(facts.FUTURES_PERMISSION_GENERAL))
    transfer = _level(permissions.get(facts.FUTURES_PERMISSION_TRANSFER))
    known = general in GENERAL_SCOPES
    scopes = {scope: ScopeState.MISSING if known else ScopeState.UNKNOWN for scope in Scope}
    for scope in GENERAL_SCOPES.get(general, ()):
        scopes[scope] = ScopeState.GRANTED
    if transfer in facts.FUTURES_ACCESS_LEVELS:
        granted = transfer == facts.FUTURES_FULL_ACCESS
        scopes[Scope.WITHDRAW] = ScopeState.GRANTED if granted else ScopeState.MISSING
    else:
        scopes[Scope.WITHDRAW] = ScopeState.UNKNOWN
    blocks = body.get("allowedCidrBlocks")
    if not isinstance(blocks, list):
        single = body.get("allowedCidrBlock")
        blocks = [single] if single else ([] if "allowedCidrBlock" in body else None)
    return KeyInfo(
        scopes=scopes,
        ip_allowlist=[str(b) for b in blocks] if blocks is not None else None,
        ip_restricted=bool(blocks) if blocks is not None else None,
        summary={"general_access": general or "unknown", "transfer_access": transfer or "unknown"},
    )


def futures_error_kind(error: str, status: int | None) -> ErrorKind:
    """A Futures `error` name's kind; an unlisted name in a 401 (the auth service's documented refusal,
    whose values Kraken does not list) is refused credentials."""
    if error in ERROR_KINDS:
        return ERROR_KINDS[error]
    if status == 401:
        return ErrorKind.AUTH
    return ErrorKind.EXPIRED if "expired" in error.lower() else ErrorKind.OTHER


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
        kind = futures_error_kind(error, raw.status)
        # The auth service's 401 adds a `suberror` (which check failed); shown after the error name.
        suberror = body.get("suberror")
        code = f"{error} ({suberror})" if isinstance(suberror, str) and suberror else error
        return VenueError(kind, code, raw.status)

    def withdraw_note(self) -> str:
        return "the key's transfer (withdrawal) access level could not be read (key check unavailable)"
