"""What a connection test is given and reports on the way: key facts, progress events, a refusal, our
words for our own failures (the outcome itself: nbsupport.conntest.outcome)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from nbsupport.diagnosis import STRATEGY_SCOPES
from nbsupport.plain import plain_dict

if TYPE_CHECKING:
    from nbsupport.keys import SharedKey


class RetestRefused(Exception):
    """A re-test that was not started; the message is written for the agent who asked."""

    def __init__(self, reason: str, retry_after_s: int, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # "in_progress" | "cooldown" | "venue_not_served" (demo sandbox)
        self.retry_after_s = retry_after_s


@dataclass
class ProgressEvent:
    step: str  # "preflight" | "balance" | "key_info" | "scope:<scope>" | "sibling"
    status: str  # "running" | "ok" | "failed" | "skipped" | "warning"
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return plain_dict(self)


@dataclass(frozen=True)
class KeyMeta:
    """What the test needs to know about a stored key besides its credentials (never a secret)."""

    key_id: int | None = None
    exchange: str = "kraken"
    required_scopes: tuple[str, ...] = tuple(s.value for s in STRATEGY_SCOPES)
    expires_at: datetime | None = None
    rotated_at: datetime | None = None
    # The addresses the user says they whitelisted on the venue (stored at key entry).
    ip_whitelist: tuple[str, ...] = ()
    # Other stored keys holding the same API key (nbsupport.keys.shared_with), read with the key.
    shared_with: tuple[SharedKey, ...] = ()


# Our own failures, in words that say they are ours (the codes are `nbsupport.venues.wire`'s readings).
_CONSOLE_ERRORS = {
    "egress proxy unreachable": "Our egress proxy could not connect to the exchange",
    "HTTP 407 from the egress proxy": "Our egress proxy refused the request (HTTP 407, its own sign-in)",
    "connection refused": "Our connection to the exchange was refused before it answered",
    "DNS lookup failed": "Our server could not look up the exchange's address (DNS)",
    "connection failed": "Our connection to the exchange broke before it answered",
}


def console_error_text(code: str, timeout_ms: int) -> str:
    """The sentence for a failure the venue did not write: names our side, never "Exchange said"."""
    if code == "timeout":
        return f"No answer from the exchange within {timeout_ms / 1000:g} s (our client stopped waiting)"
    return _CONSOLE_ERRORS.get(code, f"Our client failed before the exchange answered ({code})")
