"""Plain helpers the "prove it holds" suites share: storing keys, running the CLI, reading the records."""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from nbsupport.audit import Action
from nbsupport.config import Settings
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import AuditEvent, ConnectionTest, EnvelopeKey, ExchangeKey, RetestLease, User
from nbsupport.keys import add_key
from nbsupport.sandbox import CastMember, SandboxKey, SandboxServer
from nbsupport.sandbox.cast import derived_api_key, derived_secret

REPO_ROOT = Path(__file__).resolve().parents[2]
# Long enough for a loaded 2-core machine's loopback, short enough that a timeout case costs < 1 s.
REQUEST_TIMEOUT_MS = 1200
SANDBOX_TIMEOUT_FAULT_S = 2.0
_names = itertools.count()
# The `use_env` fixture: set NBSUPPORT_* variables for in-process entry points.
UseEnv = Callable[[dict[str, str]], None]
RECORD_TABLES: tuple[type, ...] = (User, EnvelopeKey, ExchangeKey, ConnectionTest, AuditEvent, RetestLease)


def sandbox_settings(settings: Settings, sandbox: SandboxServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "exchange_urls": {"kraken": sandbox.origin, "krakenfutures": sandbox.origin},
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "retest_cooldown_s": 0,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


def fresh_key(sandbox: SandboxServer, name: str, **settings: Any) -> SandboxKey:
    """Register a key no other test uses (spot unless `product="futures"`), with derived credentials."""
    name = f"prove-{name}-{os.getpid()}-{next(_names)}"
    key = SandboxKey(api_key=derived_api_key(name), secret=derived_secret(name), name=name, **settings)
    sandbox.add_key(key)
    return key


def key_credentials(key: SandboxKey) -> Credentials:
    return Credentials(key.api_key, key.secret)


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The NBSUPPORT_* environment under which `Console.open()` (the CLI, the pages) sees these settings."""
    env = {
        "NBSUPPORT_DATABASE_URL": settings.effective_database_url,
        "NBSUPPORT_HOME": str(settings.home),
        "NBSUPPORT_MASTER_KEYS": settings.master_keys,
        "NBSUPPORT_EXCHANGE_URLS": json.dumps(settings.exchange_urls),
        "NBSUPPORT_REQUEST_TIMEOUT_MS": str(settings.request_timeout_ms),
        "NBSUPPORT_RETEST_COOLDOWN_S": str(settings.retest_cooldown_s),
    }
    if settings.egress_proxy:
        env.update(NBSUPPORT_EGRESS_PROXY=settings.egress_proxy, NBSUPPORT_EGRESS_IP=settings.egress_ip)
    env.update(extra)
    return env


def app_env(settings: Settings, identity: str, roles: dict[str, str]) -> dict[str, str]:
    """`settings_env` for the Streamlit app in demo mode, signed in locally as `identity`."""
    return settings_env(
        settings, NBSUPPORT_DEMO="1", NBSUPPORT_DEMO_IDENTITY=identity, NBSUPPORT_ROLES=json.dumps(roles)
    )


def credentials_of(member: CastMember) -> Credentials:
    """What the user stored for a cast member (it may differ from what the venue holds)."""
    return Credentials(member.api_key, member.secret)


def store(
    console: Console,
    keyring: MasterKeyring,
    credentials: Credentials,
    *,
    email: str,
    exchange: str = "kraken",
    label: str = "",
    expires_at: datetime | None = None,
) -> int:
    with console.session() as session:
        return add_key(
            session, keyring, user_email=email, exchange=exchange, credentials=credentials, label=label,
            expires_at=expires_at,
        ).id


def store_member(
    console: Console, keyring: MasterKeyring, member: CastMember, email: str | None = None
) -> int:
    return store(
        console,
        keyring,
        credentials_of(member),
        email=email or f"{member.name}@cast.example.com",
        exchange=member.claimed_exchange,
        label=member.name,
        # The venue's expiry, stored as the demo stores it: Kraken refuses an expired key as an invalid
        # one, so the stored expiry is what tells it apart (nbsupport.venues.kraken_facts).
        expires_at=member.key.expires_at if member.key is not None else None,
    )


def row_counts(console: Console) -> dict[str, int]:
    with console.session() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in RECORD_TABLES
        }


@dataclass(frozen=True)
class KeyRecord:
    last_test_at: Any
    last_outcome: str | None
    last_diagnosis: str | None
    tests: int
    newest: tuple[Any, str, str] | None  # (started_at, outcome, diagnosis) of its newest test row
    audited: int  # key.retest audit events the engine wrote (one per recorded test)


def key_record(console: Console, key_id: int) -> KeyRecord:
    with console.session() as session:
        row = session.get(ExchangeKey, key_id)
        assert row is not None
        newest = session.execute(
            select(ConnectionTest.started_at, ConnectionTest.outcome, ConnectionTest.diagnosis)
            .where(ConnectionTest.key_id == key_id)
            .order_by(ConnectionTest.started_at.desc(), ConnectionTest.id.desc())
            .limit(1)
        ).first()
        tests = session.scalar(select(func.count()).where(ConnectionTest.key_id == key_id)) or 0
        audited = (
            session.scalar(
                select(func.count()).where(
                    AuditEvent.subject_key_id == key_id,
                    AuditEvent.action == Action.KEY_RETEST,
                    AuditEvent.detail["test_id"].as_string().is_not(None),
                )
            )
            or 0
        )
        return KeyRecord(
            row.last_test_at,
            row.last_outcome,
            row.last_diagnosis,
            int(tests),
            tuple(newest) if newest else None,
            int(audited),
        )


def inconsistencies(record: KeyRecord) -> int:
    """0 when the key's last_* fields are exactly its newest test (or empty with no test) and every test
    row has its audit event; otherwise how many of those facts disagree."""
    wrong = 0
    if record.newest is None:
        wrong += sum(v is not None for v in (record.last_test_at, record.last_outcome, record.last_diagnosis))
    else:
        wrong += int((record.last_test_at, record.last_outcome, record.last_diagnosis) != record.newest)
    wrong += abs(record.tests - record.audited)
    return wrong


def run_cli(
    env: dict[str, str], *args: str, stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbsupport", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class InProcess:
    code: int
    stdout: str
    stderr: str


def cli_in_process(argv: Sequence[str], stdin: str = "") -> InProcess:
    """`nbsupport.cli.main(argv)` with stdio as a real process has it: UTF-8, strict stdout and
    backslash-escaping stderr (Python's defaults), so an unprintable argument fails here as it would there.

    An exception escaping `main` propagates: to the user it would be a traceback.
    """
    from nbsupport.cli import main

    out_raw, err_raw = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_raw, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_raw, encoding="utf-8", errors="backslashreplace", write_through=True)
    real_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    finally:
        sys.stdin = real_stdin
    return InProcess(
        int(code),
        out_raw.getvalue().decode("utf-8", "replace"),
        err_raw.getvalue().decode("utf-8", "replace"),
    )
