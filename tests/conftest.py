"""Shared fixtures. Every test gets its own database: a fresh SQLite file, or, when
NBSUPPORT_DATABASE_URL points at PostgreSQL, a fresh schema on that server (dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from nbsupport.config import Settings
from nbsupport.console import Console
from nbsupport.crypto import MasterKeyring, generate_master_key

SERVER_URL = os.environ.get("NBSUPPORT_DATABASE_URL", "")
ON_POSTGRES = SERVER_URL.startswith("postgresql")
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's real settings, secrets file or database by accident."""
    for name in list(os.environ):
        if name.startswith("NBSUPPORT_") and name != "NBSUPPORT_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("NBSUPPORT_HOME", str(tmp_path / "home"))
    from nbsupport import config

    config.get_settings.cache_clear()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'nbsupport.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in SERVER_URL else "?"
    try:
        yield f"{SERVER_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def master_keys() -> str:
    return generate_master_key("v1")


@pytest.fixture
def settings(tmp_path: Path, database_url: str, master_keys: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, master_keys=master_keys)


@pytest.fixture
def keyring(master_keys: str) -> MasterKeyring:
    return MasterKeyring.parse(master_keys)


@pytest.fixture
def console(settings: Settings) -> Iterator[Console]:
    """A migrated database behind a Console, as every entry point opens it."""
    opened = Console(settings)
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for running `python -m nbsupport` in a subprocess against the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBSUPPORT_")}
    env.update(
        NBSUPPORT_HOME=str(settings.home),
        NBSUPPORT_DATABASE_URL=settings.effective_database_url,
        NBSUPPORT_MASTER_KEYS=settings.master_keys,
        PYTHONPATH=str(REPO_ROOT),
    )
    return env


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run suites marked slow (CI does)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        # A test that never opens a database is the same on both backends, and the SQLite pass ran it.
        # `every_backend` marks the few that reach the database some other way (a subprocess's env).
        once = pytest.mark.skip(reason="opens no database: the SQLite pass runs it")
        for item in items:
            opens_database = "database_url" in getattr(item, "fixturenames", ())
            if not opens_database and "every_backend" not in item.keywords:
                item.add_marker(once)
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow suite: run with --run-slow (CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
