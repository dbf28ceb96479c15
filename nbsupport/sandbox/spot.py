"""Kraken spot REST (`/0/public/*`, `/0/private/*`): authentication, permissions, limits, then the call."""

from __future__ import annotations

from datetime import UTC, datetime

from nbsupport.diagnosis import Scope
from nbsupport.sandbox import spot_endpoints
from nbsupport.sandbox.keys import AUTHENTICATED_FAULTS
from nbsupport.sandbox.ratelimit import Verdict
from nbsupport.sandbox.signing import verify_spot
from nbsupport.sandbox.state import FaultSource, KeyRegistry, KeyState, NonceVerdict
from nbsupport.sandbox.wire import (
    SPOT_INVALID_ARGUMENTS,
    SPOT_INVALID_KEY,
    SPOT_INVALID_NONCE,
    SPOT_INVALID_OTP,
    SPOT_INVALID_SIGNATURE,
    SPOT_IP_NOT_ALLOWED,
    SPOT_LOCKOUT,
    SPOT_PERMISSION_DENIED,
    SPOT_RATE_LIMIT,
    SPOT_UNKNOWN_METHOD,
    Incoming,
    Reply,
    fault_reply,
    spot_error,
)

PUBLIC_PREFIX = "/0/public/"
PRIVATE_PREFIX = "/0/private/"

# The permission each private method needs; None means any valid key may call it.
REQUIRED_SCOPE: dict[str, Scope | None] = {
    "Balance": Scope.QUERY_FUNDS,
    "BalanceEx": Scope.QUERY_FUNDS,
    "TradeBalance": Scope.QUERY_FUNDS,
    # Kraken has a separate "Query Ledger Entries" permission; Scope has none, so ledgers ride on funds.
    "Ledgers": Scope.QUERY_FUNDS,
    "QueryLedgers": Scope.QUERY_FUNDS,
    "OpenOrders": Scope.QUERY_OPEN_ORDERS,
    "OpenPositions": Scope.QUERY_OPEN_ORDERS,
    "ClosedOrders": Scope.QUERY_CLOSED_ORDERS,
    "QueryOrders": Scope.QUERY_CLOSED_ORDERS,
    "TradesHistory": Scope.QUERY_CLOSED_ORDERS,
    "QueryTrades": Scope.QUERY_CLOSED_ORDERS,
    "AddOrder": Scope.CREATE_ORDERS,
    "AddOrderBatch": Scope.CREATE_ORDERS,
    "EditOrder": Scope.CREATE_ORDERS,
    "AmendOrder": Scope.CREATE_ORDERS,
    "CancelOrder": Scope.CANCEL_ORDERS,
    "CancelOrderBatch": Scope.CANCEL_ORDERS,
    "CancelAll": Scope.CANCEL_ORDERS,
    "CancelAllOrdersAfter": Scope.CANCEL_ORDERS,
    "WithdrawMethods": Scope.WITHDRAW,
    "WithdrawAddresses": Scope.WITHDRAW,
    "WithdrawInfo": Scope.WITHDRAW,
    "WithdrawStatus": Scope.WITHDRAW,
    "Withdraw": Scope.WITHDRAW,
    "WithdrawCancel": Scope.WITHDRAW,
    "WalletTransfer": Scope.WITHDRAW,
    "GetApiKeyInfo": None,
}

# Counter cost per call: history and ledger queries cost 2; order placement and cancels have their own
# per-pair limiter on Kraken and do not touch this counter.
_COST: dict[str, int] = {
    "TradesHistory": 2,
    "Ledgers": 2,
    "QueryLedgers": 2,
    "AddOrder": 0,
    "AddOrderBatch": 0,
    "EditOrder": 0,
    "AmendOrder": 0,
    "CancelOrder": 0,
    "CancelOrderBatch": 0,
}

# Methods that change the account unless they carry validate=true (the ones in _VALIDATABLE).
_STATE_CHANGING = frozenset(
    {
        "AddOrder",
        "AddOrderBatch",
        "EditOrder",
        "AmendOrder",
        "CancelAll",
        "CancelAllOrdersAfter",
        "Withdraw",
        "WithdrawCancel",
        "WalletTransfer",
    }
)
_VALIDATABLE = frozenset({"AddOrder", "AddOrderBatch", "EditOrder"})


