"""One module per venue family for the connection test: requests, offline checks, error vocabulary.

`registry.venue_for(exchange_id)` picks the module (kraken, krakenfutures, binance, bybit, okx, coinbase,
generic); `client` builds the ccxt client (URL override, egress proxy, no rate limiter); `wire` sends one
request at a time and reads failures from the raw response; `urls` rewrites a client's API URLs.
"""
