"""The router: sign-in gate (demo, OIDC, none), role-based navigation, demo banner, and every page's
behaviour when the database is down or the settings are broken."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from nbsupport import config
from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.ui import session
from tests.pages.fake_engine import FakeEngine
from tests.pages.support import (
    APP,
    EMAILS,
    ROLES,
    Seeded,
    assert_no_secret,
    audit_rows,
    messages,
    open_app,
    rendered,
)

PAGES = {
    "pages/triage.py": "Ticket triage",
    "pages/lookup.py": "Key lookup",
    "pages/key_detail.py": "Key detail",
    "pages/backfill.py": "Backfill health",
    "pages/error_guide.py": "Error guide",
    "pages/failure_stats.py": "Failure stats",
    "pages/bulk_retest.py": "Bulk re-test",
    "pages/audit_log.py": "Audit log",
}
ALLOWED = {
    "agent": {"pages/triage.py", "pages/lookup.py", "pages/key_detail.py", "pages/backfill.py",
              "pages/error_guide.py"},
    "analyst": {"pages/failure_stats.py", "pages/error_guide.py"},
    "admin": set(PAGES),
}
REAL_SEED_DEMO = session.seed_demo  # before any fixture replaces it
HOME = {"agent": "Ticket triage", "analyst": "Failure stats", "admin": "Ticket triage"}
OIDC = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                 "client_id": "nbsupport", "client_secret": "not-used-in-tests",
                 "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration"}}


def oidc_app(user: dict[str, object]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.secrets = dict(OIDC)
    at.user = user
    return at.run()


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("role", ROLES)
def test_demo_banner_names_the_local_identity_and_role(sign_in: Callable[[str], str], role: str) -> None:
    email = sign_in(role)
    at = open_app()
    assert not at.exception
    banner = at.warning[0].value
    assert "DEMO MODE" in banner and f"`{email}` ({role})" in banner
    assert at.title[0].value == HOME[role]


@pytest.mark.usefixtures("app_env", "seeded")
def test_an_unmapped_demo_identity_is_told_it_is_an_admin_and_how_to_try_another_role(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NBSUPPORT_DEMO_IDENTITY", "visitor@nb.test")
    config.get_settings.cache_clear()
    banner = open_app().warning[0].value
    assert "`visitor@nb.test` (admin): an admin sees every page and runs every action" in banner
    assert "NBSUPPORT_DEMO_IDENTITY" in banner and "NBSUPPORT_ROLES" in banner


@pytest.mark.usefixtures("seeded", "engine")
@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_pages(
    sign_in: Callable[[str], str], seeded: Seeded, role: str
) -> None:
    sign_in(role)
    for path, title in PAGES.items():
        at = open_app()
        if path not in ALLOWED[role]:
            with pytest.raises(ValueError, match=r"not a registered page|not registered|Could not find"):
                at.switch_page(path)
            continue
        at.switch_page(path)
        at.query_params.update({"key": str(seeded.key_id)} if path == "pages/key_detail.py" else {})
        at.run()
        assert not at.exception, (role, path, at.exception)
        assert at.title[0].value == title
        assert "cannot open this page" not in messages(at)
        assert_no_secret(at)


@pytest.mark.usefixtures("app_env")
def test_without_demo_mode_or_an_identity_provider_nobody_gets_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBSUPPORT_DEMO")
    config.get_settings.cache_clear()
    at = open_app(params={"user": "1"})
    assert not at.exception
    assert "Sign-in is not configured" in at.error[0].value
    with pytest.raises(ValueError, match=r"not a registered page|not registered|Could not find"):
        at.switch_page("pages/lookup.py")
    direct = AppTest.from_file(str(APP.parent / "pages/audit_log.py"), default_timeout=30).run()
    assert "Sign-in is not configured" in direct.error[0].value and not direct.dataframe


@pytest.fixture
def oidc_env(monkeypatch: pytest.MonkeyPatch, app_env: object) -> None:
    monkeypatch.delenv("NBSUPPORT_DEMO")
    config.get_settings.cache_clear()


@pytest.mark.usefixtures("oidc_env")
def test_signed_out_visitors_get_only_the_sign_in_button() -> None:
    at = oidc_app({"is_logged_in": False})
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in with your Noon Barbari account" in at.info[0].value
    assert "DEMO" not in rendered(at)


@pytest.mark.usefixtures("oidc_env", "seeded")
def test_a_signed_in_agent_lands_on_triage_with_a_sign_out_button() -> None:
    at = oidc_app({"is_logged_in": True, "email": EMAILS["agent"].upper(), "email_verified": True})
    assert not at.exception
    assert at.title[0].value == "Ticket triage"
    assert "Sign out" in [b.label for b in at.sidebar.button]
    assert "DEMO" not in rendered(at)


@pytest.mark.usefixtures("oidc_env")
@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"is_logged_in": True, "email": "stranger@example.com"}, "has no console role"),
        ({"is_logged_in": True, "email": EMAILS["admin"], "email_verified": False}, "has not verified"),
        # Without the login flag an email is Streamlit's placeholder, not a sign-in.
        ({"email": EMAILS["admin"]}, "Sign in with your Noon Barbari account"),
    ],
)
def test_unmapped_or_unverified_sign_ins_are_turned_away(user: dict[str, object], message: str) -> None:
    at = oidc_app(user)
    assert not at.exception
    assert message in messages(at)
    assert at.title[0].value == "Noon Barbari support console"


DB_DOWN_URLS = {
    "sqlite-unreadable": "sqlite:////nonexistent-dir/nowhere/nbsupport.sqlite3",
    "postgres-closed-port": "postgresql+psycopg://nb:hunter2pw@127.0.0.1:1/nbsupport",
}
DB_PAGES = [
    ("pages/lookup.py", {"user": "1"}),
    ("pages/key_detail.py", {"key": "1"}),
    ("pages/backfill.py", {"user": "1"}),
    ("pages/failure_stats.py", {}),
    ("pages/audit_log.py", {}),
]


@pytest.mark.parametrize("url", DB_DOWN_URLS.values(), ids=DB_DOWN_URLS.keys())
@pytest.mark.parametrize(("page", "params"), DB_PAGES, ids=[p for p, _ in DB_PAGES])
def test_a_database_that_is_down_gives_a_clear_message_on_every_page(
    sign_in: Callable[[str], str], monkeypatch: pytest.MonkeyPatch, url: str, page: str,
    params: dict[str, str]
) -> None:
    sign_in("admin")
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", url)
    config.get_settings.cache_clear()
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.switch_page(page)
    at.query_params.update(params)
    at.run()
    assert not at.exception
    assert "The console database is unavailable" in at.error[0].value
    assert "hunter2pw" not in rendered(at)


@pytest.mark.parametrize("url", DB_DOWN_URLS.values(), ids=DB_DOWN_URLS.keys())
def test_demo_mode_with_a_database_that_is_down_explains_instead_of_crashing(
    sign_in: Callable[[str], str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    sign_in("agent")
    # The real demo start-up: migrate and seed on first open, which is what fails first.
    monkeypatch.setattr(session, "seed_demo", REAL_SEED_DEMO)
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", url)
    config.get_settings.cache_clear()
    at = open_app(params={"user": "1"})
    assert not at.exception
    assert "The console database is unavailable" in at.error[0].value


@pytest.mark.usefixtures("app_env")
@pytest.mark.parametrize(
    ("name", "value", "field"),
    [("NBSUPPORT_ROLES", "not json", "roles"), ("NBSUPPORT_REQUEST_TIMEOUT_MS", "1", "request_timeout_ms"),
     ("NBSUPPORT_ROLES", '["agent"]', "roles")],
)
def test_broken_settings_are_named_not_dumped(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    at = open_app()
    assert not at.exception
    assert at.error[0].value == f"The console is misconfigured: invalid NBSUPPORT setting(s) {field}."


@pytest.mark.usefixtures("seeded")
def test_a_ticket_in_the_link_fills_the_sidebar_field_normalised_and_a_bad_one_is_refused_visibly(
    sign_in: Callable[[str], str], console: Console, seeded: Seeded, engine: FakeEngine
) -> None:
    sign_in("agent")
    assert open_app(params={"ticket": "ZD-31"}).text_input(key="ticket").value == "ZD-31"
    linked = open_app(params={"ticket": "https://nb.zendesk.com/agent/tickets/31"})
    assert linked.text_input(key="ticket").value == "ZD-31" and not linked.sidebar.warning
    bad = open_app(params={"key": str(seeded.key_id), "ticket": "<b>x</b>"})
    assert "is not a ticket reference" in bad.sidebar.warning[0].value
    # Not used: the key view it opened is recorded without a ticket.
    views = audit_rows(console, Action.KEY_VIEW)
    assert views and {r.ticket for r in views} == {""}


@pytest.mark.usefixtures("oidc_env")
def test_sign_in_click_never_ends_in_a_traceback() -> None:
    at = oidc_app({"is_logged_in": False})
    at.button[0].click()
    at.run()
    assert not at.exception
    if importlib.util.find_spec("authlib") is None:
        # Without the Authlib package st.login cannot start; the page says so instead of crashing.
        assert at.error[0].value.startswith("Sign-in is misconfigured")


@pytest.mark.usefixtures("app_env")
def test_a_database_without_the_schema_asks_for_init_db(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", f"sqlite:///{tmp_path}/empty.sqlite3")  # never migrated
    config.get_settings.cache_clear()
    at = open_app(params={"user": "1"})
    assert not at.exception
    assert "not at the current schema" in at.error[0].value and "init-db" in at.error[0].value
