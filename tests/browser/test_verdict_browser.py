"""Honest results in a real browser (issue #11, observations 4-7 and demo honesty), on the shared console,
started as `scripts/run` starts it: the sandbox behind an egress proxy that leaves from EGRESS_IP, which is
also the configured NBSUPPORT_EGRESS_IP, so a hard-coded platform address on screen cannot pass for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from nbsupport.db.models import AuditEvent, ConnectionTest, ExchangeKey
from nbsupport.diagnosis import KRAKEN_SCOPE_LABELS, PLATFORM_EGRESS_IP, STRATEGY_SCOPES, Scope
from tests.browser.conftest import EGRESS_IP, LiveApp, new_visitor
from tests.browser.test_console_browser import check, heading, open_console, practice_key, settle

pytestmark = pytest.mark.browser

RETEST_TIMEOUT_MS = 90_000


@pytest.fixture
def vpage(browser: Any, console_server: LiveApp) -> Iterator[Any]:
    with new_visitor(browser) as page:
        page.goto(console_server.url)  # the first visit builds the demo database
        heading(page, "Ticket triage")
        yield page


def open_key(page: Any, console: LiveApp, key_id: int, ticket: str) -> None:
    page.goto(f"{console.url}/key_detail?key={key_id}&ticket={ticket}")
    heading(page, "Key detail")
    page.get_by_text("Latest diagnosis").first.wait_for()


def retest(page: Any, finished: str) -> str:
    """Click Re-test, wait for `finished`, and return the main area's text with the steps unfolded."""
    page.get_by_role("button", name="Re-test").click()
    page.get_by_text(finished).first.wait_for(timeout=RETEST_TIMEOUT_MS)
    settle(page)
    steps = page.get_by_text("Steps of this re-test")
    if steps.count():
        steps.first.click()
        settle(page)
    return str(page.locator('[data-testid="stMain"]').inner_text())


def verdict_text(page: Any) -> str:
    return str(page.locator('[data-testid="stAlert"]', has_text="the key").first.inner_text())


def reply_text(page: Any) -> str:
    """The reply drafted from this result, shown with the verdict."""
    block = page.locator('[data-testid="stVerticalBlock"]', has_text="Reply for this result").last
    return str(block.locator('[data-testid="stCode"]').first.inner_text())


def test_a_green_retest_shows_no_failure_marks_and_says_each_status_in_words(
    vpage: Any, console_server: LiveApp
) -> None:
    _, key_id = practice_key(console_server, "healthy-spot-no-key-info")
    open_key(vpage, console_server, key_id, "ZD-4001")
    # "Copy link for the ticket" is the key's address as the browser reaches it, once.
    link = vpage.locator('[data-testid="stCode"]', has_text="/key_detail?key=").first.inner_text()
    assert link.strip() == f"{console_server.url}/key_detail?key={key_id}"
    text = retest(vpage, "Green: the key works")
    check(vpage, "v4-green-steps")
    assert "❌" not in text and "✗" not in text
    lines = [line for line in text.splitlines() if "·" in line and ("Scope" in line or "Key info" in line)]
    assert lines, text
    assert not [line for line in lines if "failed" in line], lines
    withdraw = next(line for line in lines if "Scope withdraw" in line)
    assert "not needed" in withdraw
    key_info = next(line for line in lines if "Key info" in line)
    assert "not available" in key_info
    assert any("granted" in line for line in lines if "Scope query" in line)
    # The green result drafts a "your key works" reply.
    assert "works" in reply_text(vpage)


def test_a_demo_key_of_a_venue_the_sandbox_does_not_serve_is_refused_plainly_and_nothing_is_recorded(
    vpage: Any, console_server: LiveApp
) -> None:
    db = open_console(console_server)
    try:
        with db.session() as session:
            key_id = session.scalars(select(ExchangeKey.id).where(ExchangeKey.exchange == "binance")
                                     .order_by(ExchangeKey.id).limit(1)).one()
            before = session.scalar(select(func.count()).select_from(ConnectionTest)
                                    .where(ConnectionTest.key_id == key_id))
            # Other files share the database (and may have re-tested this key): only this test's rows count.
            last_audit = session.scalar(select(func.max(AuditEvent.id))) or 0
        open_key(vpage, console_server, key_id, "ZD-5001")
        vpage.get_by_role("button", name="Re-test").click()
        vpage.get_by_text("does not serve").first.wait_for(timeout=RETEST_TIMEOUT_MS)
        check(vpage, "v5-demo-venue-not-served")
        main = vpage.locator('[data-testid="stMain"]').inner_text()
        assert "Exchange said" not in main and "egress proxy unreachable" not in main
        assert "Red: the key does not work" not in main
        with db.session() as session:
            after = session.scalar(select(func.count()).select_from(ConnectionTest)
                                   .where(ConnectionTest.key_id == key_id))
            audits = list(session.scalars(select(AuditEvent).where(AuditEvent.subject_key_id == key_id,
                                                                   AuditEvent.action == "key.retest",
                                                                   AuditEvent.id > last_audit)))
    finally:
        db.close()
    assert after == before
    assert audits and all(a.ticket == "ZD-5001" for a in audits)


def test_an_ip_refusal_names_the_configured_egress_address_everywhere(
    vpage: Any, console_server: LiveApp
) -> None:
    _, key_id = practice_key(console_server, "ip-restricted")
    open_key(vpage, console_server, key_id, "ZD-6001")
    text = retest(vpage, "Red: the key does not work")
    check(vpage, "v6-ip-not-allowed")
    assert "ip_not_allowed" in verdict_text(vpage)
    assert f"via {EGRESS_IP}" in verdict_text(vpage)
    assert PLATFORM_EGRESS_IP not in text
    assert EGRESS_IP in reply_text(vpage)


@pytest.mark.parametrize("case", ["expired", "clipboard-mangled-secret"])
def test_a_result_without_requests_claims_no_route(vpage: Any, console_server: LiveApp, case: str) -> None:
    _, key_id = practice_key(console_server, case)
    open_key(vpage, console_server, key_id, "ZD-6002")
    retest(vpage, "Red: the key does not work")
    check(vpage, f"v6-no-route-{case}")
    said = verdict_text(vpage)
    assert "0 requests" in said and "via" not in said


def test_a_missing_permission_reply_names_exactly_the_missing_permission(
    vpage: Any, console_server: LiveApp
) -> None:
    _, key_id = practice_key(console_server, "missing-closed-orders")
    open_key(vpage, console_server, key_id, "ZD-7001")
    retest(vpage, "Red: the key does not work")
    check(vpage, "v7-missing-permission-reply")
    reply = reply_text(vpage)
    assert KRAKEN_SCOPE_LABELS[Scope.QUERY_CLOSED_ORDERS] in reply
    others = [KRAKEN_SCOPE_LABELS[s] for s in STRATEGY_SCOPES if s is not Scope.QUERY_CLOSED_ORDERS]
    assert not [label for label in others if label in reply], reply
