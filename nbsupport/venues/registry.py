"""Which venue module serves which ccxt exchange id."""

from __future__ import annotations

from functools import cache

import ccxt

from nbsupport.venues.base import Venue
from nbsupport.venues.binance import Binance
from nbsupport.venues.generic import Generic
from nbsupport.venues.kraken import KrakenSpot
from nbsupport.venues.krakenfutures import KrakenFutures

_BINANCE_FAMILY = frozenset({"binance", "binanceus"})


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
    return Generic(exchange_id)
