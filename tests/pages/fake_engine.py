"""A stand-in for `run_retest` / `recorded_tests` with the engine's contract and types, so every branch of
the re-test UI is reachable without a venue: it reports progress from another thread, as a parallel
engine may."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nbsupport.conntest import ConnectionOutcome, ProgressEvent, RecordedTest, RetestRefused
from nbsupport.crypto import MasterKeyMissing


@dataclass
class FakeEngine:
    """Behaviour set per test: `mode` is ok | warning | failed | cooldown | in_progress | no_master_key."""

    mode: str = "failed"
    calls: list[dict[str, Any]] = field(default_factory=list)
    history: list[RecordedTest] = field(default_factory=list)

    def run_retest(self, console: Any, key_id: int, *, actor: Any, ticket: str = "", trigger: str = "retest",
                   progress: Callable[[ProgressEvent], None] | None = None,
                   ignore_cooldown: bool = False,
                   on_record: Callable[[Any, ConnectionOutcome], None] | None = None) -> ConnectionOutcome:
        self.calls.append({"key_id": key_id, "actor": actor, "ticket": ticket, "trigger": trigger})
        if self.mode in ("cooldown", "in_progress"):
            # The real engine's message is one sentence that ends with its retry hint.
            raise RetestRefused(self.mode, 42, f"this key was re-tested moments ago ({self.mode}). "
                                               "Try again in 42 s.")
        if self.mode == "no_master_key":
            raise MasterKeyMissing("no master key configured: set NBSUPPORT_MASTER_KEYS")
        steps = [("preflight", "ok", ""), ("balance", "ok", ""), ("key_info", "ok", "6 permissions"),
                 ("scope:query_closed_orders", "failed" if self.mode == "failed" else "ok", "")]

        def emit() -> None:
            for step, status, detail in steps:
                if progress:
                    progress(ProgressEvent(step, status, detail))

        reporter = threading.Thread(target=emit)
        reporter.start()
        reporter.join()
        diagnosis = {"ok": "ok", "warning": "withdraw_enabled", "failed": "missing_permission"}[self.mode]
        missing = ["query_closed_orders"] if self.mode == "failed" else []
        result = ConnectionOutcome(
            key_id=key_id, test_id=len(self.history) + 1, outcome=self.mode, diagnosis=diagnosis,
            missing_permissions=missing, permissions={}, exchange_error="", requests=7, duration_ms=812,
            fix={}, egress_ip="51.38.112.198", warnings=[], steps=[ProgressEvent(*step) for step in steps],
            started_at=datetime.now(UTC))
        self.history.insert(0, RecordedTest(id=len(self.history) + 1, trigger=trigger, actor=actor.email,
                                            ticket=ticket, result=result))
        if on_record is not None:  # in the test's own transaction, as the engine does
            with console.session() as session:
                on_record(session, result)
        return result

    def recorded_tests(self, session: Any, key_id: int, limit: int = 50) -> list[RecordedTest]:
        return self.history[:limit]
