"""Bulk re-test page (admins): preview the cohort, ticket and confirmation required, progress, report."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.ui.bulk_view import in_flight_frame
from nbsupport.ui.links import key_url
from tests.pages.fake_engine import FakeEngine
from tests.pages.support import EMAILS, Seeded, audit_rows, messages, open_app, set_ticket, text_field

BULK = "pages/bulk_retest.py"
pytestmark = pytest.mark.usefixtures("app_env")


def preview(sign_in: Callable[[str], str]) -> AppTest:
    sign_in("admin")
    at = open_app(BULK)
    assert not at.exception
    next(b for b in at.button if b.label == "Preview cohort").click()
    at.run()
    assert not at.exception
    return at


def start(at: AppTest, *, ticket: str, confirm: bool = True) -> AppTest:
    """Give the session's ticket in the sidebar (the page has no ticket field of its own), then confirm."""
    set_ticket(at, ticket)
    at.checkbox[0].set_value(confirm)
    at.run()
    button = next(b for b in at.button if b.label == "Start bulk re-test")
    assert button.disabled is (not confirm)
    if confirm:
        button.click()
        at.run(timeout=60)
    assert not at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.usefixtures("seeded")
def test_preview_then_run_tests_the_failed_keys_with_ticket_and_batch(
    sign_in: Callable[[str], str], seeded: Seeded, engine: FakeEngine, console: Console
) -> None:
    at = preview(sign_in)
    assert at.subheader[0].value == "Cohort: 1 key(s)"
    assert engine.calls == []  # a preview contacts no venue
    start(at, ticket="zd 77")
    assert "Ticket **ZD\\-77** (the session's ticket, from the sidebar)" in [m.value for m in at.markdown]
    assert [(c["key_id"], c["trigger"], c["actor"].email) for c in engine.calls] == [
        (seeded.key_id, "bulk", EMAILS["admin"])]
    assert engine.calls[0]["ticket"].startswith("ZD-77 [bulk-")
    assert (metric(at, "Cohort"), metric(at, "Red"), metric(at, "Refused")) == ("1", "1", "0")
    batches = audit_rows(console, Action.FLEET_BULK_RETEST)
    assert [(b.actor, b.ticket) for b in batches] == [(EMAILS["admin"], "ZD-77")]
    assert batches[0].result in "".join(c.value for c in at.caption)


@pytest.mark.usefixtures("seeded")
def test_a_batch_needs_the_session_ticket_and_a_confirmation(
    sign_in: Callable[[str], str], engine: FakeEngine
) -> None:
    at = start(preview(sign_in), ticket="ZD-1", confirm=False)
    assert "Ticket reference (required)" not in [t.label for t in at.text_input]  # one ticket: the sidebar's
    at = start(at, ticket="")
    assert "Enter the ticket reference in the sidebar first" in messages(at)
    at = start(at, ticket="INC 1; rm -rf")
    assert "is not a ticket reference" in messages(at)
    assert "Enter the ticket reference in the sidebar first" in messages(at)
    assert engine.calls == []


@pytest.mark.usefixtures("seeded")
def test_refused_keys_are_reported_for_a_resume(sign_in: Callable[[str], str], engine: FakeEngine) -> None:
    engine.mode = "cooldown"
    at = start(preview(sign_in), ticket="ZD-2")
    assert metric(at, "Refused") == "1"
    assert "Resume batch" in messages(at)


def test_an_empty_cohort_has_nothing_to_run(sign_in: Callable[[str], str]) -> None:
    at = preview(sign_in)
    assert "No key matches: nothing to re-test." in messages(at)
    assert "Start bulk re-test" not in [b.label for b in at.button]


def test_resuming_an_unknown_batch_says_so(sign_in: Callable[[str], str]) -> None:
    sign_in("admin")
    at = open_app(BULK)
    text_field(at, "Batch id").set_value("bulk-20990101T000000-deadbeef").run()
    next(b for b in at.button if b.label == "Resume batch").click()
    at.run()
    assert not at.exception and "no bulk re-test batch" in messages(at)
    text_field(at, "Batch id").set_value("' OR 1=1 --").run()
    next(b for b in at.button if b.label == "Resume batch").click()
    at.run()
    assert not at.exception and "not a bulk batch id" in messages(at)


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("role", ["agent", "analyst"])
def test_only_admins_run_bulk_retests(sign_in: Callable[[str], str], role: str, engine: FakeEngine) -> None:
    sign_in(role)
    at = AppTest.from_file("../../pages/bulk_retest.py", default_timeout=30).run()
    assert "cannot open this page" in at.error[0].value and not at.button


@pytest.mark.usefixtures("seeded")
def test_results_list_every_key_with_its_link_diagnosis_and_a_csv(
    sign_in: Callable[[str], str], seeded: Seeded, engine: FakeEngine, console: Console
) -> None:
    at = start(preview(sign_in), ticket="ZD-78")
    frame = at.dataframe[-1].value
    assert frame[["key", "result", "diagnosis"]].values.tolist() == [
        [key_url(seeded.key_id), "red", "missing_permission"]]
    next(b for b in at.download_button if b.label == "Results (CSV)").click()
    at.run()
    exports = audit_rows(console, Action.DATA_EXPORT)
    assert [(e.actor, e.ticket, e.detail["table"], e.detail["rows"]) for e in exports] == [
        (EMAILS["admin"], "ZD-78", "bulk_retest_results", 1)]


@pytest.mark.usefixtures("seeded")
def test_start_is_disarmed_once_a_batch_ends(sign_in: Callable[[str], str], engine: FakeEngine) -> None:
    at = start(preview(sign_in), ticket="ZD-79")
    assert len(engine.calls) == 1
    assert at.checkbox[0].value is False
    assert next(b for b in at.button if b.label == "Start bulk re-test").disabled
    at.checkbox[0].set_value(True).run()
    assert not next(b for b in at.button if b.label == "Start bulk re-test").disabled


def test_keys_in_flight_show_their_link_and_elapsed_time() -> None:
    frame = in_flight_frame({7: ("kraken", 100.0), 9: ("okx", 95.0)}, now=112.4)
    assert frame.values.tolist() == [[key_url(9), "okx", "17 s"], [key_url(7), "Kraken", "12 s"]]
