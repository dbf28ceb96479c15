"""What goes back on the wire: response bodies in each venue's shape, and the pages that faults produce.

Every error string the sandbox answers lives here, next to where it came from, so it can be corrected in one
place once someone observes the real venue saying something else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from nbsupport.sandbox.keys import Fault, Product

# --- Kraken spot error strings -------------------------------------------------------------------------
# Listed by ccxt's kraken `exceptions['exact']` and Kraken's "API error messages" support article.
SPOT_INVALID_KEY = "EAPI:Invalid key"
SPOT_INVALID_SIGNATURE = "EAPI:Invalid signature"
SPOT_INVALID_NONCE = "EAPI:Invalid nonce"
SPOT_PERMISSION_DENIED = "EGeneral:Permission denied"
SPOT_RATE_LIMIT = "EAPI:Rate limit exceeded"
SPOT_LOCKOUT = "EGeneral:Temporary lockout"
SPOT_UNAVAILABLE = "EService:Unavailable"
SPOT_BUSY = "EService:Busy"
SPOT_UNKNOWN_ORDER = "EOrder:Unknown order"
SPOT_UNKNOWN_PAIR = "EQuery:Unknown asset pair"
SPOT_UNKNOWN_WITHDRAW_KEY = "EFunding:Unknown withdraw key"
SPOT_INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
SPOT_UNKNOWN_METHOD = "EGeneral:Unknown method"
# Not confirmed against the live venue: the expiry string is the one the Kraken help guide quotes; the OTP
# string is what third-party Kraken clients match on; an IP-allowlist miss is answered like a missing
# permission because Kraken documents no separate error for it.
SPOT_KEY_EXPIRED = "EGeneral:Permission denied:expired"
SPOT_INVALID_OTP = "EAPI:Invalid otp"
SPOT_IP_NOT_ALLOWED = SPOT_PERMISSION_DENIED
# The sandbox never changes state: refused calls get a Kraken-shaped argument error that names the reason.
SPOT_STATE_CHANGE_REFUSED = "EGeneral:Invalid arguments:sandbox refuses state changes"

# --- Kraken Futures error strings (ccxt krakenfutures `exceptions['exact']`) -------------------------
FUTURES_AUTH_ERROR = "authenticationError"
FUTURES_RATE_LIMIT = "apiLimitExceeded"
FUTURES_NONCE_BELOW = "nonceBelowThreshold"
FUTURES_NONCE_DUPLICATE = "nonceDuplicate"
FUTURES_UNAVAILABLE = "unavailable"
FUTURES_INVALID_ARGUMENT = "invalidArgument"
FUTURES_NOT_FOUND = "notFound"
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

    def form(self) -> dict[str, Any]:
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


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def json_reply(payload: Any, status: int = 200, error: str | None = None) -> Reply:
    return Reply(status, _json(payload), error=error)


def futures_server_time(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def spot_ok(result: Any) -> Reply:
    return Reply(200, _json({"error": [], "result": result}))


def spot_error(message: str, status: int = 200) -> Reply:
    # Kraken spot answers refusals with HTTP 200 and the reason in the `error` array.
    return Reply(status, _json({"error": [message]}), error=message)


def futures_ok(payload: dict[str, Any]) -> Reply:
    body = {"result": "success", **payload, "serverTime": futures_server_time()}
    return Reply(200, _json(body))


def futures_error(error: str, status: int | None = None) -> Reply:
    body = {"result": "error", "error": error, "serverTime": futures_server_time()}
    return Reply(status or FUTURES_STATUS.get(error, 200), _json(body), error=error)


_CLOUDFLARE_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
"""

_GATEWAY_TIMEOUT = """<html>
<head><title>504 Gateway Time-out</title></head>
<body>
<center><h1>504 Gateway Time-out</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
"""

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
