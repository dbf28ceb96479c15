from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError, IntegrityError, InternalError

from nbsupport import audit
from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.db.models import AuditEvent

AGENT = audit.Actor("agent@noonbarbari.com", "agent")


def test_audit_rows_are_recorded_and_listed_newest_first(console: Console) -> None:
    with console.session() as session:
        audit.record(session, AGENT, Action.KEY_VIEW, ticket="T-1", subject_key_id=1)
        audit.record(session, AGENT, Action.KEY_RETEST, ticket="T-2", subject_key_id=1, result="ok")
    with console.session() as session:
        assert [e.ticket for e in audit.recent(session, key_id=1)] == ["T-2", "T-1"]
        assert audit.recent(session, actor="someone@else") == []


# The strings rows already hold: renaming an action would split the trail into two spellings.
STORED_ACTIONS = {
    "key.view", "user.view", "ticket.triage", "key.retest", "key.probe", "fleet.backfill_health",
    "fleet.bulk_retest", "fleet.bulk_retest_resume", "key.add", "demo.build", "data.export",
}


def test_every_action_is_stored_as_its_established_string_and_found_by_it(console: Console) -> None:
    assert {action.value for action in Action} == STORED_ACTIONS
    with console.session() as session:
        for action in Action:
            audit.record(session, AGENT, action, ticket=action.value)
    with console.session() as session:
        stored = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert stored == [action.value for action in Action]
        assert all(type(text) is str for text in stored)
        for action in Action:
            found = audit.export(session, audit.AuditQuery(actions=(action,)))
            assert [e.ticket for e in found] == [action.value]


@pytest.mark.parametrize("statement", [update(AuditEvent).values(result="edited"), delete(AuditEvent)])
def test_the_database_refuses_to_edit_or_delete_audit_rows(console: Console, statement: object) -> None:
    with console.session() as session:
        audit.record(session, AGENT, Action.KEY_VIEW, ticket="T-1")
    with pytest.raises((IntegrityError, InternalError, DatabaseError), match="append-only"), \
            console.session() as session:
        session.execute(statement)
    with console.session() as session:
        assert [e.result for e in audit.recent(session)] == [""]


def test_search_pages_through_the_whole_trail_by_ticket_prefix_actor_action_and_days(
    console: Console,
) -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    other = audit.Actor("bo@noonbarbari.com", "admin")
    with console.session() as session:
        audit.record(session, AGENT, Action.KEY_RETEST, ticket="ZD-1001", subject_key_id=9, at=start)
        audit.record(session, other, Action.FLEET_BULK_RETEST, ticket="zd-1001 [bulk-x]",
                     at=start + timedelta(days=2))
        for minute in range(1, 130):
            audit.record(session, AGENT, Action.KEY_VIEW, ticket="ZD-1002", subject_key_id=9,
                         at=start + timedelta(days=1, minutes=minute))
    with console.session() as session:
        def tickets(query: audit.AuditQuery, **paging: int) -> list[str]:
            return [e.ticket for e in audit.search(session, query, **paging).events]

        assert tickets(audit.AuditQuery(ticket=" Zd-1001")) == ["zd-1001 [bulk-x]", "ZD-1001"]
        assert tickets(audit.AuditQuery(ticket="ZD-1001", actions=(Action.KEY_RETEST,))) == ["ZD-1001"]
        assert tickets(audit.AuditQuery(actor="bo@noonbarbari.com")) == ["zd-1001 [bulk-x]"]
        assert tickets(audit.AuditQuery(ticket="zd-100%")) == []  # a LIKE wildcard is just a character
        first_day = audit.AuditQuery(key_id=9, until=start + timedelta(days=1))
        assert tickets(first_day) == ["ZD-1001"]
        page = audit.search(session, audit.AuditQuery(key_id=9), page=2, page_size=100)
        assert (len(page.events), page.has_more, page.events[-1].ticket) == (30, False, "ZD-1001")
        assert audit.search(session, audit.AuditQuery(), page_size=100).has_more


def test_control_characters_typed_into_a_filter_are_dropped_before_the_query(console: Console) -> None:
    with console.session() as session:
        audit.record(session, AGENT, Action.KEY_VIEW, ticket="ZD-1001", subject_key_id=1)
    with console.session() as session:
        # PostgreSQL refuses NUL in a string parameter; the search reads "ZD-1001".
        found = audit.search(session, audit.AuditQuery(ticket="ZD-\x001001\x07", actor=f"\x00{AGENT.email}"))
    assert [e.ticket for e in found.events] == ["ZD-1001"]
