"""Observation 9 of issue #11 in a real browser: search finds a demo user by full name, surname, the part of
the email before the @, the domain and a lower-case key fragment; the search and the open key survive a trip
to another page and a reload, and stay in the address; so does the session's ticket, on every page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from nbsupport.db.models import AuditEvent, ExchangeKey, User
from tests.browser.conftest import LiveApp
from tests.browser.test_console_browser import check, heading, open_console, settle

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class DemoUser:
    id: int
    name: str  # "Mia Andersen"
    email: str  # "mia_a2@gmail.example"
    key_id: int
    masked: str
    prefix: str


def demo_user(console: LiveApp) -> DemoUser:
    """A demo user with a first_l<n>@ address (like mia_a2@…) and a key, early enough in id order that each
    query below lists them among its first results."""
    db = open_console(console)
    try:
        with db.session() as s:
            rows = s.execute(select(User, ExchangeKey).join(ExchangeKey, ExchangeKey.user_id == User.id)
                             .where(User.email.like("%\\_%@%.example", escape="\\"),
                                    User.display_name.like("% %"))
                             .order_by(User.id)).all()
            # A domain or surname search lists at most 20 users, in id order: the first such user is listed.
            user, key = rows[0]
            earlier = s.scalar(select(func.count()).select_from(User)
                               .where(User.email_domain == user.email_domain, User.id < user.id))
            assert earlier is not None and earlier < 20, earlier
            return DemoUser(user.id, user.display_name, user.email, key.id,
                            f"{key.key_prefix}…{key.key_suffix}", key.key_prefix)
    finally:
        db.close()


def search(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Search")
    box.fill(text)
    box.press("Enter")
    settle(page)


def times_listed(console: LiveApp, key_id: int) -> int:
    """How often a lookup listed the key to an agent: each listing writes a `key.view` audit row (once per
    browser session), which is the proof that the page showed it (the tables are drawn on a canvas)."""
    db = open_console(console)
    try:
        with db.session() as s:
            return int(s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "key.view", AuditEvent.subject_key_id == key_id,
                AuditEvent.result == "lookup")) or 0)
    finally:
        db.close()


def sidebar(page: Any, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    heading(page, title)


def test_search_finds_a_user_by_name_email_part_domain_and_any_case_fragment(
    page: Any, console_server: LiveApp
) -> None:
    page.goto(f"{console_server.url}/lookup")
    heading(page, "Key lookup")  # the first visit builds the demo database
    who = demo_user(console_server)
    local, domain = who.email.split("@")
    surname = who.name.split(" ", 1)[1]
    queries = {"name": who.name, "surname": surname, "email-local": local, "domain": domain,
               "fragment-lower": who.prefix.lower()}
    for label, text in queries.items():
        tab = page.context.new_page()  # a new browser session: its listing is audited afresh
        tab.goto(f"{console_server.url}/lookup")
        heading(tab, "Key lookup")
        before = times_listed(console_server, who.key_id)
        search(tab, text)
        check(tab, f"60-search-{label}")
        assert tab.get_by_text("unrecognised search").count() == 0, label
        assert times_listed(console_server, who.key_id) == before + 1, label
        tab.close()


def test_the_search_and_the_open_key_survive_a_reload_and_another_page(
    page: Any, console_server: LiveApp
) -> None:
    page.goto(f"{console_server.url}/lookup")
    heading(page, "Key lookup")
    who = demo_user(console_server)
    search(page, who.masked)  # one key matches: it opens by itself
    page.get_by_text("Latest diagnosis").wait_for()
    check(page, "61-search-key-open")
    assert f"key={who.key_id}" in page.url and "q=" in page.url

    page.reload()
    heading(page, "Key lookup")
    page.get_by_text("Latest diagnosis").wait_for()
    assert page.get_by_role("textbox", name="Search").input_value() == who.masked
    assert f"key={who.key_id}" in page.url
    check(page, "62-search-after-reload")

    sidebar(page, "Error guide")
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Key lookup", exact=True).click()
    page.get_by_role("heading", name="Key lookup", exact=True).first.wait_for()
    box = page.get_by_role("textbox", name="Search")
    for _ in range(500):  # the moment the search is back on screen, while the key is still being drawn
        if box.count() and box.input_value() == who.masked:
            break
        page.wait_for_timeout(20)
    query = parse_qs(urlsplit(page.url).query)
    assert query.get("q") == [who.masked] and query.get("key") == [str(who.key_id)], page.url
    page.get_by_text("Latest diagnosis").wait_for()
    settle(page)
    check(page, "63-search-back-from-another-page")


def ticket_field(page: Any) -> Any:
    return page.locator('[data-testid="stSidebar"]').get_by_role("textbox", name="Ticket reference")


def ticket_in_address(page: Any, expected: str | None) -> str | None:
    """`?ticket=` of the address once it is `expected` (within a few seconds: the run that puts it there
    may still be drawing), else what it is then."""
    for _ in range(50):
        found = parse_qs(urlsplit(page.url).query).get("ticket", [None])[0]
        if found == expected:
            break
        page.wait_for_timeout(100)
    return found


def test_the_sessions_ticket_stays_in_the_address_through_page_switches_a_reload_and_a_copied_link(
    page: Any, browser: Any, console_server: LiveApp
) -> None:
    page.goto(f"{console_server.url}/lookup")
    heading(page, "Key lookup")
    ticket_field(page).fill("zd 4242")
    ticket_field(page).press("Enter")
    settle(page)
    assert ticket_in_address(page, "ZD-4242") == "ZD-4242", page.url
    for title in ("Error guide", "Key detail", "Ticket triage", "Key lookup"):
        sidebar(page, title)
        assert ticket_in_address(page, "ZD-4242") == "ZD-4242", (title, page.url)
    check(page, "64-ticket-in-the-address")
    page.reload()
    heading(page, "Key lookup")
    assert ticket_field(page).input_value() == "ZD-4242"
    copied = browser.new_context().new_page()  # the address pasted into another browser
    try:
        copied.goto(page.url)
        heading(copied, "Key lookup")
        assert ticket_field(copied).input_value() == "ZD-4242"
    finally:
        copied.context.close()
    # A cleared ticket leaves the address too.
    ticket_field(page).fill("")
    ticket_field(page).press("Enter")
    settle(page)
    sidebar(page, "Error guide")
    assert ticket_in_address(page, None) is None, page.url
