"""AppTest harness: the app signed in through demo mode (the mechanism the app itself uses without an
identity provider) against this test's database."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from nbsupport import config, conntest
from nbsupport.config import Settings
from nbsupport.console import Console
from nbsupport.crypto import MasterKeyring
from nbsupport.ui.pages_mode import start_out_of_pages_directory_mode
from tests.pages.fake_engine import FakeEngine
from tests.pages.support import EMAILS, Seeded, seed_data


@pytest.fixture(autouse=True)
def _router_already_ran() -> Iterator[None]:
    """Page tests model the server after its first request (see nbsupport.ui.pages_mode)."""
    undo = start_out_of_pages_directory_mode()
    yield
    undo()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, console: Console, settings: Settings) -> Settings:
    """The app's environment for this test's database, signed in as the agent until `sign_in` says else."""
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("NBSUPPORT_MASTER_KEYS", settings.master_keys)
    monkeypatch.setenv("NBSUPPORT_HOME", str(settings.home))
    monkeypatch.setenv("NBSUPPORT_DEMO", "1")
    monkeypatch.setenv("NBSUPPORT_ROLES", json.dumps({email: role for role, email in EMAILS.items()}))
    monkeypatch.setenv("NBSUPPORT_DEMO_IDENTITY", EMAILS["agent"])
    # The demo seeds synthetic users on first open; these tests bring their own data (or none).
    monkeypatch.setattr("nbsupport.ui.session.seed_demo", lambda console: None)
    config.get_settings.cache_clear()
    return config.get_settings()


@pytest.fixture
def sign_in(monkeypatch: pytest.MonkeyPatch, app_env: Settings) -> Callable[[str], str]:
    def as_role(role: str) -> str:
        monkeypatch.setenv("NBSUPPORT_DEMO_IDENTITY", EMAILS[role])
        config.get_settings.cache_clear()
        return EMAILS[role]

    return as_role


@pytest.fixture
def seeded(console: Console, keyring: MasterKeyring) -> Seeded:
    return seed_data(console, keyring)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """The fake engine in place of the real one's `run_retest` and `recorded_tests` for this test."""
    fake = FakeEngine()
    monkeypatch.setattr(conntest, "run_retest", fake.run_retest)
    monkeypatch.setattr(conntest, "recorded_tests", fake.recorded_tests)
    return fake
