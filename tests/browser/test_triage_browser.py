"""Ticket triage in real Chromium: an agent's home page takes a pasted ticket and shows the user, the key,
what the error means and the way to the key's re-test; an analyst is not offered the page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from nbsupport.demo import practice_email
from nbsupport.sandbox import demo_cast
from tests.browser.conftest import LiveApp
from tests.browser.test_console_browser import check, heading, practice_key, settle

pytestmark = pytest.mark.browser

def ticket(case: str) -> str:
    return (
        f"From: Practice <{practice_email(case)}>\n"
        "Subject: ZD-5150 my Kraken bot cannot see its trade history\n"
        "Since yesterday the bot logs this every minute:\n"
        'ccxt.base.errors.PermissionDenied: kraken {"error":["EGeneral:Permission denied"]} '
        "<script>alert('x')</script> [click](javascript:alert(1))\n"
    )


def test_an_agent_pastes_a_ticket_and_clicks_through_to_the_key(page: Any, console_server: LiveApp) -> None:
    page.goto(console_server.url)
    heading(page, "Ticket triage")  # the first visit also builds the demo database
    user_id, key_id = practice_key(console_server, "missing-closed-orders")
    page.get_by_role("textbox", name="Pasted ticket").fill(ticket("missing-closed-orders"))
    page.get_by_role("button", name="Triage").click()
    page.get_by_role("heading", name="Suggested key").wait_for(timeout=30_000)
    check(page, "60-triage-result")
    suggestion = page.get_by_text(re.compile(rf"Key {key_id} · Kraken spot .* · user {user_id}")).first
    assert suggestion.is_visible()
    assert page.get_by_text(f"owner's email {practice_email('missing-closed-orders')}").first.is_visible()
    assert page.get_by_role("heading", name="What the errors mean").is_visible()
    assert page.get_by_text("Key is missing a permission").first.is_visible()
    assert page.get_by_text("Use ZD-5150 as this session's ticket").is_visible()
    # The customer's markup is text, not a script or a link.
    assert page.locator("a[href^='javascript']").count() == 0
    code = page.locator('[data-testid="stCode"]', has_text="EGeneral:Permission denied").first
    assert "<script>alert('x')</script> [click](javascript:alert(1))" in code.inner_text()
    page.get_by_role("link", name=f"Open key {key_id} to re-test it").click()
    heading(page, "Key detail")
    assert re.search(rf"/key_detail\?key={key_id}$", page.url)
    page.get_by_role("button", name="Re-test").first.wait_for()
    check(page, "61-triage-to-key")
    # Back on the home page, the paste is still there.
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Ticket triage", exact=True).click()
    heading(page, "Ticket triage")
    assert "EGeneral:Permission denied" in page.get_by_role("textbox", name="Pasted ticket").input_value()


def test_an_analyst_is_not_offered_the_triage_page(page: Any, analyst_server: LiveApp) -> None:
    page.goto(analyst_server.url)
    heading(page, "Failure stats")
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Ticket triage").count() == 0
    page.goto(f"{analyst_server.url}/triage")
    settle(page)
    check(page, "62-analyst-triage-link")
    # Told why in words, with no paste box.
    assert page.get_by_text("Your role (analyst) cannot open Ticket triage").count() == 1
    assert page.get_by_role("textbox", name="Pasted ticket").count() == 0


def test_a_whole_pasted_api_key_finds_its_key_by_fingerprint_and_is_never_shown(
    page: Any, console_server: LiveApp
) -> None:
    page.goto(console_server.url)
    heading(page, "Ticket triage")
    member = next(m for m in demo_cast() if m.name == "missing-closed-orders")
    _, key_id = practice_key(console_server, "missing-closed-orders")
    box = page.get_by_role("textbox", name="Pasted ticket")
    box.fill(f"Hello, my bot stopped. My API key is {member.api_key}\nEGeneral:Permission denied")
    page.get_by_role("button", name="Triage").click()
    page.get_by_role("heading", name="Suggested key").wait_for(timeout=30_000)
    check(page, "63-triage-whole-key")
    masked = f"{member.api_key[:4]}…{member.api_key[-4:]}"
    assert page.get_by_text(re.compile(rf"Key {key_id} · Kraken spot")).first.is_visible()
    # Found through the key's fingerprint (the whole key), not by its first and last four characters.
    assert page.get_by_text(f"whole key {masked} (line 1)").first.is_visible()
    assert member.api_key not in page.content() and box.input_value().count(masked) == 1
