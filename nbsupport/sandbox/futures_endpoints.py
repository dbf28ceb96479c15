"""Kraken Futures endpoint bodies, shaped as the Futures REST docs show them and ccxt's parser reads."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from nbsupport.sandbox.state import KeyState
from nbsupport.sandbox.wire import (
    FUTURES_INVALID_ARGUMENT,
    Reply,
    fault_reply,
    futures_error,
    futures_ok,
    futures_server_time,
    json_reply,
)
from nbsupport.venues import kraken_facts as facts

Params = dict[str, str]

_FILL_TIME = datetime(2025, 3, 3, 11, 0, 0, 123000, tzinfo=UTC)
_USD_PRICE = {"USD": Decimal(1), "XBT": Decimal(90000), "ETH": Decimal(3000)}


def _instrument(symbol: str, tick: float, precision: int) -> dict[str, object]:
    return {
        "symbol": symbol,
        "type": "flexible_futures",
        "underlying": "rr_" + symbol.split("_")[1].lower(),
        "tickSize": tick,
        "contractSize": 1,
        "tradeable": True,
        "impactMidSize": 1,
        "maxPositionSize": 1000000,
        "openingDate": "2022-01-01T00:00:00.000Z",
        "marginLevels": [{"numNonContractUnits": 0, "initialMargin": 0.02, "maintenanceMargin": 0.01}],
        "fundingRateCoefficient": 8,
        "maxRelativeFundingRate": 0.001,
        "isin": "GB00J62YGL67",
        "contractValueTradePrecision": precision,
        "postOnly": False,
        "feeScheduleUid": "eef90775-995b-4596-9257-0917f6134766",
        "retailMarginLevels": [{"numNonContractUnits": 0, "initialMargin": 0.5, "maintenanceMargin": 0.25}],
        "category": "Layer 1",
        "tags": [],
    }


INSTRUMENTS: list[dict[str, object]] = [
    _instrument("PF_XBTUSD", 1.0, 4),
    _instrument("PF_ETHUSD", 0.1, 3),
]


def instruments(_: Params) -> Reply:
    return futures_ok({"instruments": INSTRUMENTS})


def tickers(_: Params) -> Reply:
    rows = [
        {
            "symbol": i["symbol"],
            "tag": "perpetual",
            "pair": str(i["symbol"])[3:6] + ":USD",
            "markPrice": 90000.0,
            "suspended": False,
            "postOnly": False,
        }
        for i in INSTRUMENTS
    ]
    return futures_ok({"tickers": rows})


PUBLIC: dict[str, Callable[[Params], Reply]] = {"instruments": instruments, "tickers": tickers}


def futures_asset(kraken_asset: str) -> str:
    """Spot-style asset ids (XXBT, ZUSD) to the futures spelling (XBT, USD)."""
    if len(kraken_asset) == 4 and kraken_asset[0] in "XZ":
        return kraken_asset[1:]
    return kraken_asset


def accounts(state: KeyState, _: Params) -> Reply:
    holdings = {futures_asset(a): Decimal(v) for a, v in state.key.balances.items()}
    value = sum((q * _USD_PRICE.get(a, Decimal(0)) for a, q in holdings.items()), Decimal(0))
    total = float(value)
    flex = {
        "type": "multiCollateralMarginAccount",
        "currencies": {
            a: {
                "quantity": float(q),
                "value": float(q * _USD_PRICE.get(a, Decimal(0))),
                "collateral": float(q * _USD_PRICE.get(a, Decimal(0))),
                "available": float(q),
            }
            for a, q in holdings.items()
        },
        "initialMargin": 0.0,
        "initialMarginWithOrders": 0.0,
        "maintenanceMargin": 0.0,
        "balanceValue": total,
        "portfolioValue": total,
        "collateralValue": total,
        "pnl": 0.0,
        "unrealizedFunding": 0.0,
        "totalUnrealized": 0.0,
        "totalUnrealizedAsMargin": 0.0,
        "availableMargin": total,
        "marginEquity": total,
    }
    cash = {"type": "cashAccount", "balances": {a.lower(): str(q) for a, q in holdings.items()}}
    return futures_ok({"accounts": {"cash": cash, "flex": flex}})


def open_positions(_: KeyState, __: Params) -> Reply:
    return futures_ok({"openPositions": []})


def open_orders(_: KeyState, __: Params) -> Reply:
    return futures_ok({"openOrders": []})


def _in_window(state: KeyState, moment: datetime) -> bool:
    start, end = state.key.query_window
    return not ((start is not None and moment < start) or (end is not None and moment > end))


def fills(state: KeyState, params: Params) -> Reply:
    """Fills before `lastFillTime` (ISO 8601) when given, newest first."""
    rows: list[dict[str, object]] = []
    before = params.get("lastFillTime")
    cutoff = datetime.fromisoformat(before.replace("Z", "+00:00")) if before else None
    if _in_window(state, _FILL_TIME) and (cutoff is None or cutoff > _FILL_TIME):
        rows.append(
            {
                "fill_id": "3d57ed09-fbd6-44f1-8e8b-b10e551c5e73",
                "symbol": "PF_XBTUSD",
                "side": "buy",
                "order_id": "693af756-055e-47ef-99d5-bcf4c456ebc5",
                "size": 0.001,
                "price": 90000,
                "fillTime": futures_server_time(_FILL_TIME),
                "fillType": "maker",
            }
        )
    return futures_ok({"fills": rows})


def account_uid(state: KeyState) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(state.key.api_key.encode()).digest()[:16]))


def history(state: KeyState, _: Params) -> Reply:
    """The history service has no `result` field: elements, a length, and the server time."""
    body = {"accountUid": account_uid(state), "elements": [], "len": 0, "serverTime": futures_server_time()}
    return json_reply(body)


def cancel_order(_: KeyState, params: Params) -> Reply:
    # No order ever rests in the sandbox, so every cancel reports it as not found.
    status = {"status": "notFound", "receivedTime": futures_server_time()}
    if params.get("order_id"):
        status["order_id"] = params["order_id"]
    if params.get("cliOrdId"):
        status["cliOrdId"] = params["cliOrdId"]
    return futures_ok({"cancelStatus": status})


def refuse(_: KeyState, __: Params) -> Reply:
    return futures_error(FUTURES_INVALID_ARGUMENT, status=400)


def check_api_key(state: KeyState, _: Params) -> Reply | None:
    """`/api/auth/v1/api-keys/v3/check`, CheckedV3ApiKeyDetails as Kraken documents it
    (nbsupport.venues.kraken_facts): `permissions` is {"general", "transfer"}, each NO_ACCESS, READ_ONLY or
    FULL_ACCESS; the allowlist as `allowedCidrBlock` (the first) and `allowedCidrBlocks`."""
    key = state.key
    if not key.key_info_enabled:
        return None
    if key.key_info_fault is not None:
        return fault_reply(key.key_info_fault, "futures", 0.0)
    digest = hashlib.sha256(("iiban" + key.api_key).encode()).hexdigest().upper()
    blocks = [b if "/" in b else (b + "/128" if ":" in b else b + "/32") for b in key.ip_allowlist]
    body = {
        "apiKey": key.api_key,
        "accountUid": account_uid(state),
        "iiban": f"AA{digest[:2]} {digest[2:6]} {digest[6:10]} {digest[10:14]}",
        "createdAt": key.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "permissions": {
            facts.FUTURES_PERMISSION_GENERAL: key.futures_general_access(),
            facts.FUTURES_PERMISSION_TRANSFER: key.futures_transfer_access(),
        },
        "allowedCidrBlock": blocks[0] if blocks else None,
        "allowedCidrBlocks": blocks,
    }
    return json_reply(body)
