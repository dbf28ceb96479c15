"""What goes back on the wire: response bodies in each venue's shape, and the pages that faults produce.

Every error string the sandbox answers lives here, next to where it came from, so it can be corrected in one
place once someone observes the real venue saying something else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from nbsupport.sandbox.keys import Fault, Product
from nbsupport.venues import kraken_facts as facts

# --- Kraken spot error strings -------------------------------------------------------------------------
# The documented ones come from nbsupport.venues.kraken_facts (sources and unconfirmed facts listed there),
# so the sandbox and the engine read from one table.
SPOT_INVALID_KEY = facts.SPOT_INVALID_KEY
SPOT_INVALID_SIGNATURE = facts.SPOT_INVALID_SIGNATURE
SPOT_INVALID_NONCE = facts.SPOT_INVALID_NONCE
SPOT_PERMISSION_DENIED = facts.SPOT_PERMISSION_DENIED
SPOT_RATE_LIMIT = facts.SPOT_RATE_LIMIT
SPOT_LOCKOUT = facts.SPOT_TEMPORARY_LOCKOUT
SPOT_UNAVAILABLE = facts.SPOT_SERVICE_UNAVAILABLE
SPOT_BUSY = facts.SPOT_SERVICE_BUSY
SPOT_UNKNOWN_METHOD = facts.SPOT_UNKNOWN_METHOD
SPOT_UNKNOWN_ORDER = "EOrder:Unknown order"
SPOT_UNKNOWN_PAIR = "EQuery:Unknown asset pair"
SPOT_UNKNOWN_WITHDRAW_KEY = "EFunding:Unknown withdraw key"
SPOT_INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
# A disabled or expired key is refused as an invalid key (Kraken's support text), never with its own error.
SPOT_KEY_EXPIRED = facts.SPOT_INVALID_KEY
# Unconfirmed (kraken_facts): an address outside the allowlist is answered like a missing permission.
SPOT_IP_NOT_ALLOWED = facts.SPOT_IP_NOT_ALLOWED_ANSWER
# The OTP string is what third-party Kraken clients match on; Kraken's docs do not list it.
SPOT_INVALID_OTP = "EAPI:Invalid otp"
# The sandbox never changes state: refused calls get a Kraken-shaped argument error that names the reason.
SPOT_STATE_CHANGE_REFUSED = "EGeneral:Invalid arguments:sandbox refuses state changes"

# --- Kraken Futures error strings (kraken_facts) ----------------------------------------------------------
FUTURES_AUTH_ERROR = facts.FUTURES_AUTHENTICATION_ERROR
FUTURES_RATE_LIMIT = facts.FUTURES_API_LIMIT_EXCEEDED
FUTURES_NONCE_BELOW = facts.FUTURES_NONCE_BELOW_THRESHOLD
FUTURES_NONCE_DUPLICATE = facts.FUTURES_NONCE_DUPLICATE
FUTURES_UNAVAILABLE = facts.FUTURES_UNAVAILABLE
FUTURES_INVALID_ARGUMENT = facts.FUTURES_INVALID_ARGUMENT
FUTURES_NOT_FOUND = facts.FUTURES_NOT_FOUND
# HTTP status per futures error. The key-check endpoint documents 401 for a bad key or signature; the rest
# are the sandbox's best guess (ccxt reads the body's `error` field first, whatever the status).
FUTURES_STATUS: dict[str, int] = {
    FUTURES_AUTH_ERROR: 401,
    FUTURES_RATE_LIMIT: 429,
    FUTURES_UNAVAILABLE: 503,
    FUTURES_NOT_FOUND: 404,
}


@dataclass(frozen=True)
class Incoming:
    """One request as the venue sees it. Header names are matched case-insensitively."""

    method: str
    path: str
    query: str  # raw, still URL-encoded
    headers: Mapping[str, str]
    body: bytes
    peer_ip: str

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def form(self) -> dict[str, object]:
        """Body parameters: JSON when the client said so (ccxt does for some kraken calls), else form data."""
        content_type = (self.header("Content-Type") or "").lower()
        if "json" in content_type:
            try:
                parsed = json.loads(self.text or "{}")
            except ValueError:
                return {}
            return parsed if isinstance(parsed, dict) else {}
        return dict(parse_qsl(self.text, keep_blank_values=True))

    def query_params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    # What the log records as the outcome: the venue error string or the fault name.
    error: str | None = None
    # Send the headers and part of the body, then cut the connection.
    drop: bool = False
    # Hold the request this long before answering (the timeout fault).
    hang_s: float = 0.0


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def json_reply(payload: object, status: int = 200, error: str | None = None) -> Reply:
    return Reply(status, _json(payload), error=error)


def futures_server_time(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def spot_ok(result: object) -> Reply:
    return Reply(200, _json({"error": [], "result": result}))


def spot_error(message: str, status: int = 200) -> Reply:
    # Kraken spot answers refusals with HTTP 200 and the reason in the `error` array.
    return Reply(status, _json({"error": [message]}), error=message)


def futures_ok(payload: dict[str, object]) -> Reply:
    body = {"result": "success", **payload, "serverTime": futures_server_time()}
    return Reply(200, _json(body))


def futures_error(error: str, status: int | None = None) -> Reply:
    body = {"result": "error", "error": error, "serverTime": futures_server_time()}
    return Reply(status or FUTURES_STATUS.get(error, 200), _json(body), error=error)


def futures_auth_service_refusal(suberror: str) -> Reply:
    """The auth service's documented 401 (Error schema: error, message, suberror; values unconfirmed)."""
    body = {"error": facts.FUTURES_KEY_CHECK_401_ERROR, "message": facts.FUTURES_KEY_CHECK_401_MESSAGE,
            "suberror": suberror}
    return Reply(401, _json(body), error=facts.FUTURES_KEY_CHECK_401_ERROR)


