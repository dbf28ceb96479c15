"""Coinbase Advanced Trade: a signed accounts read, then the key's own permissions.

Keys are CDP keys: the key name (`organizations/{org}/apiKeys/{id}`) and an ECDSA P-256 private key in PEM,
each request signed by ccxt with a fresh ES256 JWT. "Ed25519 (EdDSA) keys are NOT supported. You must use
ES256 key format" (https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/api-key-authentication):
ccxt would sign a base64 Ed25519 secret with EdDSA, and a refused one is told so.

Requests (both `GET`; each needs the `view` scope,
https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/rest-scopes):

* `/api/v3/brokerage/accounts?limit=1` — the balance check; one account is enough to prove it, and ccxt's
  `fetch_balance` would page through all of them.
* `/api/v3/brokerage/key_permissions`
  (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/data-api/get-api-key-permissions) —
  `can_view`, `can_trade`, `can_transfer` (transfer sends funds off the platform, i.e. withdraw),
  `portfolio_uuid`, `portfolio_type`. Refused for permission, it says the key cannot view.

Coinbase reports neither the key's IP allowlist nor an expiry, and answers a JWT it does not accept (unknown
key, wrong private key, an address outside the key's allowlist) with the same bare HTTP 401, so a refused
key whose stored whitelist points at the address is blamed on the address. JSON errors are the gRPC gateway
shape `{"error": "PERMISSION_DENIED", "error_details", "message"}` (same page, `grpc.gateway.runtime.Error`)
or `{"errors": [{"id": ...}]}`, read with ccxt's `coinbase.exceptions` vocabulary.
"""

from __future__ import annotations

from nbsupport.diagnosis import ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, ProbeFailed, Venue, VenueError, whole_key_scopes
from nbsupport.venues.wire import RawResponse, Wire

# error id (lower case) -> kind; ccxt 4.5.90 `coinbase.exceptions['exact']`, gRPC status names.
_IDS: dict[str, ErrorKind] = {
    "unauthorized": ErrorKind.AUTH,
    "unauthenticated": ErrorKind.AUTH,
    "authentication_error": ErrorKind.AUTH,
    "invalid_token": ErrorKind.AUTH,
    "revoked_token": ErrorKind.AUTH,
    "expired_token": ErrorKind.AUTH,
    "invalid_authentication_method": ErrorKind.AUTH,
    "permission_denied": ErrorKind.DENIED,
    "invalid_scope": ErrorKind.DENIED,
    "rate_limit_exceeded": ErrorKind.RATE_LIMIT,
    "resource_exhausted": ErrorKind.RATE_LIMIT,
    "internal_server_error": ErrorKind.UNAVAILABLE,
    "two_factor_required": ErrorKind.OTP,
}


def _flag(value: object) -> ScopeState:
    if not isinstance(value, bool):
        return ScopeState.UNKNOWN
    return ScopeState.GRANTED if value else ScopeState.MISSING


def parse_key_permissions(body: dict[str, object]) -> KeyInfo:
    view, trade = _flag(body.get("can_view")), _flag(body.get("can_trade"))
    return KeyInfo(
        scopes=whole_key_scopes(view, trade, _flag(body.get("can_transfer"))),
        # A CDP key is scoped to one portfolio: balances and orders of the others are invisible to it.
        summary={k: str(body[k])[:60] for k in ("portfolio_type", "portfolio_uuid") if body.get(k)},
    )


def _error_id(body: dict[str, object]) -> tuple[str, str] | None:
    """(id, message) from `{"error", "message"|"error_description"}` or `{"errors": [{"id", "message"}]}`."""
    if isinstance(error := body.get("error"), str):
        message = body.get("message") or body.get("error_description") or body.get("error_details") or ""
        return error, str(message)
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("id"):
        return str(errors[0]["id"]), str(errors[0].get("message", ""))
    return None


def coinbase_error(raw: RawResponse) -> VenueError | None:
    body = raw.json()
    found = _error_id(body) if isinstance(body, dict) else None
    if found is None:
        if raw.status == 401 and not raw.is_html:
            # Coinbase answers a JWT it does not accept (unknown key, wrong private key) with a bare 401.
            return VenueError(ErrorKind.AUTH, "HTTP 401 Unauthorized", 401)
        if isinstance(body, dict) and raw.status < 400:
            # JSON, but neither data nor an error: not the venue's format.
            return VenueError(ErrorKind.GARBAGE, f"unexpected JSON answer (HTTP {raw.status})", raw.status)
        return None
    error_id, message = found
    kind = _IDS.get(error_id.lower(), ErrorKind.OTHER)
    if "timestamp expired" in message.lower():
        kind = ErrorKind.NONCE  # the JWT's nbf/exp window: the clock
    return VenueError(kind, f"{error_id} {message[:120]}".strip(), raw.status)


ED25519_HINT = ("Coinbase Advanced Trade accepts ECDSA (ES256) keys only, \"Ed25519 (EdDSA) keys are NOT "
                "supported\" (https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/"
                "api-key-authentication); this key's secret is not an EC private key: create an ECDSA key")


class Coinbase(Venue):
    def __init__(self, exchange_id: str = "coinbase") -> None:
        self.exchange_id = exchange_id

    def balance(self, wire: Wire) -> None:
        response = wire.json(wire.client.v3_private_get_brokerage_accounts, {"limit": 1})
        if not isinstance(response.get("accounts"), list):
            raise wire.fail(ErrorKind.GARBAGE, "accounts answered without accounts")

    def key_info(self, wire: Wire) -> KeyInfo:
        try:
            body = wire.json(wire.client.v3_private_get_brokerage_key_permissions)
        except ProbeFailed as failed:
            if failed.error.kind is not ErrorKind.DENIED:
                raise
            # The call needs `view`: refused for permission, the key cannot view; trade and transfer unread.
            unread = ScopeState.UNKNOWN
            return KeyInfo(scopes=whole_key_scopes(ScopeState.MISSING, unread, unread),
                           summary={"key_permissions": f"refused: {failed.error.code}"})
        if not any(isinstance(body.get(k), bool) for k in ("can_view", "can_trade", "can_transfer")):
            raise wire.fail(ErrorKind.GARBAGE, "key_permissions answered without permissions")
        return parse_key_permissions(body)

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        return coinbase_error(raw)

    def refusal_hint(self, error: VenueError, secret: str) -> str | None:
        pem = secret.lstrip().startswith("-----BEGIN")
        return None if pem or error.kind is not ErrorKind.AUTH else ED25519_HINT

    def withdraw_note(self) -> str:
        return "transfer (withdraw) permission could not be read from Coinbase's key permissions"
