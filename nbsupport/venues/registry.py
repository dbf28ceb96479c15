"""Which venue module serves which ccxt exchange id."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import ccxt

from nbsupport.venues.base import Venue
from nbsupport.venues.binance import Binance
from nbsupport.venues.bybit import Bybit
from nbsupport.venues.coinbase import Coinbase
from nbsupport.venues.generic import Generic
from nbsupport.venues.kraken import KrakenSpot
from nbsupport.venues.krakenfutures import KrakenFutures
from nbsupport.venues.okx import Okx

_BINANCE_FAMILY = frozenset({"binance", "binanceus"})
# ccxt ids -> the module that reads the key's own settings. `myokx`/`okxus` and `bybiteu`/`bybitid` are OKX's
# and Bybit's regional sites: same API on another host, where a key made there exists and nowhere else; the
# module tells the key which host it was tested on.
_KEY_SETTINGS_READERS: dict[str, Callable[[str], Venue]] = {
    "bybit": Bybit, "bybiteu": Bybit, "bybitid": Bybit,
    "okx": Okx, "myokx": Okx, "okxus": Okx,
    "coinbase": Coinbase,
}


@cache
def venue_for(exchange_id: str) -> Venue:
    if exchange_id not in ccxt.exchanges:
        raise ValueError(f"unknown ccxt exchange id {exchange_id[:40]!r}")
    if exchange_id == "kraken":
        return KrakenSpot()
    if exchange_id == "krakenfutures":
        return KrakenFutures()
    if exchange_id in _BINANCE_FAMILY:
        return Binance(exchange_id)
    if exchange_id in _KEY_SETTINGS_READERS:
        return _KEY_SETTINGS_READERS[exchange_id](exchange_id)
    return Generic(exchange_id)
