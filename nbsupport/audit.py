"""Append-only audit trail: every key view and every re-test writes one row (DB triggers forbid edits)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from nbsupport.clock import utcnow
from nbsupport.db.models import AuditEvent


class Action(StrEnum):
    """What an audit row records. The values are the stored strings: the CLI, the pages and the engine write
    the same ones, so the log reads the same whichever entry point an agent used."""

    KEY_VIEW = "key.view"
    USER_VIEW = "user.view"
    TICKET_TRIAGE = "ticket.triage"
    KEY_RETEST = "key.retest"
    KEY_PROBE = "key.probe"  # one scope confirmed with one request, no test recorded
    FLEET_BACKFILL_HEALTH = "fleet.backfill_health"
    FLEET_BULK_RETEST = "fleet.bulk_retest"
    FLEET_BULK_RETEST_RESUME = "fleet.bulk_retest_resume"
    KEY_ADD = "key.add"
    DEMO_BUILD = "demo.build"
    DATA_EXPORT = "data.export"


@dataclass(frozen=True)
class Actor:
    """Who is acting: an agent's email and role, or a system process such as the CLI."""

    email: str
    role: str


def record(
    session: Session,
    actor: Actor,
    action: Action,
    *,
    ticket: str = "",
    subject_user_id: int | None = None,
    subject_key_id: int | None = None,
    result: str = "",
    detail: Mapping[str, object] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    event = AuditEvent(
        at=at or utcnow(), actor=actor.email[:320], role=actor.role[:20], action=action.value,
        ticket=ticket[:200], subject_user_id=subject_user_id, subject_key_id=subject_key_id,
        result=result[:200], detail=dict(detail or {}),
    )
    session.add(event)
    session.flush()
    return event


def recent(
    session: Session, *, actor: str | None = None, key_id: int | None = None, user_id: int | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The newest `limit` events of one actor, key or user (or of everyone)."""
    return export(session, AuditQuery(actor=actor or "", key_id=key_id, user_id=user_id), limit=limit)


# The highest code point: every ticket starting with the typed prefix sorts below prefix + this character
# (byte order: SQLite's BINARY collation, PostgreSQL's "C" collation of ix_audit_events_ticket).
_PREFIX_END = "\U0010ffff"
PAGE_SIZE = 100
EXPORT_ROWS = 10_000


@dataclass(frozen=True)
class AuditQuery:
    """A search of the whole trail; empty fields do not filter. `ticket` is a case-insensitive prefix
    ("ZD-1001" finds "ZD-1001" and "zd-1001 [bulk-…]"), `actor` a whole email, [since, until) UTC."""

    ticket: str = ""
    actor: str = ""
    user_id: int | None = None
    key_id: int | None = None
    actions: tuple[Action, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    page: int  # 1-based
    page_size: int
    has_more: bool  # a next page exists


def _ticket_key(session: Session) -> ColumnElement[str]:
    lowered = func.lower(AuditEvent.ticket)
    # Must match ix_audit_events_ticket's expression (migration 0005) for the index to serve the range.
    return lowered.collate("C") if session.get_bind().dialect.name == "postgresql" else lowered


def _typed(text: str) -> str:
    """What a filter box can mean: control characters (PostgreSQL refuses NUL in a string outright) never
    occur in a stored ticket or email, so they are dropped rather than failing the search."""
    return "".join(ch for ch in text if ch.isprintable()).strip()


def _search_query(session: Session, query: AuditQuery) -> Select[AuditEvent]:
    e = AuditEvent
    stmt = select(e).order_by(e.at.desc(), e.id.desc())
    ticket, actor = _typed(query.ticket), _typed(query.actor)
    if ticket:
        low = ticket.lower()
        key = _ticket_key(session)
        stmt = stmt.where(key >= low, key < low + _PREFIX_END)
    if actor:
        stmt = stmt.where(e.actor == actor)
    if query.user_id is not None:
        stmt = stmt.where(e.subject_user_id == query.user_id)
    if query.key_id is not None:
        stmt = stmt.where(e.subject_key_id == query.key_id)
    if query.actions:
        stmt = stmt.where(e.action.in_(query.actions))
    if query.since is not None:
        stmt = stmt.where(e.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(e.at < query.until)
    return stmt


def search(session: Session, query: AuditQuery, *, page: int = 1, page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of the matching events, newest first, read through the filters' indexes (migration 0005)."""
    page, page_size = max(page, 1), max(page_size, 1)
    stmt = _search_query(session, query).offset((page - 1) * page_size).limit(page_size + 1)
    events = list(session.scalars(stmt))
    return AuditPage(events[:page_size], page, page_size, len(events) > page_size)


def export(session: Session, query: AuditQuery, *, limit: int = EXPORT_ROWS) -> list[AuditEvent]:
    """The newest `limit` matching events, for a CSV."""
    return list(session.scalars(_search_query(session, query).limit(limit)))
