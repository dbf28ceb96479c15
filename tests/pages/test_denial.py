"""Denial in words: a role that may not open a page or a key link is told its role, whom the page is for,
and which pages it may open."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from nbsupport.auth import ADMIN, AGENT, ANALYST, PageId, denial
from nbsupport.console import Console
from tests.pages.support import REPO_ROOT, Seeded, audit_rows, messages, open_app, rendered

pytestmark = pytest.mark.usefixtures("app_env")


def test_the_denial_names_the_role_and_whom_the_page_is_for() -> None:
    assert denial(AGENT, PageId.STATS, "Failure stats") == (
        "Your role (agent) cannot open Failure stats: it is for analysts and admins.")
    assert denial(ANALYST, PageId.KEY, "Key detail") == (
        "Your role (analyst) cannot open Key detail (individual keys and users): it is for agents and "
        "admins. Your role sees aggregates only.")
    assert denial(AGENT, PageId.AUDIT, "Audit log") == (
        "Your role (agent) cannot open Audit log: it is for admins.")
    assert "agents, analysts and admins" in denial(ADMIN, PageId.GUIDE, "Error guide")


def test_an_analyst_following_a_key_link_is_told_why_on_the_home_page(
    sign_in: Callable[[str], str], seeded: Seeded, console: Console
) -> None:
    sign_in("analyst")
    at = open_app(params={"key": str(seeded.key_id), "user": str(seeded.user_id)})
    assert not at.exception and at.title[0].value == "Failure stats"
    assert "This link opens one customer's key. Your role (analyst) cannot open Key detail" in messages(at)
    assert "main bot" not in rendered(at) and audit_rows(console) == []


def test_an_agent_on_an_ordinary_link_sees_no_denial(sign_in: Callable[[str], str], seeded: Seeded) -> None:
    sign_in("agent")
    at = open_app(params={"key": str(seeded.key_id)})
    assert "cannot open" not in messages(at)


@pytest.mark.parametrize(("role", "page", "whom"), [
    ("agent", "pages/failure_stats.py", "analysts and admins"),
    ("agent", "pages/audit_log.py", "admins"),
    ("analyst", "pages/key_detail.py", "agents and admins"),
])
def test_a_page_file_run_without_the_router_says_the_same_words(
    sign_in: Callable[[str], str], seeded: Seeded, role: str, page: str, whom: str
) -> None:
    sign_in(role)
    at = AppTest.from_file(str(REPO_ROOT / page), default_timeout=30)
    at.query_params["key"] = str(seeded.key_id)
    at.run()
    text = at.error[0].value
    assert f"Your role ({role}) cannot open this page" in text and f"it is for {whom}" in text
    assert "main bot" not in rendered(at)
