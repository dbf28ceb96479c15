"""The stable vocabulary shared by the connection test, the error guide, the CLI and the pages.

These strings are a contract (stored in the database, printed by `--json`, used as guide anchors):
change them only on purpose, in one commit that updates every user.
"""

from __future__ import annotations

from enum import StrEnum


class Diagnosis(StrEnum):
    OK = "ok"
    CREDENTIALS_REJECTED = "credentials_rejected"
    SECRET_MALFORMED = "secret_malformed"  # noqa: S105 (a diagnosis code, not a secret)
    WRONG_PRODUCT = "wrong_product"
    MISSING_PERMISSION = "missing_permission"
    WITHDRAW_ENABLED = "withdraw_enabled"
    IP_NOT_ALLOWED = "ip_not_allowed"
    OTP_REQUIRED = "otp_required"
    KEY_EXPIRED = "key_expired"
    NONCE_REJECTED = "nonce_rejected"
    RATE_LIMITED = "rate_limited"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    NETWORK_ERROR = "network_error"
    REGION_BLOCKED = "region_blocked"
    UNKNOWN = "unknown"


class Scope(StrEnum):
    QUERY_FUNDS = "query_funds"
    QUERY_OPEN_ORDERS = "query_open_orders"
    QUERY_CLOSED_ORDERS = "query_closed_orders"
    CREATE_ORDERS = "create_orders"
    CANCEL_ORDERS = "cancel_orders"
    WITHDRAW = "withdraw"


class Outcome(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


class ScopeState(StrEnum):
    GRANTED = "granted"
    MISSING = "missing"
    UNKNOWN = "unknown"


# What a Noon Barbari strategy needs on a trading key; withdraw is deliberately absent.
STRATEGY_SCOPES: tuple[Scope, ...] = (
    Scope.QUERY_FUNDS,
    Scope.QUERY_OPEN_ORDERS,
    Scope.QUERY_CLOSED_ORDERS,
    Scope.CREATE_ORDERS,
    Scope.CANCEL_ORDERS,
)

# The names users see on Kraken's key settings page, for messages and fixes.
KRAKEN_SCOPE_LABELS: dict[Scope, str] = {
    Scope.QUERY_FUNDS: "Query Funds",
    Scope.QUERY_OPEN_ORDERS: "Query Open Orders & Trades",
    Scope.QUERY_CLOSED_ORDERS: "Query Closed Orders & Trades",
    Scope.CREATE_ORDERS: "Create & Modify Orders",
    Scope.CANCEL_ORDERS: "Cancel/Close Orders",
    Scope.WITHDRAW: "Withdraw Funds",
}

# The address users are told to whitelist (help guide, "IP whitelist").
PLATFORM_EGRESS_IP = "51.38.112.198"
