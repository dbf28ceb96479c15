"""Point a ccxt exchange at another origin (the sandbox, a staging gateway) while keeping every path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

UrlTree: TypeAlias = str | Mapping[str, "UrlTree"] | Sequence["UrlTree"]
T = TypeVar("T", bound=UrlTree)

_SCHEMES = ("http", "https", "ws", "wss")


def _origin_parts(origin: str) -> tuple[str, str]:
    parts = urlsplit(origin.strip())
    if parts.scheme not in _SCHEMES or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    return parts.scheme, parts.netloc


def _rewrite(value: object, scheme: str, netloc: str) -> object:
    # `object`, not UrlTree: ccxt's URL trees are untyped, and whatever else they hold is kept as it is.
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme not in _SCHEMES or not parts.netloc:
            return value
        # Websocket URLs stay websocket URLs, secured exactly when the new origin is.
        if parts.scheme in ("ws", "wss"):
            new_scheme = "wss" if scheme in ("https", "wss") else "ws"
        else:
            new_scheme = "https" if scheme in ("https", "wss") else "http"
        return urlunsplit((new_scheme, netloc, parts.path, parts.query, parts.fragment))
    if isinstance(value, Mapping):
        return {k: _rewrite(v, scheme, netloc) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_rewrite(v, scheme, netloc) for v in value]
    return value


def rewrite_urls(urls: T, origin: str) -> T:
    """A copy of `urls` (a URL, or ccxt's nested `urls['api']`) with every URL's scheme and host replaced.

    `https://api.kraken.com/0/private/Balance` -> `http://127.0.0.1:9000/0/private/Balance`. Strings that are
    not absolute URLs are left alone; the input is never modified.
    """
    scheme, netloc = _origin_parts(origin)
    return cast(T, _rewrite(urls, scheme, netloc))
