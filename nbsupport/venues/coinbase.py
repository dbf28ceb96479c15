"""Coinbase Advanced Trade: a signed accounts read, then the key's own permissions.

Requests (both `GET`, each signed by ccxt with a fresh JWT: Ed25519 for a CDP key whose secret is
base64, ES256 for a PEM EC key, HMAC `CB-ACCESS-*` headers for a legacy key):

* `/api/v3/brokerage/accounts?limit=1` — the balance check (needs the `view` permission); one account
  is enough to prove it, and ccxt's `fetch_balance` would page through all of them.
* `/api/v3/brokerage/key_permissions` — `can_view`, `can_trade`, `can_transfer` (transfer is what sends
  funds off the platform, i.e. withdraw), `portfolio_uuid`, `portfolio_type`.

Coinbase reports neither the key's IP allowlist nor an expiry. A refused JWT is a bare HTTP 401;
JSON errors are `{"error": "PERMISSION_DENIED", "message": ...}` or `{"errors": [{"id": ...}]}`, read with
ccxt's `coinbase.exceptions` vocabulary.
"""

from __future__ import annotations

from typing import Any

from nbsupport.diagnosis import ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError, whole_key_scopes
from nbsupport.venues.wire import RawResponse, Wire

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


def _flag(value: Any) -> ScopeState:
    if not isinstance(value, bool):
        return ScopeState.UNKNOWN
    return ScopeState.GRANTED if value else ScopeState.MISSING


def parse_key_permissions(body: dict[str, Any]) -> KeyInfo:
    view, trade = _flag(body.get("can_view")), _flag(body.get("can_trade"))
    return KeyInfo(
        scopes=whole_key_scopes(view, trade, _flag(body.get("can_transfer"))),
        # A CDP key is scoped to one portfolio: balances and orders of the others are invisible to it.
        summary={k: str(body[k])[:60] for k in ("portfolio_type", "portfolio_uuid") if body.get(k)},
    )


def _error_id(body: dict[str, Any]) -> tuple[str, str] | None:
    """(id, message) from `{"error", "message"|"error_description"}` or `{"errors": [{"id", "message"}]}`."""
    if isinstance(body.get("error"), str):
        message = body.get("message") or body.get("error_description") or body.get("error_details") or ""
        return body["error"], str(message)
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


class Coinbase(Venue):
    exchange_id = "coinbase"

    def balance(self, wire: Wire) -> None:
        response = wire.json(wire.client.v3_private_get_brokerage_accounts, {"limit": 1})
        if not isinstance(response.get("accounts"), list):
            raise wire.fail(ErrorKind.GARBAGE, "accounts answered without accounts")

    def key_info(self, wire: Wire) -> KeyInfo:
        body = wire.json(wire.client.v3_private_get_brokerage_key_permissions)
        if not any(isinstance(body.get(k), bool) for k in ("can_view", "can_trade", "can_transfer")):
            raise wire.fail(ErrorKind.GARBAGE, "key_permissions answered without permissions")
        return parse_key_permissions(body)

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        return coinbase_error(raw)

    def withdraw_note(self) -> str:
        return "transfer (withdraw) permission could not be read from Coinbase's key permissions"
