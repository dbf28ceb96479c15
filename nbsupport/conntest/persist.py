"""Recording a test: one connection-test row, the key's last_* fields and one audit event, one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nbsupport import audit
from nbsupport.audit import Action, Actor
from nbsupport.conntest.result import KeyMeta, TestResult
from nbsupport.db.models import ConnectionTest, ExchangeKey
from nbsupport.diagnosis import ScopeState
from nbsupport.fleet.stats.rollups import record_test_in_rollups
from nbsupport.plain import iso_fields


def key_meta(row: ExchangeKey) -> KeyMeta:
    return KeyMeta(
        key_id=row.id,
        exchange=row.exchange,
        required_scopes=tuple(row.required_scopes or ()),
        expires_at=row.expires_at,
        rotated_at=row.rotated_at,
        ip_whitelist=tuple(row.ip_whitelist or ()),
    )


def record_result(
    session: Session, row: ExchangeKey, result: TestResult, *, actor: Actor, ticket: str, trigger: str
) -> ConnectionTest:
    test = ConnectionTest(
        key_id=row.id,
        exchange=row.exchange,
        started_at=result.started_at,
        trigger=trigger[:20],
        actor=actor.email[:320],
        ticket=ticket[:200],
        outcome=result.outcome,
        diagnosis=result.diagnosis,
        missing_scopes=list(result.missing_permissions),
        permissions=dict(result.permissions),
        exchange_error=result.exchange_error[:500],
        requests=result.requests,
        duration_ms=result.duration_ms,
        egress_ip=result.egress_ip[:64],
        detail={
            **result.detail,
            "warnings": list(result.warnings),
            "steps": [s.as_dict() for s in result.steps],
            "fix_id": result.fix.get("id", ""),
            # So a result read back later says who spoke and carries its own reply, as it did live.
            "error_source": result.error_source,
            "error_text": result.error_text,
            "customer_reply": result.fix.get("customer_reply", ""),
        },
    )
    session.add(test)
    session.flush()
    # Same transaction as the test row, so fleet statistics never count a test that was rolled back.
    record_test_in_rollups(session, test)
    row.last_test_at = result.started_at
    row.last_outcome = result.outcome
    row.last_diagnosis = result.diagnosis
    # A test that never got as far as the scopes (bad key, outage) keeps the last scopes we did see.
    if any(state != ScopeState.UNKNOWN for state in result.permissions.values()):
        row.last_permissions = dict(result.permissions)
    audit.record(
        session, actor, Action.KEY_RETEST, ticket=ticket, subject_user_id=row.user_id, subject_key_id=row.id,
        result=result.diagnosis,
        detail={"test_id": test.id, "outcome": result.outcome, "requests": result.requests,
                "trigger": trigger, "egress_ip": result.egress_ip},
    )
    return test


@dataclass(frozen=True)
class TestRecord:
    """One past test as the key page lists it."""

    __test__ = False  # not a pytest test class, despite the name

    id: int
    key_id: int
    started_at: datetime
    trigger: str
    actor: str
    ticket: str
    outcome: str
    diagnosis: str
    missing_permissions: list[str]
    permissions: dict[str, str]
    exchange_error: str
    requests: int
    duration_ms: int
    egress_ip: str
    warnings: list[str]
    egress_mismatch: bool
    fix_id: str
    error_source: str | None = None  # "venue" | "console" | None (none, or recorded before it was kept)
    error_text: str = ""
    customer_reply: str = ""

    def as_dict(self) -> dict[str, Any]:
        return iso_fields(self)


def test_history(session: Session, key_id: int, limit: int = 50) -> list[TestRecord]:
    rows = session.scalars(
        select(ConnectionTest)
        .where(ConnectionTest.key_id == key_id)
        .order_by(ConnectionTest.started_at.desc(), ConnectionTest.id.desc())
        .limit(limit)
    )
    return [
        TestRecord(
            id=r.id, key_id=r.key_id, started_at=r.started_at, trigger=r.trigger, actor=r.actor,
            ticket=r.ticket, outcome=r.outcome, diagnosis=r.diagnosis,
            missing_permissions=list(r.missing_scopes or []), permissions=dict(r.permissions or {}),
            exchange_error=r.exchange_error, requests=r.requests, duration_ms=r.duration_ms,
            egress_ip=r.egress_ip, warnings=list((r.detail or {}).get("warnings", [])),
            egress_mismatch=bool((r.detail or {}).get("egress_mismatch", False)),
            fix_id=str((r.detail or {}).get("fix_id", "")),
            error_source=(r.detail or {}).get("error_source"),
            error_text=str((r.detail or {}).get("error_text") or ""),
            customer_reply=str((r.detail or {}).get("customer_reply") or ""),
        )
        for r in rows
    ]


test_history.__test__ = False  # type: ignore[attr-defined]  # a library function, not a pytest test
