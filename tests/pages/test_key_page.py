"""Key detail page: card and badges, diagnosis card, history, re-test with ticket, refusals, roles."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from nbsupport import config
from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.db.models import ExchangeKey
from nbsupport.diagnosis import PLATFORM_EGRESS_IP
from nbsupport.guide import fix_for
from nbsupport.ui.links import key_url
from tests.pages.fake_engine import FakeEngine
from tests.pages.support import (
    EMAILS,
    Seeded,
    assert_no_secret,
    audit_rows,
    finish_retests,
    messages,
    open_app,
    rendered,
    set_ticket,
    text_field,
)

pytestmark = pytest.mark.usefixtures("app_env")
KEY_PAGE = "pages/key_detail.py"


def key_page(params: dict[str, str]) -> AppTest:
    at = open_app(KEY_PAGE, params)
    assert not at.exception
    return at


def retest(at: AppTest, console: Console, ticket: str | None) -> AppTest:
    """Set the session's ticket in the sidebar (when given), click Re-test, and follow the run to its end."""
    if ticket is not None:
        set_ticket(at, ticket)
    next(b for b in at.button if b.label == "Re-test").click()
    at.run()
    assert not at.exception
    finish_retests(console, at)
    assert not at.exception
    return at


def test_key_card_shows_badges_and_the_guide_fix(seeded: Seeded) -> None:
    at = key_page({"key": str(seeded.key_id)})
    text = rendered(at)
    assert ":red-badge[withdraw ENABLED]" in text
    assert "over 90 d" in text and "expires in" in text
    assert ":red-badge[query closed orders missing]" in text
    row = fix_for("missing_permission", "kraken")
    assert row.title in text
    assert [c.value for c in at.code if not c.value.endswith(key_url(seeded.key_id))] == [row.customer_reply]
    assert f"(error_guide?fix={row.fix_id})" in text
    assert_no_secret(at)


def test_a_green_key_says_there_is_nothing_to_fix(seeded: Seeded) -> None:
    at = key_page({"key": str(seeded.other_key_id)})
    assert "Last test green" in messages(at)


def test_opening_a_key_records_one_view(seeded: Seeded, console: Console) -> None:
    at = key_page({"key": str(seeded.key_id)})
    at.run()
    rows = audit_rows(console, Action.KEY_VIEW)
    assert [(r.actor, r.subject_key_id, r.subject_user_id, r.result) for r in rows] == [
        (EMAILS["agent"], seeded.key_id, seeded.user_id, "detail")]


def test_key_id_typed_in_opens_the_key(seeded: Seeded) -> None:
    at = key_page({})
    assert "Open a key from the lookup page" in rendered(at)
    text_field(at, "Key id").set_value(str(seeded.futures_key_id)).run()
    assert not at.exception and "perps" in rendered(at)
    assert at.query_params == {"key": str(seeded.futures_key_id)}


@pytest.mark.parametrize("params", [{"key": "1; DROP TABLE users"}, {"key": "x" * 10_000}, {"key": "-5"}])
def test_malformed_key_links_are_refused(seeded: Seeded, params: dict[str, str]) -> None:
    assert "This link is not valid" in key_page(params).error[0].value


def test_unknown_or_mismatched_key_is_not_found(seeded: Seeded, console: Console) -> None:
    assert "No key 424242" in messages(key_page({"key": "424242"}))
    mismatch = key_page({"key": str(seeded.key_id), "user": str(seeded.other_user_id)})
    assert f"No key {seeded.key_id} for user {seeded.other_user_id}" in messages(mismatch)
    assert audit_rows(console) == []


def test_history_is_charted_when_the_engine_has_tests(
    seeded: Seeded, console: Console, engine: FakeEngine
) -> None:
    at = key_page({"key": str(seeded.key_id)})
    assert "This key has never been tested" in messages(at)
    retest(at, console, "ZD-1")
    history = [d.value for d in at.dataframe if "outcome" in d.value.columns]
    assert len(history) == 1 and list(history[0]["ticket"]) == ["ZD-1"]
    assert len(at.get("vega_lite_chart")) == 1


def test_retest_asks_for_the_sidebar_ticket_and_refuses_other_text(
    seeded: Seeded, console: Console, engine: FakeEngine
) -> None:
    at = key_page({"key": str(seeded.key_id)})
    assert not [f for f in at.text_input if f.label == "Ticket reference (required)"]  # one ticket field
    at = retest(at, console, "")
    assert "Enter the ticket reference in the sidebar first" in messages(at)
    assert engine.calls == [] and audit_rows(console, Action.KEY_RETEST) == []
    at = retest(at, console, "<img src=x onerror=alert(1)>")
    assert "is not a ticket reference; write it as ZD-1234" in "\n".join(w.value for w in at.sidebar.warning)
    assert "Enter the ticket reference in the sidebar first" in messages(at)
    assert engine.calls == []


