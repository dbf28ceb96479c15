"""Kraken Futures REST: `/derivatives/api/v3/*`, the history service `/api/history/v{2,3}/*` and the auth
service's key check `/api/auth/v1/api-keys/v3/check`, each behind Futures' own signing scheme."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from nbsupport.sandbox import futures_endpoints as fe
from nbsupport.sandbox.keys import AUTHENTICATED_FAULTS
from nbsupport.sandbox.ratelimit import Verdict
from nbsupport.sandbox.signing import verify_futures
from nbsupport.sandbox.state import FaultSource, KeyRegistry, KeyState, NonceVerdict
from nbsupport.sandbox.wire import (
    FUTURES_AUTH_ERROR,
    FUTURES_NONCE_BELOW,
    FUTURES_NONCE_DUPLICATE,
    FUTURES_NOT_FOUND,
    FUTURES_RATE_LIMIT,
    Incoming,
    Reply,
    fault_reply,
    futures_auth_service_refusal,
    futures_error,
    futures_ok,
)
from nbsupport.venues import kraken_facts as facts
from nbsupport.venues.kraken_facts import FuturesAccessLevel

DERIVATIVES_PREFIX = "/derivatives/api/v3/"
HISTORY_PREFIXES = ("/api/history/v2/", "/api/history/v3/")
KEY_CHECK_PATH = "/api/auth/v1/api-keys/v3/check"
FUTURES_PATH_PREFIXES = ("/derivatives/", "/api/history/", "/api/auth/", "/api/charts/")

Access = Literal["any", "read", "trade", "withdraw"]
Handler = Callable[[KeyState, dict[str, str]], Reply | None]


@dataclass(frozen=True)
class Route:
    access: Access
    handler: Handler
    cost: int = 2
    state_change: bool = False


def _empty(field: str) -> Handler:
    return lambda _state, _params: futures_ok({field: []})


_PRIVATE: dict[tuple[str, str], Route] = {
    ("GET", "accounts"): Route("read", fe.accounts),
    ("GET", "openpositions"): Route("read", fe.open_positions),
    ("GET", "openorders"): Route("read", fe.open_orders),
    ("GET", "fills"): Route("read", fe.fills),
    ("GET", "recentorders"): Route("read", _empty("orderEvents")),
    ("GET", "notifications"): Route("read", _empty("notifications")),
    ("GET", "orders/status"): Route("read", _empty("orders")),
    ("GET", "leveragepreferences"): Route("read", _empty("leveragePreferences")),
    ("GET", "pnlpreferences"): Route("read", _empty("preferences")),
    ("POST", "cancelorder"): Route("trade", fe.cancel_order, cost=10),
    ("POST", "sendorder"): Route("trade", fe.refuse, cost=10, state_change=True),
    ("POST", "editorder"): Route("trade", fe.refuse, cost=10, state_change=True),
    ("POST", "batchorder"): Route("trade", fe.refuse, cost=10, state_change=True),
    ("POST", "cancelallorders"): Route("trade", fe.refuse, cost=25, state_change=True),
    ("POST", "cancelallordersafter"): Route("trade", fe.refuse, cost=25, state_change=True),
    ("POST", "transfer"): Route("trade", fe.refuse, cost=10, state_change=True),
    ("POST", "withdrawal"): Route("withdraw", fe.refuse, cost=10, state_change=True),
    ("PUT", "leveragepreferences"): Route("trade", fe.refuse, state_change=True),
    ("PUT", "pnlpreferences"): Route("trade", fe.refuse, state_change=True),
}
_HISTORY = frozenset({"orders", "executions", "triggers", "account-log", "positions"})
_KEY_CHECK = Route("any", fe.check_api_key, cost=1)

_ACCESS_RANK: dict[str, int] = {level: rank for rank, level in enumerate(facts.FUTURES_ACCESS_LEVELS)}


def _route(method: str, path: str) -> Route | None:
    if path == KEY_CHECK_PATH:
        return _KEY_CHECK if method == "GET" else None
    for prefix in HISTORY_PREFIXES:
        if path.startswith(prefix) and method == "GET" and path[len(prefix) :] in _HISTORY:
            return Route("read", fe.history, cost=1)
    if path.startswith(DERIVATIVES_PREFIX):
        return _PRIVATE.get((method, path[len(DERIVATIVES_PREFIX) :]))
    return None


def _post_data(req: Incoming) -> str:
    # ccxt sends every parameter, POSTs included, in the query string; batchorder puts `json=` in the body.
    return req.query if req.query else req.text


def _allowed(state: KeyState, access: Access) -> bool:
    key = state.key
    if access == "any":
        return True
    if access == "withdraw":
        return key.futures_transfer_access() == facts.FUTURES_FULL_ACCESS
    needed: FuturesAccessLevel = "READ_ONLY" if access == "read" else "FULL_ACCESS"
    return _ACCESS_RANK[key.futures_general_access()] >= _ACCESS_RANK[needed]


class FuturesVenue:
    def __init__(self, registry: KeyRegistry, server_fault: FaultSource, timeout_fault_s: float) -> None:
        self._registry = registry
        self._server_fault = server_fault
        self._timeout_fault_s = timeout_fault_s

    @staticmethod
    def api_key_of(req: Incoming) -> str | None:
        return req.header("APIKey")

    @staticmethod
    def nonce_of(req: Incoming) -> int | None:
        try:
            return int(req.header("Nonce") or "")
        except ValueError:
            return None

    @staticmethod
    def is_state_change(req: Incoming) -> bool:
        route = _route(req.method, req.path)
        return route is not None and route.state_change

    def handle(self, req: Incoming) -> Reply:
        if req.path.startswith(DERIVATIVES_PREFIX) and req.method == "GET":
            public = fe.PUBLIC.get(req.path[len(DERIVATIVES_PREFIX) :])
            if public is not None:
                return public(req.query_params())
        route = _route(req.method, req.path)
        if route is None:
            return futures_error(FUTURES_NOT_FOUND)
        state = self._registry.get("futures", self.api_key_of(req))
        refusal = self._authenticate(req, state)
        if refusal is not None:
            return _auth_service_shape(refusal, state) if route is _KEY_CHECK else refusal
        assert state is not None
        refusal = self._limit_and_authorize(state, route)
        if refusal is not None:
            return refusal
        reply = route.handler(state, req.query_params() or _form(req))
        return reply if reply is not None else futures_error(FUTURES_NOT_FOUND)

    def _authenticate(self, req: Incoming, state: KeyState | None) -> Reply | None:
        if state is None:
            return futures_error(FUTURES_AUTH_ERROR)
        nonce_text = req.header("Nonce") or ""
        if not verify_futures(
            state.key.secret, req.path, _post_data(req), nonce_text, req.header("Authent") or ""
        ):
            return futures_error(FUTURES_AUTH_ERROR)
        if nonce_text:
            try:
                verdict = state.accept_nonce(int(nonce_text))
            except ValueError:
                return futures_error(FUTURES_NONCE_BELOW)
            if verdict is NonceVerdict.DUPLICATE:
                return futures_error(FUTURES_NONCE_DUPLICATE)
            if verdict is NonceVerdict.BELOW:
                return futures_error(FUTURES_NONCE_BELOW)
        state.touch()
        key = state.key
        if not key.allows_ip(req.peer_ip) or key.is_expired(datetime.now(UTC)):
            return futures_error(FUTURES_AUTH_ERROR)
        return None

    def _limit_and_authorize(self, state: KeyState, route: Route) -> Reply | None:
        fault = self._server_fault() or state.key.fault
        if fault in AUTHENTICATED_FAULTS:
            assert fault is not None
            return fault_reply(fault, "futures", self._timeout_fault_s)
        if state.limiter.charge(route.cost) is not Verdict.ALLOWED:
            return futures_error(FUTURES_RATE_LIMIT)
        if not _allowed(state, route.access):
            # Kraken Futures has no separate "insufficient permissions" error; a key without the access level
            # is refused as not authenticated for that endpoint.
            return futures_error(FUTURES_AUTH_ERROR)
        return None


def _auth_service_shape(refusal: Reply, state: KeyState | None) -> Reply:
    """The auth service (the key check) refuses with its own documented 401 body, not the derivatives
    API's `{"result": "error", ...}`; nonce errors are the derivatives' and are kept."""
    if refusal.error != FUTURES_AUTH_ERROR:
        return refusal
    unknown = state is None
    return futures_auth_service_refusal(facts.FUTURES_KEY_CHECK_401_SUBERROR_UNKNOWN_KEY if unknown
                                        else facts.FUTURES_KEY_CHECK_401_SUBERROR_SIGNATURE)


def _form(req: Incoming) -> dict[str, str]:
    return {k: str(v) for k, v in req.form().items()}
