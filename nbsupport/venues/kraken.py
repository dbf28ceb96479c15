"""Kraken spot: offline secret check, the probe requests, the error vocabulary, and the nonce clock.

Requests (all `POST /0/private/...`, each one round trip, none can change the account):

* `Balance` — the balance check; needs Query Funds.
* `GetApiKeyInfo` — needs no permission; permissions, IP allowlist, nonce and query windows, expiry
  (documented shape and sources: `nbsupport.venues.kraken_facts`). Where a region answers
  `EGeneral:Unknown method`, the scopes are probed instead.
* Fallback scope probes when key info is unavailable:
  `OpenOrders` (query_open_orders), `ClosedOrders` (query_closed_orders),
  `AddOrder` with `validate=true`, a volume below any minimum and a price of 1 (create_orders: validate
  makes Kraken check the order without placing it; the volume guarantees a refusal even if it did not),
  `CancelOrder` of a txid that cannot exist (cancel_orders: `EOrder:Unknown order` proves the permission),
  `WithdrawInfo` for a withdrawal key that does not exist (withdraw: `EFunding:Unknown withdraw key`
  proves the permission; the call only quotes a fee).

Counter cost on Kraken's per-key budget (Starter: 15, decaying 0.33/s): 1 per query call, 0 for AddOrder
and CancelOrder (they use the per-pair trading limiter instead).

Nonces: ccxt's kraken signs with a millisecond nonce that only increases per client instance, so two
tests of one key in quick succession (two instances) could reuse or go below a nonce. `NONCES` keeps one
strictly increasing millisecond counter per key for the whole process, and `settle()` waits until the wall
clock has passed the last nonce before a test hands the key back, so the next user of the key (another
process, or the user's own strategy, which also uses milliseconds) is never behind us. Milliseconds on
purpose: a microsecond nonce would jump the key's nonce 1000x ahead and lock the user's strategy out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import ccxt

from nbsupport.diagnosis import Scope, ScopeState
from nbsupport.venues import kraken_facts as facts
from nbsupport.venues.base import ErrorKind, KeyInfo, Venue, VenueError
from nbsupport.venues.wire import RawResponse, Wire

SECRET_BYTES = 64
# Kraken order ids start with "O"; an id starting with "N" can never name a real order.
IMPOSSIBLE_TXID = "NBPRBE-XXXXX-NOORDR"
IMPOSSIBLE_WITHDRAW_KEY = "noon-barbari-probe-no-such-key"

# GetApiKeyInfo permission names (kraken_facts) -> scopes. Spellings are normalised (lower case, `-` for
# `_`/space).
PERMISSION_SCOPES: dict[str, Scope] = {
    facts.SPOT_PERMISSION_QUERY_FUNDS: Scope.QUERY_FUNDS,
    facts.SPOT_PERMISSION_QUERY_OPEN: Scope.QUERY_OPEN_ORDERS,
    facts.SPOT_PERMISSION_QUERY_CLOSED: Scope.QUERY_CLOSED_ORDERS,
    facts.SPOT_PERMISSION_MODIFY_TRADES: Scope.CREATE_ORDERS,
    facts.SPOT_PERMISSION_CLOSE_TRADES: Scope.CANCEL_ORDERS,
    facts.SPOT_PERMISSION_WITHDRAW: Scope.WITHDRAW,
}

# Kraken spot's error strings -> what they say about a request, first match wins (sources: kraken_facts).
# A plain table on purpose: the error guide checks its patterns against it. `EAPI:Invalid key` also
# answers a disabled or expired key, so expiry is told from the stored expiry or `validUntil`, never from
# this error.
ERROR_PREFIXES: tuple[tuple[str, ErrorKind], ...] = (
    (facts.SPOT_INVALID_KEY, ErrorKind.AUTH),
    (facts.SPOT_INVALID_SIGNATURE, ErrorKind.AUTH),
    ("ESession:Invalid session", ErrorKind.AUTH),
    # An address outside the allowlist is answered the same way (unconfirmed, kraken_facts).
    (facts.SPOT_PERMISSION_DENIED, ErrorKind.DENIED),
    # The same refusal under the API category, as the error guide lists it (third-party clients report
    # both spellings; docs.kraken.com names only the EGeneral one).
    ("EAPI:Permission denied", ErrorKind.DENIED),
    # "EAccount:Invalid permissions:<asset> trading restricted for <region>": the account's jurisdiction,
    # not the key (reported by users of third-party bots; not on docs.kraken.com's error page).
    ("EAccount:Invalid permissions", ErrorKind.REGION),
    (facts.SPOT_INVALID_NONCE, ErrorKind.NONCE),
    (facts.SPOT_TEMPORARY_LOCKOUT, ErrorKind.LOCKOUT),
    (facts.SPOT_RATE_LIMIT, ErrorKind.RATE_LIMIT),
    ("EOrder:Rate limit exceeded", ErrorKind.RATE_LIMIT),
    ("EGeneral:Too many requests", ErrorKind.RATE_LIMIT),
    ("EService:", ErrorKind.UNAVAILABLE),
    ("EDatabase:", ErrorKind.UNAVAILABLE),
    ("EGeneral:Internal error", ErrorKind.UNAVAILABLE),
    (facts.SPOT_UNKNOWN_METHOD, ErrorKind.NOT_SUPPORTED),
    # A refusal of the order/cancel/withdraw content: the permission check had already passed.
    ("EOrder:", ErrorKind.ORDER_REJECTED),
    ("EFunding:", ErrorKind.ORDER_REJECTED),
    ("EGeneral:Invalid arguments", ErrorKind.ORDER_REJECTED),
    ("EQuery:", ErrorKind.ORDER_REJECTED),
)


class NonceClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}

    @staticmethod
    def key_id(api_key: str) -> str:
        return hashlib.sha256(api_key.encode()).hexdigest()

    def next(self, key_id: str) -> int:
        with self._lock:
            value = max(int(time.time() * 1000), self._last.get(key_id, 0) + 1)
            self._last[key_id] = value
            return value

    def settle(self, key_id: str, max_wait_s: float = 0.25) -> None:
        with self._lock:
            last = self._last.get(key_id, 0)
        wait_s = (last + 1) / 1000 - time.time()
        if wait_s > 0:
            time.sleep(min(wait_s, max_wait_s))


NONCES = NonceClock()


def kraken_secret_problem(secret: str) -> str | None:
    try:
        decoded = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        return (f"the secret is not valid base64 ({len(secret)} characters; Kraken private keys are 88): "
                "a '+' or '/' lost or changed by a clipboard is the usual cause")
    if len(decoded) != SECRET_BYTES:
        return (f"the secret decodes to {len(decoded)} bytes, Kraken private keys hold {SECRET_BYTES}: "
                "part of it is missing or another value was pasted")
    return None


def _moment(value: object) -> datetime | None:
    """A unix-second string; "0" (kraken_facts.SPOT_UNSET_MOMENT) or anything unreadable is unset."""
    if not isinstance(value, str | int | float):
        return None
    try:
        seconds = int(float(value))
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def parse_key_info(result: dict[str, object]) -> KeyInfo:
    """GetApiKeyInfo's documented fields: `permissions`, `ipAllowlist`, `validUntil`, `queryFrom`,
    `queryTo`, `nonceWindow`, `apiKeyName`."""
    listed = result.get("permissions") or []
    names = ({str(p).strip().lower().replace("_", "-").replace(" ", "-") for p in listed}
             if isinstance(listed, Iterable) else set())
    scopes = {scope: ScopeState.MISSING for scope in Scope}
    for name, scope in PERMISSION_SCOPES.items():
        if name in names:
            scopes[scope] = ScopeState.GRANTED
    allowlist = result.get("ipAllowlist")
    nonce_window = result.get("nonceWindow")
    return KeyInfo(
        scopes=scopes,
        ip_allowlist=[str(a) for a in allowlist] if isinstance(allowlist, list) else None,
        ip_restricted=bool(allowlist) if isinstance(allowlist, list) else None,
        expires_at=_moment(result.get("validUntil")),
        query_from=_moment(result.get("queryFrom")),
        query_to=_moment(result.get("queryTo")),
        nonce_window=int(nonce_window) if isinstance(nonce_window, int | str) and str(nonce_window).isdigit()
        else None,
        summary={
            "key_name": str(result.get("apiKeyName") or "")[:100],
            "permissions": sorted(names),
        },
    )


def kraken_error_kind(error: str) -> ErrorKind:
    """`ERROR_PREFIXES`, after the three rules a prefix cannot say: an expiry or an OTP named in the text
    (third-party wording, kept tolerant), and a nonce refusal in any category."""
    lowered = error.lower()
    if error.startswith(facts.SPOT_PERMISSION_DENIED) and "expired" in lowered:
        return ErrorKind.EXPIRED
    authenticated = not error.startswith((facts.SPOT_INVALID_KEY, facts.SPOT_INVALID_SIGNATURE,
                                          "ESession:Invalid session", facts.SPOT_PERMISSION_DENIED))
    if authenticated and "otp" in lowered:
        return ErrorKind.OTP
    if error.endswith(":Invalid nonce"):
        return ErrorKind.NONCE
    for prefix, kind in ERROR_PREFIXES:
        if error.startswith(prefix):
            return kind
    return ErrorKind.OTHER


class KrakenSpot(Venue):
    exchange_id = "kraken"
    sibling = "krakenfutures"
    probe_scopes = (Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS, Scope.CREATE_ORDERS,
                    Scope.CANCEL_ORDERS, Scope.WITHDRAW)
    # EGeneral:Permission denied for a missing scope and for an address outside the allowlist alike;
    # GetApiKeyInfo needs no permission (nbsupport.venues.base.Venue.denied_may_be_address).
    denied_may_be_address = True

    def check_secret(self, secret: str) -> str | None:
        return kraken_secret_problem(secret)

    def configure(self, client: ccxt.Exchange) -> None:
        # Read at signing time: a thread's client serves one key after another (nbsupport.venues.client).
        client.nonce = lambda: NONCES.next(NONCES.key_id(client.apiKey or ""))

    def balance(self, wire: Wire) -> None:
        response = wire.json(wire.client.private_post_balance)
        if not isinstance(response.get("result"), dict):
            raise wire.fail(ErrorKind.GARBAGE, "Balance answered without a result")

    def key_info(self, wire: Wire) -> KeyInfo:
        response = wire.json(wire.client.private_post_getapikeyinfo)
        result = response.get("result")
        if not isinstance(result, dict):
            raise wire.fail(ErrorKind.GARBAGE, "GetApiKeyInfo answered without a result")
        return parse_key_info(result)

    def probe(self, wire: Wire, scope: Scope) -> ScopeState:
        client = wire.client
        calls = {
            Scope.QUERY_OPEN_ORDERS: (client.private_post_openorders, {}),
            Scope.QUERY_CLOSED_ORDERS: (client.private_post_closedorders, {}),
            Scope.CREATE_ORDERS: (client.private_post_addorder, {
                "pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "1",
                "volume": "0.00000001", "validate": "true"}),
            Scope.CANCEL_ORDERS: (client.private_post_cancelorder, {"txid": IMPOSSIBLE_TXID}),
            Scope.WITHDRAW: (client.private_post_withdrawinfo, {
                "asset": "XBT", "key": IMPOSSIBLE_WITHDRAW_KEY, "amount": "0.0001"}),
        }
        if scope not in calls:
            return ScopeState.UNKNOWN
        method, params = calls[scope]
        return self.run_probe(wire, method, params, denied=ErrorKind.DENIED)

    def read_error(self, raw: RawResponse, exc: BaseException) -> VenueError | None:
        body = raw.json()
        errors = body.get("error") if isinstance(body, dict) else None
        if not isinstance(errors, list) or not errors:
            return None
        first = str(errors[0])
        return VenueError(kraken_error_kind(first), first, raw.status)
