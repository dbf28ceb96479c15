"""The plain objects a connection test hands back: progress events, the result, a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nbsupport.diagnosis import STRATEGY_SCOPES

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

    def as_dict(self) -> dict[str, str]:
        return {"step": self.step, "status": self.status, "detail": self.detail}


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


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class, despite the name

    key_id: int | None
    test_id: int | None
    outcome: str
    diagnosis: str
    missing_permissions: list[str]
    permissions: dict[str, str]
    exchange_error: str
    requests: int
    duration_ms: int
    fix: dict[str, Any]
    egress_ip: str
    warnings: list[str]
    steps: list[ProgressEvent]
    started_at: datetime
    # Extra facts for support (egress_mismatch, key settings read from the venue); never a secret.
    detail: dict[str, Any] = field(default_factory=dict)
    # Who wrote `exchange_error`: "venue" (its own answer, quotable as "Exchange said"), "console" (our
    # proxy, our client's timeout, the network), None when there is no error.
    error_source: str | None = None
    # Our words for a console-side error ("No answer from the exchange within 10 s"); "" otherwise.
    error_text: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The `retest --json` contract other tools rely on (README), plus test_id, egress_ip (null when no
        request left: no route to claim), warnings, steps, started_at, detail, error_source and error_text."""
        return {
            "key_id": self.key_id,
            "outcome": self.outcome,
            "diagnosis": self.diagnosis,
            "missing_permissions": list(self.missing_permissions),
            "permissions": dict(self.permissions),
            "exchange_error": self.exchange_error,
            "requests": self.requests,
            "duration_ms": self.duration_ms,
            "fix": dict(self.fix),
            "test_id": self.test_id,
            "egress_ip": self.egress_ip or None,
            "warnings": list(self.warnings),
            "steps": [s.as_dict() for s in self.steps],
            "started_at": self.started_at.isoformat(),
            "detail": dict(self.detail),
            "error_source": self.error_source,
            "error_text": self.error_text,
        }


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
