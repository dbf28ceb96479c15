"""One request at a time through a real ccxt client: count it, keep the raw response, read its failure.

ccxt folds very different venue answers into one exception class (`EAPI:Invalid signature` is a plain
`ExchangeError`, HTTP 451 an `ExchangeNotAvailable`, a proxy's 407 an `AuthenticationError`), so the
reading here starts from the HTTP status and the raw body, captured with a `requests` response hook, and
uses the exception class only for failures that never produced a response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVarTuple

import ccxt
import requests

from nbsupport.venues.base import ErrorKind, ProbeFailed, VenueError
from nbsupport.venues.client import release_client

if TYPE_CHECKING:
    from nbsupport.venues.base import Venue

Args = TypeVarTuple("Args")  # a request method's arguments (ccxt's are untyped, so anything goes)

_MAX_CODE = 200
_URL_QUERY = re.compile(r"(https?://[^\s?#]+)\?\S*")
# Long runs of key/signature alphabet: API keys, secrets, signatures, tokens.
_TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{24,}")
# Nonces and millisecond timestamps.
_LONG_NUMBER = re.compile(r"\d{10,}")
_HTML_TITLE = re.compile(r"<title>\s*([^<]{1,80}?)\s*</title>", re.IGNORECASE)
_GEO_WORDS = re.compile(r"restricted (location|jurisdiction)|not available in your (region|country)|"
                        r"block(ed)? access from your country|unavailable for legal reasons", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """A venue message safe to store and show: no credentials, signatures, nonces or URL query strings."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _URL_QUERY.sub(r"\1?[…]", text)
    text = _TOKEN.sub("[redacted]", text)
    text = _LONG_NUMBER.sub("[n]", text)
    text = " ".join(text.split())
    return text[:_MAX_CODE]


@dataclass(frozen=True)
class RawResponse:
    status: int
    content_type: str
    text: str

    def json(self) -> object:
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def is_html(self) -> bool:
        return "html" in self.content_type.lower() or self.text.lstrip()[:15].lower().startswith(
            ("<!doctype", "<html")
        )

    def describe(self) -> str:
        """`HTTP 502 Bad Gateway (HTML page)`: what a page said, without its body."""
        if self.is_html:
            title = _HTML_TITLE.search(self.text)
            label = title.group(1).removeprefix(str(self.status)).strip() if title else ""
            return f"HTTP {self.status} {label}".strip() + " (HTML page)"
        return f"HTTP {self.status}"


class Wire:
    """Wraps one ccxt client for one key. Not shared between threads; `close()` ends its HTTP session and
    hands the client back (nbsupport.venues.client)."""

    def __init__(self, client: ccxt.Exchange, venue: Venue, secrets: Iterable[str]) -> None:
        self.client = client
        self.venue = venue
        self.requests = 0
        self._secrets = tuple(s for s in secrets if s)
        # The hook's response, turned into a RawResponse snapshot as soon as the call returns: a live
        # Response pins its connection, and the session could not close it.
        self._response: requests.Response | None = None
        self._raw_snapshot: RawResponse | None = None
        # The reading of the most recent failed request, for callers that turned it into a scope state.
        self.last_error: VenueError | None = None
        client.session.hooks["response"].append(self._capture)
        original = client.fetch

        def counted_fetch(*args: object, **kwargs: object) -> object:
            # Counted before sending: a request that times out still reached (or tried to reach) the venue.
            self.requests += 1
            return original(*args, **kwargs)

        client.fetch = counted_fetch

    def _capture(self, response: requests.Response, *args: object, **kwargs: object) -> requests.Response:
        self._response = response
        return response

    def _snapshot(self) -> None:
        response, self._response = self._response, None
        if response is None:
            return
        try:
            text = response.content.decode("utf-8", errors="replace")[:4000]
        except requests.RequestException:
            text = ""
        self._raw_snapshot = RawResponse(response.status_code, response.headers.get("Content-Type", ""), text)

    def _raw(self) -> RawResponse | None:
        return self._raw_snapshot

    def call(self, fn: Callable[[*Args], object], *args: *Args) -> object:
        """Send one request; any failure becomes ProbeFailed with a scrubbed reading."""
        self._response = self._raw_snapshot = None
        try:
            return fn(*args)
        except Exception as exc:  # ccxt raises anything from KeyError to its own classes
            self._snapshot()
            self.last_error = self.read_failure(exc)
            raise ProbeFailed(self.last_error) from None
        finally:
            self._snapshot()

    def json(self, fn: Callable[[*Args], object], *args: *Args) -> dict[str, object]:
        """`call`, and insist on a JSON object: anything else is a garbage answer."""
        result = self.call(fn, *args)
        if not isinstance(result, dict):
            raw = self._raw()
            where = raw.describe() if raw is not None else "no response"
            self.last_error = VenueError(ErrorKind.GARBAGE, f"unparseable response ({where})",
                                         raw.status if raw else None)
            raise ProbeFailed(self.last_error)
        return result

    def fail(self, kind: ErrorKind, code: str) -> ProbeFailed:
        """A failure the venue module detected in an answer that ccxt accepted."""
        raw = self._raw()
        self.last_error = VenueError(kind, self.scrub(code), raw.status if raw else None)
        return ProbeFailed(self.last_error)

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def read_failure(self, exc: BaseException) -> VenueError:
        raw = self._raw()
        if raw is None or _transport_failed(exc):
            return _without_response(exc)
        if raw.status == 407:
            return VenueError(ErrorKind.PROXY, "HTTP 407 from the egress proxy", 407, source="console")
        if raw.status == 451:
            return VenueError(ErrorKind.REGION, raw.describe(), 451)
        reading = self.venue.read_error(raw, exc)
        if reading is not None:
            return VenueError(reading.kind, self.scrub(reading.code), raw.status)
        return read_http_status(raw, exc)

    def close(self) -> None:
        self._response = None
        release_client(self.client)