def _cloudflare_page(status: str) -> str:
    """The error page Cloudflare, in front of the venues' APIs, answers in place of JSON."""
    return (f"<html>\n<head><title>{status}</title></head>\n<body>\n<center><h1>{status}</h1></center>\n"
            "<hr><center>cloudflare</center>\n</body>\n</html>\n")


_CLOUDFLARE_502 = _cloudflare_page("502 Bad Gateway")
_NOT_FOUND = _cloudflare_page("404 Not Found")
_GATEWAY_TIMEOUT = _cloudflare_page("504 Gateway Time-out")

_REGION_BLOCKED = """<html>
<head><title>451 Unavailable For Legal Reasons</title></head>
<body>
<h1>Unavailable For Legal Reasons</h1>
<p>This service is not available in your region.</p>
</body>
</html>
"""

_GARBAGE = "upstream connect error or disconnect/reset before headers. reset reason: overflow"


def fault_reply(fault: Fault, product: Product, timeout_s: float) -> Reply:
    """The edge's answer for a fault, in the shape the product's clients would see it."""
    name = fault.value
    if fault is Fault.SERVICE_UNAVAILABLE:
        return spot_error(SPOT_UNAVAILABLE) if product == "spot" else futures_error(FUTURES_UNAVAILABLE)
    if fault is Fault.BUSY:
        return spot_error(SPOT_BUSY) if product == "spot" else futures_error(FUTURES_UNAVAILABLE)
    if fault is Fault.RATE_LIMITED:
        return spot_error(SPOT_RATE_LIMIT) if product == "spot" else futures_error(FUTURES_RATE_LIMIT)
    if fault is Fault.LOCKOUT:
        return spot_error(SPOT_LOCKOUT) if product == "spot" else futures_error(FUTURES_RATE_LIMIT)
    if fault is Fault.HTML_502:
        return Reply(502, _CLOUDFLARE_502.encode(), "text/html", error=name)
    if fault is Fault.HTML_404:
        return Reply(404, _NOT_FOUND.encode(), "text/html", error=name)
    if fault is Fault.HTTP_429:
        return Reply(429, b"Too Many Requests", "text/plain", error=name)
    if fault is Fault.REGION_BLOCKED:
        return Reply(451, _REGION_BLOCKED.encode(), "text/html", error=name)
    if fault is Fault.TIMEOUT:
        return Reply(504, _GATEWAY_TIMEOUT.encode(), "text/html", error=name, hang_s=timeout_s)
    if fault is Fault.DROP_CONNECTION:
        return Reply(200, b'{"error":[],"result":{"ZUSD":"12', error=name, drop=True)
    if fault is Fault.TRUNCATED_JSON:
        return Reply(200, b'{"error":[],"result":{"ZUSD":"12', error=name)
    if fault is Fault.EMPTY_BODY:
        return Reply(200, b"", error=name)
    # A proxy somewhere on the path answering for the venue: a 200 that is not JSON at all.
    return Reply(200, _GARBAGE.encode(), "text/plain", error=name)
