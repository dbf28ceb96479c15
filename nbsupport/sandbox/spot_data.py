"""Static Kraken spot market data and a small deterministic account history, shaped as Kraken documents
them (and as ccxt's kraken parser reads them)."""

from __future__ import annotations

from datetime import datetime

_FEES_TAKER = [[0, 0.26], [50000, 0.24], [100000, 0.22], [250000, 0.2], [500000, 0.18], [1000000, 0.16]]
_FEES_MAKER = [[0, 0.16], [50000, 0.14], [100000, 0.12], [250000, 0.1], [500000, 0.08], [1000000, 0.06]]

ASSETS: dict[str, dict[str, object]] = {
    "XXBT": {
        "aclass": "currency",
        "altname": "XBT",
        "decimals": 10,
        "display_decimals": 5,
        "status": "enabled",
    },
    "XETH": {
        "aclass": "currency",
        "altname": "ETH",
        "decimals": 10,
        "display_decimals": 5,
        "status": "enabled",
    },
    "ZUSD": {
        "aclass": "currency",
        "altname": "USD",
        "decimals": 4,
        "display_decimals": 2,
        "status": "enabled",
    },
}


def _pair(
    altname: str, wsname: str, base: str, quote: str, pair_dec: int, lot_dec: int, ordermin: str, costmin: str
) -> dict[str, object]:
    return {
        "altname": altname,
        "wsname": wsname,
        "aclass_base": "currency",
        "base": base,
        "aclass_quote": "currency",
        "quote": quote,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": pair_dec,
        "lot_decimals": lot_dec,
        "lot_multiplier": 1,
        "leverage_buy": [2, 3, 4, 5],
        "leverage_sell": [2, 3, 4, 5],
        "fees": _FEES_TAKER,
        "fees_maker": _FEES_MAKER,
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": ordermin,
        "costmin": costmin,
        "tick_size": "0.1" if pair_dec == 1 else "0.01",
        "status": "online",
    }


ASSET_PAIRS: dict[str, dict[str, object]] = {
    "XXBTZUSD": _pair("XBTUSD", "XBT/USD", "XXBT", "ZUSD", 1, 8, "0.00005", "0.5"),
    "XETHZUSD": _pair("ETHUSD", "ETH/USD", "XETH", "ZUSD", 2, 8, "0.002", "0.5"),
}

# Every name a client may use for a pair (Kraken accepts the id, the altname and the wsname).
PAIR_ALIASES: dict[str, str] = {
    alias: pair_id
    for pair_id, info in ASSET_PAIRS.items()
    for alias in (pair_id, str(info["altname"]), str(info["wsname"]))
}

_ORDER_ID = "OQCLML-BW3P3-BUCMWZ"
_TRADE_ID = "TZX2WP-XSEOP-FP7WYR"
_FILL_TIME = 1740999600.1234  # 2025-03-03T11:00:00Z

CLOSED_ORDERS: dict[str, dict[str, object]] = {
    _ORDER_ID: {
        "refid": None,
        "userref": 0,
        "status": "closed",
        "reason": None,
        "opentm": _FILL_TIME - 0.5,
        "closetm": _FILL_TIME,
        "starttm": 0,
        "expiretm": 0,
        "descr": {
            "pair": "XBTUSD",
            "type": "buy",
            "ordertype": "limit",
            "price": "90000.0",
            "price2": "0",
            "leverage": "none",
            "order": "buy 0.00100000 XBTUSD @ limit 90000.0",
            "close": "",
        },
        "vol": "0.00100000",
        "vol_exec": "0.00100000",
        "cost": "90.00000",
        "fee": "0.23400",
        "price": "90000.0",
        "stopprice": "0.00000",
        "limitprice": "0.00000",
        "misc": "",
        "oflags": "fciq",
        "trades": [_TRADE_ID],
    }
}

TRADES: dict[str, dict[str, object]] = {
    _TRADE_ID: {
        "ordertxid": _ORDER_ID,
        "postxid": "TKH2SE-M7IF5-CFI7LT",
        "pair": "XXBTZUSD",
        "time": _FILL_TIME,
        "type": "buy",
        "ordertype": "limit",
        "price": "90000.00000",
        "cost": "90.00000",
        "fee": "0.23400",
        "vol": "0.00100000",
        "margin": "0.00000",
        "misc": "",
        "trade_id": 40274859,
        "maker": True,
    }
}

LEDGER: dict[str, dict[str, object]] = {
    "L4UESK-KG3EQ-UFO4T5": {
        "refid": _TRADE_ID,
        "time": _FILL_TIME,
        "type": "trade",
        "subtype": "",
        "aclass": "currency",
        "asset": "ZUSD",
        "amount": "-90.2340",
        "fee": "0.0000",
        "balance": "1250.0000",
    },
    "LTCW2C-3QHKB-RGNIKZ": {
        "refid": _TRADE_ID,
        "time": _FILL_TIME,
        "type": "trade",
        "subtype": "",
        "aclass": "currency",
        "asset": "XXBT",
        "amount": "0.0010000000",
        "fee": "0.0000000000",
        "balance": "0.0421000000",
    },
}

WITHDRAW_METHODS: list[dict[str, object]] = [
    {"asset": "XXBT", "method": "Bitcoin", "network": "Bitcoin", "minimum": "0.0004"},
    {"asset": "XETH", "method": "Ether", "network": "Ethereum", "minimum": "0.004"},
]


def within(timestamp: float, window: tuple[datetime | None, datetime | None]) -> bool:
    start, end = window
    if start is not None and timestamp < start.timestamp():
        return False
    return not (end is not None and timestamp > end.timestamp())


def filter_by_time(
    entries: dict[str, dict[str, object]], field_name: str, window: tuple[datetime | None, datetime | None]
) -> dict[str, dict[str, object]]:
    return {k: v for k, v in entries.items() if within(_unix_time(v, field_name), window)}


def _unix_time(entry: dict[str, object], field_name: str) -> float:
    value = entry[field_name]
    if not isinstance(value, int | float):
        raise TypeError(f"{field_name} holds {type(value).__name__}, not a unix time")
    return float(value)