def method_name(path: str) -> tuple[str, str] | None:
    """("public" | "private", method) for a spot path, or None when the path is not spot's."""
    for kind, prefix in (("public", PUBLIC_PREFIX), ("private", PRIVATE_PREFIX)):
        if path.startswith(prefix) and len(path) > len(prefix):
            return kind, path[len(prefix) :]
    return None


class SpotVenue:
    def __init__(
        self,
        registry: KeyRegistry,
        server_fault: FaultSource,
        timeout_fault_s: float,
        bad_signature_error: str = SPOT_INVALID_SIGNATURE,
    ) -> None:
        self._registry = registry
        self._server_fault = server_fault
        self._timeout_fault_s = timeout_fault_s
        # Kraken's support pages say a mismatched signature can also come back as "EAPI:Invalid key".
        self.bad_signature_error = bad_signature_error

    @staticmethod
    def api_key_of(req: Incoming) -> str | None:
        return req.header("API-Key") if req.path.startswith(PRIVATE_PREFIX) else None

    @staticmethod
    def nonce_of(req: Incoming) -> int | None:
        if not req.path.startswith(PRIVATE_PREFIX):
            return None
        try:
            return int(str(req.form().get("nonce", "")))
        except ValueError:
            return None

    @staticmethod
    def is_state_change(req: Incoming) -> bool:
        parsed = method_name(req.path)
        if parsed is None or parsed[0] != "private" or parsed[1] not in _STATE_CHANGING:
            return False
        validate = parsed[1] in _VALIDATABLE and spot_endpoints.is_truthy(req.form().get("validate"))
        return not validate

    def handle(self, req: Incoming) -> Reply:
        parsed = method_name(req.path)
        if parsed is None:
            return spot_error(SPOT_UNKNOWN_METHOD, status=404)
        kind, name = parsed
        if kind == "public":
            endpoint = spot_endpoints.PUBLIC.get(name)
            if endpoint is None:
                return spot_error(SPOT_UNKNOWN_METHOD, status=404)
            return endpoint({**req.query_params(), **req.form()})
        if name not in REQUIRED_SCOPE:
            return spot_error(SPOT_UNKNOWN_METHOD, status=404)
        if req.method != "POST":
            return spot_error(SPOT_INVALID_ARGUMENTS)
        params = req.form()
        state = self._registry.get("spot", req.header("API-Key"))
        refusal = self._authenticate(req, state, params)
        if refusal is not None:
            return refusal
        assert state is not None
        refusal = self._limit_and_authorize(state, name)
        if refusal is not None:
            return refusal
        return spot_endpoints.PRIVATE[name](state, params)

    def _authenticate(self, req: Incoming, state: KeyState | None, params: dict[str, object]) -> Reply | None:
        # A disabled or expired key is refused as unknown (nbsupport.venues.kraken_facts).
        if state is None or state.key.is_expired(datetime.now(UTC)):
            return spot_error(SPOT_INVALID_KEY)
        nonce_text = str(params.get("nonce", ""))
        if not verify_spot(state.key.secret, req.path, nonce_text, req.text, req.header("API-Sign") or ""):
            return spot_error(self.bad_signature_error)
        try:
            nonce = int(nonce_text)
        except ValueError:
            return spot_error(SPOT_INVALID_NONCE)
        if state.accept_nonce(nonce) is not NonceVerdict.ACCEPTED:
            return spot_error(SPOT_INVALID_NONCE)
        state.touch()
        key = state.key
        if not key.allows_ip(req.peer_ip):
            return spot_error(SPOT_IP_NOT_ALLOWED)
        if key.otp is not None and str(params.get("otp", "")) != key.otp:
            return spot_error(SPOT_INVALID_OTP)
        return None

    def _limit_and_authorize(self, state: KeyState, name: str) -> Reply | None:
        fault = self._server_fault() or state.key.fault
        if fault in AUTHENTICATED_FAULTS:
            assert fault is not None
            return fault_reply(fault, "spot", self._timeout_fault_s)
        verdict = state.limiter.charge(_COST.get(name, 1))
        if verdict is Verdict.LOCKED_OUT:
            return spot_error(SPOT_LOCKOUT)
        if verdict is Verdict.LIMITED:
            return spot_error(SPOT_RATE_LIMIT)
        needed = REQUIRED_SCOPE[name]
        if needed is not None and needed not in state.key.permissions:
            return spot_error(SPOT_PERMISSION_DENIED)
        return None
