"""The console in a real browser, as a new agent meets it: every page from the sidebar, a lookup, a
deep link and a re-test against the sandbox venue. Any Streamlit exception box fails the test."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from nbsupport.audit import Action
from nbsupport.config import Settings
from nbsupport.console import Console
from nbsupport.db.models import AuditEvent
from nbsupport.demo import practice_email
from nbsupport.lookup import lookup
from tests.browser.conftest import ADMIN, SCREENSHOTS, LiveApp

pytestmark = pytest.mark.browser

SIDEBAR_PAGES = ["Ticket triage", "Key lookup", "Key detail", "Backfill health", "Error guide",
                 "Failure stats", "Bulk re-test", "Audit log"]


def settle(page: Any) -> None:
    """Wait until the script run triggered by the last navigation or interaction has finished and every
    element has been drawn (Streamlit shows a skeleton until an element and its renderer arrive)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"], [data-testid=\"stSkeleton\"]')",
        timeout=60_000)


# Streamlit scrolls inside its own container, so a "full page" screenshot would show one viewport:
# the viewport is stretched to the content for the shot instead.
CONTENT_HEIGHT_JS = """() => Math.max(800, ...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]']
    .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))"""


def check(page: Any, name: str) -> None:
    settle(page)
    size = page.viewport_size
    height = min(int(page.evaluate(CONTENT_HEIGHT_JS)) + 40, 8000)
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    # Tables and code blocks load their renderers lazily, once they come into view.
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size(size)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def open_console(app: LiveApp) -> Console:
    return Console(Settings(home=app.home, database_url=app.database_url))


def practice_key(app: LiveApp, case: str) -> tuple[int, int]:
    db = open_console(app)
    try:
        with db.session() as session:
            found = lookup(session, practice_email(case))
        return found.users[0].id, found.keys[0].id
    finally:
        db.close()


def heading(page: Any, text: str) -> None:
    page.get_by_role("heading", name=text, exact=True).first.wait_for()
    settle(page)


def test_a_new_visitor_can_open_every_page_from_the_sidebar(page: Any, console_server: LiveApp) -> None:
    page.goto(console_server.url)
    heading(page, "Ticket triage")  # the first visit also builds the demo database
    banner = page.get_by_text("DEMO MODE").first
    assert banner.is_visible() and ADMIN in page.locator('[data-testid="stAlert"]').first.inner_text()
    check(page, "01-lookup-empty")
    for number, title in enumerate(SIDEBAR_PAGES, start=2):
        page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
        heading(page, title)
        check(page, f"{number:02d}-{title.lower().replace(' ', '-')}")
        assert page.get_by_text("DEMO MODE").first.is_visible()


def test_lookup_then_retest_against_the_sandbox(page: Any, console_server: LiveApp) -> None:
    user_id, key_id = practice_key(console_server, "missing-closed-orders")
    page.goto(f"{console_server.url}/lookup")
    heading(page, "Key lookup")
    ticket = page.locator('[data-testid="stSidebar"]').get_by_role("textbox", name="Ticket reference")
    ticket.fill("ZD-2001")  # the session's ticket, before the key is opened
    ticket.press("Enter")
    settle(page)
    search = page.get_by_role("textbox", name="Search")
    search.fill(practice_email("missing-closed-orders"))
    search.press("Enter")
    settle(page)
    page.get_by_text("Re-test", exact=True).first.wait_for()
    check(page, "10-lookup-result")
    page.get_by_role("button", name="Re-test").click()
    page.get_by_text("Red: the key does not work").wait_for(timeout=60_000)
    check(page, "11-retest-verdict")
    assert "missing_permission" in page.locator('[data-testid="stAlert"]', has_text="Red:").inner_text()
    db = open_console(console_server)
    try:
        with db.session() as session:
            rows = list(session.scalars(select(AuditEvent).where(AuditEvent.subject_key_id == key_id)))
    finally:
        db.close()
    actions = {(r.action, r.actor, r.ticket) for r in rows}
    assert (Action.KEY_RETEST, ADMIN, "ZD-2001") in actions
    assert (Action.KEY_VIEW, ADMIN, "ZD-2001") in actions
    assert all(r.subject_user_id == user_id for r in rows)


