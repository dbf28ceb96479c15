"""Append-only audit trail: every key view and every re-test writes one row (DB triggers forbid edits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nbsupport.db.models import AuditEvent
from nbsupport.keys import utcnow


@dataclass(frozen=True)
class Actor:
    """Who is acting: an agent's email and role, or a system process such as the CLI."""

    email: str
    role: str


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    ticket: str = "",
    subject_user_id: int | None = None,
    subject_key_id: int | None = None,
    result: str = "",
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    event = AuditEvent(
        at=at or utcnow(), actor=actor.email[:320], role=actor.role[:20], action=action[:40],
        ticket=ticket[:200], subject_user_id=subject_user_id, subject_key_id=subject_key_id,
        result=result[:200], detail=detail or {},
    )
    session.add(event)
    session.flush()
    return event


def recent(
    session: Session, *, actor: str | None = None, key_id: int | None = None, user_id: int | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if key_id is not None:
        query = query.where(AuditEvent.subject_key_id == key_id)
    if user_id is not None:
        query = query.where(AuditEvent.subject_user_id == user_id)
    return list(session.scalars(query))
