"""Recording a test: one connection-test row, the key's last_* fields and one audit event, one transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nbsupport import audit
from nbsupport.audit import Action, Actor
from nbsupport.conntest.outcome import ConnectionOutcome, RecordedTest
from nbsupport.conntest.result import KeyMeta
from nbsupport.db.models import ConnectionTest, ExchangeKey
from nbsupport.diagnosis import ScopeState
from nbsupport.fleet.stats.rollups import record_test_in_rollups


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
    session: Session, row: ExchangeKey, result: ConnectionOutcome, *, actor: Actor, ticket: str, trigger: str
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
        missing_permissions=list(result.missing_permissions),
        permissions=dict(result.permissions),
        exchange_error=result.exchange_error[:500],
        requests=result.requests,
        duration_ms=result.duration_ms,
        egress_ip=result.egress_ip[:64],
        detail=result.row_detail(),
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


def recorded_tests(session: Session, key_id: int, limit: int = 50) -> list[RecordedTest]:
    """The key's latest tests, newest first."""
    rows = session.scalars(
        select(ConnectionTest)
        .where(ConnectionTest.key_id == key_id)
        .order_by(ConnectionTest.started_at.desc(), ConnectionTest.id.desc())
        .limit(limit)
    )
    return [RecordedTest.from_row(row) for row in rows]