def read_http_status(raw: RawResponse, exc: BaseException) -> VenueError:
    """The reading of a response the venue module did not recognise: status line and page shape."""
    status = raw.status
    if raw.is_html and _GEO_WORDS.search(raw.text):
        return VenueError(ErrorKind.REGION, raw.describe(), status)
    if status in (418, 429):
        return VenueError(ErrorKind.RATE_LIMIT, f"HTTP {status}", status)
    if status >= 500 or (raw.is_html and status >= 400):
        return VenueError(ErrorKind.UNAVAILABLE, raw.describe(), status)
    if raw.json() is None:
        return VenueError(ErrorKind.GARBAGE, f"unparseable response ({raw.describe()})", status)
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return VenueError(ErrorKind.RATE_LIMIT, f"HTTP {status}", status)
    # The status is the venue's; ccxt's exception class name is not, so it is not part of the code.
    return VenueError(ErrorKind.OTHER, f"HTTP {status}", status)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    # Stop at our own ProbeFailed: beyond it lie earlier, unrelated requests.
    while current is not None and current not in seen and not isinstance(current, ProbeFailed):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _transport_failed(exc: BaseException) -> bool:
    """The connection broke (even after the status line arrived); an HTTP error status is not that."""
    broken = (e for e in _chain(exc) if not isinstance(e, requests.HTTPError))
    return any(isinstance(e, requests.RequestException) for e in broken)


def _without_response(exc: BaseException) -> VenueError:
    """No HTTP response at all: timeout, refused, DNS, a connection dropped mid-body, or our own proxy.
    The venue said nothing, so every reading here is the console's own (`source="console"`)."""
    chain = _chain(exc)
    if any(isinstance(e, requests.exceptions.ProxyError) for e in chain):
        return VenueError(ErrorKind.PROXY, "egress proxy unreachable", source="console")
    if isinstance(exc, ccxt.RequestTimeout) or any(isinstance(e, requests.Timeout) for e in chain):
        return VenueError(ErrorKind.TIMEOUT, "timeout", source="console")
    text = " ".join(type(e).__name__ + " " + str(e) for e in chain[1:]).lower()
    if "refused" in text:
        return VenueError(ErrorKind.NETWORK, "connection refused", source="console")
    if "name resolution" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return VenueError(ErrorKind.NETWORK, "DNS lookup failed", source="console")
    if isinstance(exc, ccxt.NetworkError) or any(isinstance(e, requests.RequestException) for e in chain):
        return VenueError(ErrorKind.NETWORK, "connection failed", source="console")
    return VenueError(ErrorKind.OTHER, type(exc).__name__, source="console")