def test_a_ticket_deep_link_opens_the_key(page: Any, console_server: LiveApp) -> None:
    user_id, key_id = practice_key(console_server, "withdraw-enabled")
    page.goto(f"{console_server.url}/?user={user_id}&key={key_id}&ticket=zd%202002")
    heading(page, "Key lookup")
    page.get_by_text("Latest diagnosis").wait_for()
    check(page, "20-deep-link")
    assert page.get_by_role("textbox", name="Ticket reference", exact=True).input_value() == "ZD-2002"


def test_bad_input_and_bad_links_show_messages_not_tracebacks(page: Any, console_server: LiveApp) -> None:
    page.goto(f"{console_server.url}/lookup")
    heading(page, "Key lookup")
    search = page.get_by_role("textbox", name="Search")
    search.fill("' OR 1=1 --")
    search.press("Enter")
    page.get_by_text(re.compile("unrecognised search")).wait_for()
    check(page, "30-bad-search")
    page.goto(f"{console_server.url}/key_detail?key=1%20OR%201=1")
    page.get_by_text("This link is not valid").wait_for()
    check(page, "31-bad-link")


def test_pasting_a_kraken_error_into_the_guide_shows_its_fix(page: Any, console_server: LiveApp) -> None:
    page.goto(f"{console_server.url}/error_guide")
    heading(page, "Error guide")
    box = page.get_by_role("textbox", name=re.compile("Paste the error"))
    box.fill('kraken {"error":["EAPI:Invalid signature"]}')
    box.press("Control+Enter")
    page.get_by_role("heading", name="Key or signature rejected").first.wait_for(timeout=30_000)
    check(page, "12-guide-paste")
    assert page.get_by_text("Reply to the customer").first.is_visible()


def test_pasting_an_ambiguous_error_shows_every_cause_ranked(page: Any, console_server: LiveApp) -> None:
    page.goto(f"{console_server.url}/error_guide")
    heading(page, "Error guide")
    box = page.get_by_role("textbox", name=re.compile("Paste the error"))
    box.fill('kraken {"error":["EGeneral:Permission denied"]}')
    box.press("Control+Enter")
    page.get_by_role("heading", name="Key is missing a permission").first.wait_for(timeout=30_000)
    page.get_by_role("heading", name="IP whitelist blocks our address").first.wait_for(timeout=30_000)
    page.get_by_text(re.compile("has 2 possible causes")).wait_for()
    assert page.get_by_text(re.compile("Cause 2 of 2")).first.is_visible()
    check(page, "13-guide-ambiguous")


def test_fleet_views_work_on_the_demo_data(page: Any, console_server: LiveApp) -> None:
    page.goto(f"{console_server.url}/backfill")
    heading(page, "Backfill health")
    page.get_by_text("Fleet-wide", exact=True).click()
    page.get_by_text(re.compile(r"\d+ flagged key\(s\)")).wait_for()
    check(page, "40-backfill-fleet")
    page.goto(f"{console_server.url}/bulk_retest")
    heading(page, "Bulk re-test")
    page.get_by_role("button", name="Preview cohort").click()
    page.get_by_text(re.compile(r"Cohort: [\d,]+ key\(s\)")).wait_for()
    check(page, "41-bulk-preview")


def test_a_deep_link_is_the_first_request_after_a_restart(
    page: Any, console_server: LiveApp, restarted_server: LiveApp
) -> None:
    # The shared server built the demo database; the restarted one has served nothing yet.
    page.goto(console_server.url)
    heading(page, "Ticket triage")
    _, key_id = practice_key(console_server, "expired")
    page.goto(f"{restarted_server.url}/key_detail?key={key_id}")
    heading(page, "Key detail")
    page.get_by_text("Latest diagnosis").wait_for()
    check(page, "50-first-request-deep-link")
    assert page.get_by_text("Page not found").count() == 0
    assert page.get_by_text("DEMO MODE").first.is_visible()  # served by the router, not the bare page
    assert page.locator('[data-testid="stSidebarNav"]').get_by_text("Audit log").count() == 1
