"""What a connection test found, in one shape: live from the engine, read back from a test row or a
console run, narrowed to one scope by a probe.

`ConnectionOutcome` is the engine's answer; `RecordedTest` is a stored test row (who ran it, why, under
which ticket) around the outcome it recorded. A row keeps the fix's id and customer reply, not the guide's
steps, so an outcome read back from the database carries only those two in `fix`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from nbsupport.conntest.result import ProgressEvent
from nbsupport.db.models import ConnectionTest
from nbsupport.guide.model import FixPayload
from nbsupport.plain import plain_dict

# The test row's `detail` keys that hold outcome fields rather than the engine's extra facts.
_ROW_FIELDS = ("warnings", "steps", "fix_id", "error_source", "error_text", "customer_reply")


@dataclass(frozen=True)
class ConnectionOutcome:
    key_id: int | None
    test_id: int | None  # the test row; None until recorded, and for a one-scope probe
    outcome: str  # ok | warning | failed
    diagnosis: str
    missing_permissions: list[str]
    permissions: dict[str, str]  # {scope: granted | missing | unknown}
    exchange_error: str
    requests: int
    duration_ms: int
    fix: FixPayload
    egress_ip: str
    warnings: list[str]
    steps: list[ProgressEvent]
    started_at: datetime
    # Extra facts for support (egress_mismatch, key settings read from the venue); never a secret.
    detail: dict[str, object] = field(default_factory=dict)
    # Who wrote `exchange_error`: "venue" (its own answer, quotable as "Exchange said"), "console" (our
    # proxy, our client's timeout, the network), None when there is no error (or recorded before it was kept).
    error_source: str | None = None
    # Our words for a console-side error ("No answer from the exchange within 10 s"); "" otherwise.
    error_text: str = ""

    @property
    def fix_id(self) -> str:
        return str(self.fix.get("id") or "")

    @property
    def customer_reply(self) -> str:
        return str(self.fix.get("customer_reply") or "")

    @property
    def egress_mismatch(self) -> bool:
        return bool(self.detail.get("egress_mismatch", False))

    def as_dict(self) -> dict[str, object]:
        """The issue's contract JSON, plus test_id, egress_ip (null when no request left: no route to
        claim), warnings, steps, started_at, detail, error_source and error_text."""
        return {**plain_dict(self), "egress_ip": self.egress_ip or None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConnectionOutcome:
        """Back from `as_dict()` (a console run's stored JSON); keys an older run lacks take defaults. Any:
        the JSON is our own `as_dict`, read back field by field with the converters below."""
        return cls(
            key_id=data.get("key_id"), test_id=data.get("test_id"), outcome=str(data["outcome"]),
            diagnosis=str(data.get("diagnosis") or ""),
            missing_permissions=list(data.get("missing_permissions") or []),
            permissions=dict(data.get("permissions") or {}),
            exchange_error=str(data.get("exchange_error") or ""),
            requests=int(data.get("requests") or 0), duration_ms=int(data.get("duration_ms") or 0),
            fix=cast(FixPayload, dict(data.get("fix") or {})), egress_ip=str(data.get("egress_ip") or ""),
            warnings=list(data.get("warnings") or []),
            steps=[ProgressEvent(**step) for step in data.get("steps") or []],
            started_at=datetime.fromisoformat(str(data["started_at"])), detail=dict(data.get("detail") or {}),
            error_source=data.get("error_source"), error_text=str(data.get("error_text") or ""),
        )

    def row_detail(self) -> dict[str, object]:
        """The test row's `detail` column: the extra facts plus what the row has no column for."""
        return {
            **self.detail,
            "warnings": list(self.warnings),
            "steps": [s.as_dict() for s in self.steps],
            "fix_id": self.fix_id,
            # So a result read back later says who spoke and carries its own reply, as it did live.
            "error_source": self.error_source,
            "error_text": self.error_text,
            "customer_reply": self.customer_reply,
        }


@dataclass(frozen=True)
class RecordedTest:
    """One stored test: who ran it, why and under which ticket, and what it found."""

    id: int
    trigger: str  # retest | bulk | ...
    actor: str
    ticket: str
    result: ConnectionOutcome

    @classmethod
    def from_row(cls, row: ConnectionTest) -> RecordedTest:
        # Any: the row's JSON detail is `row_detail`'s, read back field by field with the converters below.
        stored: dict[str, Any] = dict(row.detail or {})
        result = ConnectionOutcome(
            key_id=row.key_id, test_id=row.id, outcome=row.outcome, diagnosis=row.diagnosis,
            missing_permissions=list(row.missing_permissions or []), permissions=dict(row.permissions or {}),
            exchange_error=row.exchange_error, requests=row.requests, duration_ms=row.duration_ms,
            fix={"id": str(stored.get("fix_id") or ""),
                 "customer_reply": str(stored.get("customer_reply") or "")},
            egress_ip=row.egress_ip, warnings=list(stored.get("warnings") or []),
            steps=[ProgressEvent(**step) for step in stored.get("steps") or []], started_at=row.started_at,
            detail={k: v for k, v in stored.items() if k not in _ROW_FIELDS},
            error_source=stored.get("error_source"), error_text=str(stored.get("error_text") or ""),
        )
        return cls(id=row.id, trigger=row.trigger, actor=row.actor, ticket=row.ticket, result=result)

    def as_dict(self) -> dict[str, object]:
        """The history row's JSON (triage's `latest_test`): flat, as it has always been."""
        r = self.result
        return plain_dict({
            "id": self.id, "key_id": r.key_id, "started_at": r.started_at, "trigger": self.trigger,
            "actor": self.actor, "ticket": self.ticket, "outcome": r.outcome, "diagnosis": r.diagnosis,
            "missing_permissions": r.missing_permissions, "permissions": r.permissions,
            "exchange_error": r.exchange_error, "requests": r.requests, "duration_ms": r.duration_ms,
            "egress_ip": r.egress_ip, "warnings": r.warnings, "egress_mismatch": r.egress_mismatch,
            "fix_id": r.fix_id, "error_source": r.error_source, "error_text": r.error_text,
            "customer_reply": r.customer_reply,
        })
