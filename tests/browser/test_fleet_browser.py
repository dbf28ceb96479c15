"""Fleet views in a real browser, as an analyst and an admin meet them: practice keys stay out of fleet
figures until asked, the audit search finds an old ticket, a bulk batch can be followed and is not launched
twice."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from nbsupport import audit
from nbsupport.audit import Action
from nbsupport.clock import utcnow
from nbsupport.db.models import ConnectionTest, ExchangeKey
from nbsupport.fleet.stats.rollups import record_test_in_rollups
from tests.browser.conftest import LiveApp
from tests.browser.test_console_browser import check, heading, open_console, practice_key, settle

pytestmark = pytest.mark.browser


def open_demo(page: Any, app: LiveApp, path: str, title: str) -> None:
    page.goto(app.url)
    # The first visit builds the demo database (seconds on a quiet machine, longer on a busy CI box).
    # The demo identity is an admin, whose home page is ticket triage.
    page.get_by_role("heading", name="Ticket triage", exact=True).first.wait_for(timeout=180_000)
    heading(page, "Ticket triage")
    page.goto(f"{app.url}/{path}")
    heading(page, title)


def metric(page: Any, label: str) -> int:
    text = page.locator('[data-testid="stMetric"]').filter(has_text=label).first.inner_text()
    return int(text.splitlines()[-1].replace(",", ""))


def fail_recently(app: LiveApp, cases: list[str], minutes_ago: int = 5) -> list[int]:
    """Failed Kraken tests of practice keys a few minutes ago, as an agent practising would leave them."""
    db = open_console(app)
    keys = [practice_key(app, case)[1] for case in cases]
    try:
        with db.session() as session:
            for key_id in keys:
                key = session.get(ExchangeKey, key_id)
                assert key is not None and key.kind == "practice"
                test = ConnectionTest(key_id=key_id, exchange=key.exchange, trigger="retest",
                                      started_at=utcnow() - timedelta(minutes=minutes_ago), actor="trainee",
                                      outcome="failed", diagnosis="exchange_unavailable", requests=1)
                session.add(test)
                session.flush()
                record_test_in_rollups(session, test)
    finally:
        db.close()
    return keys


def test_practice_keys_stay_out_of_fleet_figures_until_the_toggle(page: Any, console_server: LiveApp) -> None:
    open_demo(page, console_server, "failure_stats", "Failure stats")
    fail_recently(console_server, ["expired", "ip-restricted"])
    page.reload()
    heading(page, "Failure stats")
    db = open_console(console_server)
    try:
        with db.session() as session:
            in_use = select(func.count()).select_from(ExchangeKey).where(
                ExchangeKey.status.not_in(["revoked", "deleted"]))
            customers = session.scalar(in_use.where(ExchangeKey.kind == "customer"))
            everyone = session.scalar(in_use)
    finally:
        db.close()
    assert everyone > customers
    assert metric(page, "Keys in use") == customers
    assert page.get_by_text("practice and internal keys are left out").first.is_visible()
    check(page, "60-stats-customers")
    page.get_by_text("Include practice and internal keys").first.click()
    page.get_by_text("Customers', practice and internal keys.").first.wait_for()
    check(page, "61-stats-everyone")
    assert metric(page, "Keys in use") == everyone


def test_the_audit_search_finds_a_ticket_behind_newer_events(page: Any, console_server: LiveApp) -> None:
    db = open_console(console_server)
    agent = audit.Actor("trainee@noonbarbari.com", "agent")
    start = utcnow() - timedelta(hours=3)
    try:
        with db.session() as session:
            audit.record(session, agent, Action.KEY_RETEST, ticket="ZD-1001", subject_key_id=1,
                         result="exchange_unavailable", at=start)
            for minute in range(1, 121):
                audit.record(session, agent, Action.KEY_VIEW, ticket=f"ZD-{5000 + minute}", subject_key_id=2,
                             at=start + timedelta(minutes=minute))
    finally:
        db.close()
    open_demo(page, console_server, "audit_log", "Audit log")
    box = page.get_by_role("textbox", name="Ticket starts with")
    box.fill("zd-1001")
    box.press("Enter")
    page.get_by_text(re.compile(r"Events 1–1 of the whole trail")).wait_for()
    check(page, "62-audit-ticket")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    # The result column is within the table's visible width (no sideways scroll to find it).
    box_width = grid.bounding_box()["width"]
    assert box_width <= page.viewport_size["width"]
    assert page.locator('[data-testid="stDownloadButton"]').count() == 1


def test_a_bulk_batch_shows_every_key_and_start_disarms_when_it_ends(
    page: Any, console_server: LiveApp
) -> None:
    open_demo(page, console_server, "bulk_retest", "Bulk re-test")
    keys = fail_recently(console_server, ["nonce-ahead", "service-unavailable"], minutes_ago=3)
    form = page.locator('[data-testid="stForm"]')
    form.get_by_text("Include practice and internal keys").click()
    venue = form.locator('[data-testid="stSelectbox"]').first
    venue.click()
    page.get_by_role("option", name="kraken", exact=True).click()
    hours = form.locator('[data-testid="stSelectbox"]').nth(2)
    hours.click()
    page.get_by_role("option", name="1 h", exact=True).click()
    page.get_by_role("button", name="Preview cohort").click()
    cohort = page.get_by_text(re.compile(r"Cohort: [\d,]+ key\(s\)"))
    cohort.wait_for()
    assert int(re.findall(r"[\d,]+", cohort.inner_text())[0]) >= len(keys)
    # One ticket: the sidebar's is the batch's (the page has no ticket field of its own).
    ticket = page.locator('[data-testid="stSidebar"]').get_by_role("textbox", name="Ticket reference")
    ticket.fill("zd 2005")
    ticket.press("Enter")
    settle(page)
    page.get_by_text("Ticket ZD-2005 (the session's ticket, from the sidebar)").wait_for()
    page.get_by_text(re.compile(r"Re-test these [\d,]+ keys")).click()
    settle(page)
    start = page.get_by_role("button", name="Start bulk re-test")
    expect(start).to_be_enabled()
    start.click()
    page.get_by_role("heading", name="Result").wait_for(timeout=120_000)
    heading(page, "Bulk re-test")
    check(page, "63-bulk-result")
    expect(page.get_by_role("button", name="Start bulk re-test")).to_be_disabled()
    with page.expect_download() as download:
        page.get_by_role("button", name="Results (CSV)").click()
    assert download.value.suggested_filename.startswith("bulk-")
    settle(page)
    db = open_console(console_server)
    try:
        with db.session() as session:
            exports = audit.search(session, audit.AuditQuery(actions=(Action.DATA_EXPORT,))).events
    finally:
        db.close()
    assert [(e.ticket, e.detail.get("table")) for e in exports] == [("ZD-2005", "bulk_retest_results")]
    assert not page.get_by_role("checkbox").first.is_checked()
