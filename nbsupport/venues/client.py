"""Build the ccxt client a connection test uses: the same code path in production and against the sandbox.

* `enableRateLimit` is off. ccxt's sync throttle sleeps `rateLimit x cost` before every call (Kraken:
  1000 ms x 3 for a private call, so 3 s between probes); a test sends a handful of requests per key,
  strictly one after another, and the per-key lease and cooldown are what protect the key's budget.
* `timeout` is `settings.request_timeout_ms` per request (bounded to 15 s by the settings model).
* The egress proxy is ccxt's `httpsProxy` for https API URLs (requests tunnels with CONNECT) and
  `httpProxy` for http ones (the sandbox). ccxt passes `proxies={"http": ...}` or `{"https": ...}` and
  requests picks the entry by the URL's scheme, so the other property would silently go direct.
* `settings.exchange_urls[exchange_id]` replaces scheme and host of every API URL (nbsupport.venues.urls);
  production simply has no entry.
* ccxt logs request headers (the API key) at DEBUG; the client gets a logger pinned at WARNING and the
  `ccxt` logger is raised to WARNING whenever a client is built.
* Building a ccxt client costs about 2 ms of CPU (its API description is merged and its implicit methods
  defined), as much as the two requests of a healthy test. Each thread keeps its configured clients
  between tests: `release_client` forgets the credentials, everything the last request left behind and
  the HTTP session (a test never reuses another key's connection), and `build_client` binds the next
  credentials and a fresh session.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import ccxt
import requests

from nbsupport.config import Settings
from nbsupport.credentials import Credentials
from nbsupport.venues.base import Venue
from nbsupport.venues.urls import rewrite_urls

_CLIENT_LOGGER = logging.getLogger("nbsupport.venues.ccxt")
_CLIENT_LOGGER.setLevel(logging.WARNING)


def guard_ccxt_logger() -> None:
    """Raise the `ccxt` loggers to WARNING if anything lowered them (they would log the API-Key header)."""
    for name in ("ccxt", "ccxt.base.exchange"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    if _CLIENT_LOGGER.level < logging.WARNING:
        _CLIENT_LOGGER.setLevel(logging.WARNING)


def _leaf_urls(tree: object) -> Iterator[str]:
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, Mapping):
        for value in tree.values():
            yield from _leaf_urls(value)
    elif isinstance(tree, Sequence):
        for value in tree:
            yield from _leaf_urls(value)


def api_scheme(client: ccxt.Exchange) -> str:
    schemes = {urlsplit(u).scheme for u in _leaf_urls(client.urls.get("api")) if "://" in u}
    schemes.discard("ws")
    schemes.discard("wss")
    if len(schemes) != 1:
        raise ValueError(f"{client.id}: API URLs mix schemes {sorted(schemes)}; one proxy cannot cover both")
    return schemes.pop()


_IDLE = threading.local()
_CREDENTIAL_FIELDS = ("apiKey", "secret", "password", "uid")
_LAST_EXCHANGE = ("last_request_url", "last_request_headers", "last_request_body", "last_http_response",
                  "last_json_response", "last_response_headers")


# Everything a client's configuration depends on, credentials aside: exchange id, venue class, request
# timeout, origin override, egress proxy.
ClientShape = tuple[str, type[Venue], int, str | None, str]


def _idle_clients() -> dict[ClientShape, ccxt.Exchange]:
    idle: dict[ClientShape, ccxt.Exchange] | None = getattr(_IDLE, "clients", None)
    if idle is None:
        idle = _IDLE.clients = {}
    return idle


def _shape(exchange_id: str, settings: Settings, venue: Venue) -> ClientShape:
    return (exchange_id, type(venue), settings.request_timeout_ms, settings.exchange_urls.get(exchange_id),
            settings.egress_proxy)


def _configured_client(exchange_id: str, settings: Settings, venue: Venue) -> ccxt.Exchange:
    exchange_class = getattr(ccxt, exchange_id)
    client: ccxt.Exchange = exchange_class(
        {"enableRateLimit": False, "timeout": settings.request_timeout_ms, "verbose": False}
    )
    client.logger = _CLIENT_LOGGER
    venue.configure(client)
    origin = settings.exchange_urls.get(exchange_id)
    if origin:
        client.urls["api"] = rewrite_urls(client.urls["api"], origin)
    if settings.egress_proxy:
        if api_scheme(client) == "https":
            client.httpsProxy = settings.egress_proxy
        else:
            client.httpProxy = settings.egress_proxy
    return client


def build_client(
    exchange_id: str, credentials: Credentials, settings: Settings, venue: Venue
) -> ccxt.Exchange:
    """A client for one test of one key; hand it back with `release_client` when the test is over."""
    guard_ccxt_logger()
    shape = _shape(exchange_id, settings, venue)
    client = _idle_clients().pop(shape, None) or _configured_client(exchange_id, settings, venue)
    client._nbsupport_shape = shape
    for name, value in credentials.ccxt_config().items():
        setattr(client, name, value)
    client.session = requests.Session()
    client.session.trust_env = client.requests_trust_env
    return client


def release_client(client: ccxt.Exchange) -> None:
    """End the client's HTTP session, forget the key and the last exchange, keep it for this thread."""
    # Markets and currencies a venue loaded go too, so the next test costs what a fresh client's would.
    client.close(clean_instance_data=True)
    client.session = None
    for name in (*_CREDENTIAL_FIELDS, *_LAST_EXCHANGE):
        setattr(client, name, None)
    # Instance attributes a caller put on top of the class's methods (the Wire's request counter).
    client.__dict__.pop("fetch", None)
    shape = getattr(client, "_nbsupport_shape", None)
    if shape is not None:
        _idle_clients()[shape] = client
