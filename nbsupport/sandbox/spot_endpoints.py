"""Kraken spot endpoint bodies, once a request has authenticated and passed its permission check."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime

from nbsupport.sandbox import spot_data
from nbsupport.sandbox.state import KeyState
from nbsupport.sandbox.wire import (
    SPOT_STATE_CHANGE_REFUSED,
    SPOT_UNKNOWN_METHOD,
    SPOT_UNKNOWN_ORDER,
    SPOT_UNKNOWN_PAIR,
    SPOT_UNKNOWN_WITHDRAW_KEY,
    Reply,
    fault_reply,
    spot_error,
    spot_ok,
)
from nbsupport.venues import kraken_facts as facts

Params = dict[str, object]
PrivateHandler = Callable[[KeyState, Params], Reply]

# Rough USD prices so TradeBalance has something to add up.
_USD_PRICE = {"ZUSD": Decimal(1), "XXBT": Decimal(90000), "XETH": Decimal(3000)}


def is_truthy(value: object) -> bool:
    return str(value).strip().lower() in {"true", "1", "yes"}


# --- public ------------------------------------------------------------------------------------------------


def public_time(_: Params) -> Reply:
    now = datetime.now(UTC)
    return spot_ok({"unixtime": int(now.timestamp()), "rfc1123": format_datetime(now, usegmt=True)})


def public_system_status(_: Params) -> Reply:
    return spot_ok({"status": "online", "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})


def public_asset_pairs(params: Params) -> Reply:
    wanted = [p for p in str(params.get("pair", "")).split(",") if p]
    if not wanted:
        return spot_ok(spot_data.ASSET_PAIRS)
    result: dict[str, object] = {}
    for name in wanted:
        pair_id = spot_data.PAIR_ALIASES.get(name.upper())
        if pair_id is None:
            return spot_error(SPOT_UNKNOWN_PAIR)
        result[pair_id] = spot_data.ASSET_PAIRS[pair_id]
    return spot_ok(result)


def public_assets(_: Params) -> Reply:
    return spot_ok(spot_data.ASSETS)


PUBLIC: dict[str, Callable[[Params], Reply]] = {
    "Time": public_time,
    "SystemStatus": public_system_status,
    "AssetPairs": public_asset_pairs,
    "Assets": public_assets,
}

# --- private: funds ----------------------------------------------------------------------------------------


def balance(state: KeyState, _: Params) -> Reply:
    return spot_ok(dict(state.key.balances))


def balance_ex(state: KeyState, _: Params) -> Reply:
    return spot_ok({a: {"balance": v, "hold_trade": "0.0000"} for a, v in state.key.balances.items()})


def trade_balance(state: KeyState, _: Params) -> Reply:
    equity = sum(
        (Decimal(v) * _USD_PRICE.get(a, Decimal(0)) for a, v in state.key.balances.items()), Decimal(0)
    )
    eb = f"{equity:.4f}"
    zero = "0.0000"
    return spot_ok(
        {"eb": eb, "tb": eb, "m": zero, "n": zero, "c": zero, "v": zero, "e": eb, "mf": eb, "uv": zero}
    )


def ledgers(state: KeyState, _: Params) -> Reply:
    entries = spot_data.filter_by_time(spot_data.LEDGER, "time", state.key.query_window)
    return spot_ok({"ledger": entries, "count": len(entries)})


def query_ledgers(state: KeyState, params: Params) -> Reply:
    return spot_ok(_pick(spot_data.LEDGER, "time", state, str(params.get("id", ""))))


# --- private: orders and trades ----------------------------------------------------------------------------


def open_orders(_: KeyState, __: Params) -> Reply:
    return spot_ok({"open": {}})


def closed_orders(state: KeyState, _: Params) -> Reply:
    entries = spot_data.filter_by_time(spot_data.CLOSED_ORDERS, "closetm", state.key.query_window)
    return spot_ok({"closed": entries, "count": len(entries)})


def query_orders(state: KeyState, params: Params) -> Reply:
    return spot_ok(_pick(spot_data.CLOSED_ORDERS, "closetm", state, str(params.get("txid", ""))))


def trades_history(state: KeyState, _: Params) -> Reply:
    entries = spot_data.filter_by_time(spot_data.TRADES, "time", state.key.query_window)
    return spot_ok({"trades": entries, "count": len(entries)})


def query_trades(state: KeyState, params: Params) -> Reply:
    return spot_ok(_pick(spot_data.TRADES, "time", state, str(params.get("txid", ""))))


def open_positions(_: KeyState, __: Params) -> Reply:
    return spot_ok({})


def _pick(
    entries: dict[str, dict[str, object]], time_field: str, state: KeyState, ids: str
) -> dict[str, object]:
    visible = spot_data.filter_by_time(entries, time_field, state.key.query_window)
    return {i: visible[i] for i in ids.split(",") if i in visible}


def add_order(_: KeyState, params: Params) -> Reply:
    pair_id = spot_data.PAIR_ALIASES.get(str(params.get("pair", "")).upper())
    if pair_id is None:
        return spot_error(SPOT_UNKNOWN_PAIR)
    if not is_truthy(params.get("validate")):
        return spot_error(SPOT_STATE_CHANGE_REFUSED)
    altname = spot_data.ASSET_PAIRS[pair_id]["altname"]
    side, ordertype = params.get("type", "buy"), params.get("ordertype", "limit")
    volume = Decimal(str(params.get("volume", "0")))
    description = f"{side} {volume:.8f} {altname} @ {ordertype}"
    if params.get("price") is not None:
        description += f" {params['price']}"
    # A validated order is described but gets no txid: nothing was placed.
    return spot_ok({"descr": {"order": description}})


def add_order_batch(_: KeyState, params: Params) -> Reply:
    if not is_truthy(params.get("validate")):
        return spot_error(SPOT_STATE_CHANGE_REFUSED)
    return spot_ok({"orders": []})


def edit_order(_: KeyState, params: Params) -> Reply:
    if not is_truthy(params.get("validate")):
        return spot_error(SPOT_STATE_CHANGE_REFUSED)
    return spot_error(SPOT_UNKNOWN_ORDER)


def cancel_order(_: KeyState, __: Params) -> Reply:
    # The sandbox account never has an open order, so every cancel names an unknown one.
    return spot_error(SPOT_UNKNOWN_ORDER)


def refuse(_: KeyState, __: Params) -> Reply:
    return spot_error(SPOT_STATE_CHANGE_REFUSED)


# --- private: funding --------------------------------------------------------------------------------------


def withdraw_methods(_: KeyState, __: Params) -> Reply:
    return spot_ok(spot_data.WITHDRAW_METHODS)


def empty_list(_: KeyState, __: Params) -> Reply:
    return spot_ok([])


def withdraw_info(_: KeyState, __: Params) -> Reply:
    # No withdrawal address is ever set up in the sandbox.
    return spot_error(SPOT_UNKNOWN_WITHDRAW_KEY)


# --- private: the key itself -------------------------------------------------------------------------------


def _seconds(moment: datetime | None) -> str:
    return str(int(moment.timestamp())) if moment is not None else facts.SPOT_UNSET_MOMENT


def api_key_info(state: KeyState, _: Params) -> Reply:
    """Field names and encodings as Kraken documents GetApiKeyInfo (nbsupport.venues.kraken_facts):
    unix-second strings with "0" for unset, `ipAllowlist`, `nonceWindow`; no permission needed."""
    key = state.key
    if not key.key_info_enabled:
        return spot_error(SPOT_UNKNOWN_METHOD, status=404)
    if key.key_info_fault is not None:
        return fault_reply(key.key_info_fault, "spot", 0.0)
    digest = hashlib.sha256(key.api_key.encode()).hexdigest().upper()
    iban = f"AA{digest[:2]} {digest[2:6]} {digest[6:10]} {digest[10:14]}"
    start, end = key.query_window
    last_used = state.last_used
    return spot_ok(
        {
            "apiKeyName": key.name,
            "apiKey": key.api_key,
            "nonce": str(state.highest_nonce),
            "nonceWindow": key.nonce_window,
            "permissions": key.kraken_permission_names(),
            "iban": iban,
            "validUntil": _seconds(key.expires_at),
            "queryFrom": _seconds(start),
            "queryTo": _seconds(end),
            "createdTime": _seconds(key.created_at),
            "modifiedTime": _seconds(key.created_at),
            "ipAllowlist": list(key.ip_allowlist),
            "lastUsed": str(int(last_used)) if last_used is not None else None,
        }
    )


PRIVATE: dict[str, PrivateHandler] = {
    "Balance": balance,
    "BalanceEx": balance_ex,
    "TradeBalance": trade_balance,
    "Ledgers": ledgers,
    "QueryLedgers": query_ledgers,
    "OpenOrders": open_orders,
    "OpenPositions": open_positions,
    "ClosedOrders": closed_orders,
    "QueryOrders": query_orders,
    "TradesHistory": trades_history,
    "QueryTrades": query_trades,
    "AddOrder": add_order,
    "AddOrderBatch": add_order_batch,
    "EditOrder": edit_order,
    "AmendOrder": refuse,
    "CancelOrder": cancel_order,
    "CancelOrderBatch": cancel_order,
    "CancelAll": refuse,
    "CancelAllOrdersAfter": refuse,
    "WithdrawMethods": withdraw_methods,
    "WithdrawAddresses": empty_list,
    "WithdrawInfo": withdraw_info,
    "WithdrawStatus": empty_list,
    "Withdraw": refuse,
    "WithdrawCancel": refuse,
    "WalletTransfer": refuse,
    "GetApiKeyInfo": api_key_info,
}