def test_the_sidebar_ticket_is_normalised_shown_and_used(
    seeded: Seeded, console: Console, engine: FakeEngine
) -> None:
    at = key_page({"key": str(seeded.key_id)})
    set_ticket(at, "zd 9998")
    assert text_field(at, "Ticket reference").value == "ZD-9998" and not at.sidebar.warning
    shown = [m.value.replace("\\", "") for m in at.markdown]
    assert "Ticket **ZD-9998** (the session's ticket, from the sidebar)" in shown
    retest(at, console, None)
    assert [c["ticket"] for c in engine.calls] == ["ZD-9998"]
    views = audit_rows(console, Action.KEY_VIEW)
    assert [(r.action, r.ticket) for r in views][-1] == (Action.KEY_VIEW, "ZD-9998")


@pytest.mark.parametrize(
    ("mode", "box", "title"),
    [("ok", "success", "Green"), ("warning", "warning", "Amber"), ("failed", "error", "Red")],
)
def test_retest_shows_steps_and_a_coloured_verdict(
    seeded: Seeded, console: Console, engine: FakeEngine, mode: str, box: str, title: str
) -> None:
    engine.mode = mode
    at = retest(key_page({"key": str(seeded.key_id)}), console, "ZD-77")
    assert [(c["key_id"], c["ticket"], c["trigger"], c["actor"].email) for c in engine.calls] == [
        (seeded.key_id, "ZD-77", "retest", EMAILS["agent"])]
    verdicts = [e.value for e in getattr(at, box) if title in e.value]
    assert len(verdicts) == 1
    steps = rendered(at)
    assert "Preflight" in steps and "Scope query closed orders" in steps
    # A test that ran is audited by the engine together with its test row; the page adds no second row.
    assert audit_rows(console, Action.KEY_RETEST) == []
    assert_no_secret(at)


def test_cooldown_refusal_is_shown_plainly(seeded: Seeded, console: Console, engine: FakeEngine) -> None:
    engine.mode = "cooldown"
    at = retest(key_page({"key": str(seeded.key_id)}), console, "ZD-9")
    text = messages(at)
    assert "Re-test refused: this key was re-tested moments ago" in text
    assert text.count("Try again in 42 s") == 1
    rows = audit_rows(console, Action.KEY_RETEST)
    assert [(r.result, r.ticket, r.subject_key_id) for r in rows] == [
        ("refused: cooldown", "ZD-9", seeded.key_id)]


def test_missing_master_key_is_shown_plainly(seeded: Seeded, console: Console, engine: FakeEngine) -> None:
    engine.mode = "no_master_key"
    at = retest(key_page({"key": str(seeded.key_id)}), console, "ZD-9")
    assert "Re-test could not run: no master key configured" in messages(at)
    assert audit_rows(console, Action.KEY_RETEST)[0].result.startswith("error: no master key")


def test_admins_can_retest_too(
    sign_in: Callable[[str], str], seeded: Seeded, console: Console, engine: FakeEngine
) -> None:
    sign_in("admin")
    retest(key_page({"key": str(seeded.key_id)}), console, "ZD-1")
    assert [c["actor"].role for c in engine.calls] == ["admin"]


def test_analysts_cannot_open_a_key_even_by_file(
    sign_in: Callable[[str], str], seeded: Seeded, console: Console, engine: FakeEngine
) -> None:
    sign_in("analyst")
    at = open_app()
    with pytest.raises(ValueError, match=r"not a registered page|Could not find"):
        at.switch_page(KEY_PAGE)
    at = AppTest.from_file("../../pages/key_detail.py", default_timeout=30)
    at.query_params["key"] = str(seeded.key_id)
    at.run()
    assert "cannot open this page" in at.error[0].value
    assert "main bot" not in rendered(at) and not at.button
    assert audit_rows(console) == [] and engine.calls == []



def test_the_fix_card_speaks_of_the_configured_egress_address(
    seeded: Seeded, console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBSUPPORT_EGRESS_IP", "198.51.100.23")
    config.get_settings.cache_clear()
    with console.session() as s:
        s.get(ExchangeKey, seeded.key_id).last_diagnosis = "ip_not_allowed"  # type: ignore[union-attr]
    at = key_page({"key": str(seeded.key_id)})
    replies = [c.value for c in at.code if not c.value.endswith(key_url(seeded.key_id))]
    assert replies and all("198.51.100.23" in r and PLATFORM_EGRESS_IP not in r for r in replies)
    steps = [m.value for m in at.markdown if "IP Address Restrictions" in m.value]
    assert steps and all(PLATFORM_EGRESS_IP not in m for m in steps)


def test_test_history_times_are_utc_text(seeded: Seeded, engine: FakeEngine, console: Console) -> None:
    at = retest(key_page({"key": str(seeded.key_id)}), console, "ZD-1")
    history = next(d.value for d in at.dataframe if "outcome" in d.value.columns)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", str(t)) for t in history["started"])
    assert "error" in history.columns and "exchange error" not in history.columns
