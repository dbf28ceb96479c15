"""Audit log page (admins): who viewed or re-tested what, when, for which ticket; filters; bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from nbsupport import audit
from nbsupport.audit import Action
from nbsupport.console import Console
from tests.pages.support import messages, open_app, text_field

AUDIT = "pages/audit_log.py"


@pytest.fixture
def trail(console: Console) -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    rows = [
        ("ann.agent@nb.test", "agent", Action.KEY_VIEW, "ZD-1", 7, 70, "lookup"),
        ("ann.agent@nb.test", "agent", Action.KEY_RETEST, "ZD-1", 7, 70, "missing_permission"),
        ("bo.agent@nb.test", "agent", Action.KEY_VIEW, "ZD-2", 8, 80, "detail"),
        ("root@nb.test", "admin", Action.FLEET_BULK_RETEST, "INC-9", None, None, "bulk-20260105T090300-abcd"),
    ]
    with console.session() as s:
        for minute, (email, role, action, ticket, user, key, result) in enumerate(rows):
            audit.record(s, audit.Actor(email, role), action, ticket=ticket, subject_user_id=user,
                         subject_key_id=key, result=result, at=start + timedelta(minutes=minute))


def audit_page(sign_in: Callable[[str], str]) -> AppTest:
    sign_in("admin")
    at = open_app(AUDIT)
    assert not at.exception
    return at


def shown(at: AppTest) -> list[tuple[str, str, str]]:
    if not at.dataframe:
        return []
    frame = at.dataframe[0].value
    return list(zip(frame["actor"], frame["action"], frame["ticket"], strict=True))


@pytest.mark.usefixtures("trail")
def test_admin_sees_the_trail_newest_first_with_a_csv(sign_in: Callable[[str], str]) -> None:
    at = audit_page(sign_in)
    assert shown(at) == [
        ("root@nb.test", Action.FLEET_BULK_RETEST, "INC-9"),
        ("bo.agent@nb.test", Action.KEY_VIEW, "ZD-2"),
        ("ann.agent@nb.test", Action.KEY_RETEST, "ZD-1"),
        ("ann.agent@nb.test", Action.KEY_VIEW, "ZD-1"),
    ]
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["at", "action", "result", "ticket", "actor", "user", "key", "role"]
    assert [b.label for b in at.download_button] == ["Download matches (CSV, newest 10,000 at most)"]


@pytest.mark.usefixtures("trail")
def test_empty_cells_are_blank_and_ids_are_links(sign_in: Callable[[str], str]) -> None:
    frame = audit_page(sign_in).dataframe[0].value
    bulk = frame[frame["action"] == Action.FLEET_BULK_RETEST].iloc[0]
    assert (bulk["user"], bulk["key"]) == ("", "")
    assert "None" not in frame.to_csv(index=False)
    view = frame[frame["ticket"] == "ZD-2"].iloc[0]
    assert (view["user"], view["key"]) == ("/lookup?user=8", "/key_detail?key=80")
    assert view["at"] == "2026-01-05 09:02 UTC"


def test_a_ticket_is_found_behind_more_than_a_page_of_newer_events(
    console: Console, sign_in: Callable[[str], str]
) -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    agent = audit.Actor("ann.agent@nb.test", "agent")
    with console.session() as s:
        audit.record(s, agent, Action.KEY_RETEST, ticket="ZD-1001", subject_key_id=5, result="ok", at=start)
        for minute in range(1, 251):
            audit.record(s, agent, Action.KEY_VIEW, ticket=f"ZD-{2000 + minute}", subject_key_id=6,
                         at=start + timedelta(minutes=minute))
    at = audit_page(sign_in)
    assert len(at.dataframe[0].value) == 100
    text_field(at, "Ticket starts with").set_value("zd-1001").run()
    assert shown(at) == [("ann.agent@nb.test", Action.KEY_RETEST, "ZD-1001")]
    text_field(at, "Ticket starts with").set_value("").run()
    next(n for n in at.number_input if n.label == "Page").set_value(3).run()
    assert len(at.dataframe[0].value) == 51 and shown(at)[-1][2] == "ZD-1001"


@pytest.mark.usefixtures("trail")
def test_filters_by_actor_key_action_and_ticket(sign_in: Callable[[str], str]) -> None:
    at = audit_page(sign_in)
    text_field(at, "Actor email").set_value("ANN.agent@nb.test ").run()
    assert [a for _, a, _ in shown(at)] == [Action.KEY_RETEST, Action.KEY_VIEW]
    actions = next(m for m in at.multiselect if m.label == "Actions")
    assert actions.options == [action.value for action in Action]  # every action anyone writes
    actions.set_value([Action.KEY_RETEST]).run()
    assert shown(at) == [("ann.agent@nb.test", Action.KEY_RETEST, "ZD-1")]
    text_field(at, "Actor email").set_value("").run()
    next(m for m in at.multiselect if m.label == "Actions").set_value([]).run()
    text_field(at, "Key id").set_value("80").run()
    assert shown(at) == [("bo.agent@nb.test", Action.KEY_VIEW, "ZD-2")]
    text_field(at, "Key id").set_value("").run()
    text_field(at, "Ticket starts with").set_value("inc-").run()
    assert shown(at) == [("root@nb.test", Action.FLEET_BULK_RETEST, "INC-9")]


@pytest.mark.usefixtures("trail")
@pytest.mark.parametrize("bad", ["' OR 1=1 --", "abc", "-1", "9" * 10_000])
def test_bad_ids_are_refused_plainly(sign_in: Callable[[str], str], bad: str) -> None:
    at = audit_page(sign_in)
    text_field(at, "User id").set_value(bad).run()
    assert not at.exception
    assert "User and key ids are positive whole numbers." in messages(at)
    assert shown(at) == []


@pytest.mark.usefixtures("trail")
def test_odd_actor_text_just_matches_nothing(sign_in: Callable[[str], str]) -> None:
    at = audit_page(sign_in)
    text_field(at, "Actor email").set_value("' OR 1=1 --").run()
    assert not at.exception and shown(at) == []
    assert "No audit events match these filters." in messages(at)


def test_an_empty_trail_says_so(sign_in: Callable[[str], str]) -> None:
    assert "No audit events match these filters." in messages(audit_page(sign_in))


@pytest.mark.usefixtures("trail")
@pytest.mark.parametrize("role", ["agent", "analyst"])
def test_only_admins_read_the_trail(sign_in: Callable[[str], str], role: str) -> None:
    sign_in(role)
    at = AppTest.from_file("../../pages/audit_log.py", default_timeout=30).run()
    assert "cannot open this page" in at.error[0].value and not at.dataframe
