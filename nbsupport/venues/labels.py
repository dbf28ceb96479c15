"""What each venue calls the permissions our scopes stand for, as the customer sees them on the venue's key
settings page: one table, each venue's entry next to the documentation it comes from.

Several scopes can share one label where the venue grants them as a whole (Binance "Enable Reading" covers
balances, open and closed orders); `permission_labels` then names that label once.
"""

from __future__ import annotations

from collections.abc import Iterable

from nbsupport.diagnosis import KRAKEN_SCOPE_LABELS, Scope

GENERIC = "*"


def _whole_key(reading: str, trading: str, withdraw: str) -> dict[Scope, str]:
    return {Scope.QUERY_FUNDS: reading, Scope.QUERY_OPEN_ORDERS: reading, Scope.QUERY_CLOSED_ORDERS: reading,
            Scope.CREATE_ORDERS: trading, Scope.CANCEL_ORDERS: trading, Scope.WITHDRAW: withdraw}


PERMISSION_LABELS: dict[str, dict[Scope, str]] = {
    # https://support.kraken.com/hc/en-us/articles/360000919966-How-to-generate-an-API-key-pair-
    "kraken": dict(KRAKEN_SCOPE_LABELS),
    # https://support.kraken.com/hc/en-us/articles/360022839451-How-to-create-an-API-key-for-Kraken-Futures
    # "General API: Read Only ... Full Access" (placing and cancelling orders needs Full Access, which also
    # reads), "Withdrawal API: No Access / Full Access".
    "krakenfutures": _whole_key("General API: Full Access", "General API: Full Access", "Withdrawal API"),
    # https://developers.binance.com/docs/wallet/account/api-key-permission (enableReading,
    # enableSpotAndMarginTrading, enableWithdrawals: "Enable Reading", "Enable Spot & Margin Trading",
    # "Enable Withdrawals" in API Management)
    "binance": _whole_key("Enable Reading", "Enable Spot & Margin Trading", "Enable Withdrawals"),
    # https://bybit-exchange.github.io/docs/v5/user/apikey-info (readOnly 0 = "Read-Write";
    # permissions.Spot "SpotTrade", ContractTrade "Order", Wallet "Withdraw")
    "bybit": _whole_key("Read-Only", "Read-Write with Orders and SPOT Trade", "Withdraw"),
    # https://www.okx.com/help/api-faq ("permissions (Read, Trade, Withdraw)")
    "okx": _whole_key("Read", "Trade", "Withdraw"),
    # https://docs.cdp.coinbase.com/advanced-trade/reference/retailbrokerageapi_getapikeypermissions
    # (can_view, can_trade, can_transfer: "View", "Trade", "Transfer" when creating the key)
    "coinbase": _whole_key("View", "Trade", "Transfer"),
    # Any other ccxt venue: plain words, since we do not know its page.
    GENERIC: _whole_key("reading", "trading", "withdrawals"),
}
PERMISSION_LABELS["binanceus"] = PERMISSION_LABELS["binance"]


def permission_labels(exchange: str, scopes: Iterable[str]) -> list[str]:
    """The venue's labels for `scopes`, in order, each label once; unknown scope names pass through."""
    table = PERMISSION_LABELS.get(exchange, PERMISSION_LABELS[GENERIC])
    labels: list[str] = []
    for scope in scopes:
        label = table.get(Scope(scope), scope) if scope in Scope.__members__.values() else scope
        if label not in labels:
            labels.append(label)
    return labels
