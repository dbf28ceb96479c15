from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DatabaseError, IntegrityError, InternalError

from nbsupport import audit
from nbsupport.console import Console
from nbsupport.db.models import AuditEvent

AGENT = audit.Actor("agent@noonbarbari.com", "agent")


def test_audit_rows_are_recorded_and_listed_newest_first(console: Console) -> None:
    with console.session() as session:
        audit.record(session, AGENT, "key.view", ticket="T-1", subject_key_id=1)
        audit.record(session, AGENT, "key.retest", ticket="T-2", subject_key_id=1, result="ok")
    with console.session() as session:
        assert [e.ticket for e in audit.recent(session, key_id=1)] == ["T-2", "T-1"]
        assert audit.recent(session, actor="someone@else") == []


@pytest.mark.parametrize("statement", [update(AuditEvent).values(result="edited"), delete(AuditEvent)])
def test_the_database_refuses_to_edit_or_delete_audit_rows(console: Console, statement: object) -> None:
    with console.session() as session:
        audit.record(session, AGENT, "key.view", ticket="T-1")
    with pytest.raises((IntegrityError, InternalError, DatabaseError), match="append-only"), \
            console.session() as session:
        session.execute(statement)
    with console.session() as session:
        assert [e.result for e in audit.recent(session)] == [""]
