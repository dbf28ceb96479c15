"""Helpers for the AppTest page tests: test data, running the app, reading everything a page rendered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from nbsupport.audit import Action
from nbsupport.conntest import runs
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import AuditEvent, ConnectionTest, ExchangeKey, RetestRun
from nbsupport.fleet.stats.rollups import rebuild_rollups_in
from nbsupport.keys import add_key

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "streamlit_app.py"

EMAILS = {"agent": "agent@nb.test", "analyst": "analyst@nb.test", "admin": "admin@nb.test"}
ROLES = tuple(EMAILS)

# Realistic-looking credentials: neither may ever appear in anything a page renders.
API_KEY = "Kx9fQz2LmN4pR7sT1vW3yA5bC8dE0gH2jK4mP6rS9uV1xZ3"
SECRET = "kQ7w+Zr2/9pLmXbT4vYc1sE8dF0gHjK3nM5qR7tU9wZ2aB4cD6eF8gH0iJ2kL4mN6oP8qR0sT2uV4wX6yZ8aB+/cd=="
FUTURES_KEY = "Fu7uReSkEy0123456789abcdefGHIJKLmnopqrstUVWX"
FUTURES_SECRET = "futuresSecret/Abc+123456789012345678901234567890=="
SECRETS = (API_KEY, SECRET, FUTURES_KEY, FUTURES_SECRET, API_KEY[4:-4], SECRET[:24])


@dataclass
class Seeded:
    user_id: int
    key_id: int
    futures_key_id: int
    other_user_id: int
    other_key_id: int


def _test_row(
    key: ExchangeKey, started: datetime, outcome: str, diagnosis: str, **extra: Any
) -> ConnectionTest:
    return ConnectionTest(
        key_id=key.id, exchange=key.exchange, started_at=started, trigger="save", actor="cli:test",
        ticket="", outcome=outcome, diagnosis=diagnosis, missing_permissions=extra.get("missing", []),
        permissions=extra.get("permissions", {}), exchange_error=extra.get("error", ""), requests=3,
        duration_ms=420, egress_ip="51.38.112.198", detail={},
    )


def seed_data(console: Console, keyring: MasterKeyring) -> Seeded:
    """Two users: Ann with a failing Kraken spot key (withdraw on, rotation overdue) and a futures key,
    Bob with one healthy key."""
    now = datetime.now(UTC)
    with console.session() as s:
        spot = add_key(s, keyring, user_email="ann@example.com", exchange="kraken",
                       credentials=Credentials(API_KEY, SECRET), label="main bot",
                       ip_whitelist=["51.38.112.198"], expires_at=now + timedelta(days=5),
                       now=now - timedelta(days=120))
        futures = add_key(s, keyring, user_email="ann@example.com", exchange="krakenfutures",
                          credentials=Credentials(FUTURES_KEY, FUTURES_SECRET), label="perps",
                          now=now - timedelta(days=10))
        other = add_key(s, keyring, user_email="bob@example.com", exchange="kraken",
                        credentials=Credentials("BoBkEy0000111122223333444455556666", "bobsecret=="),
                        now=now - timedelta(days=3))
        spot.last_permissions = {"query_funds": "granted", "query_open_orders": "granted",
                                 "query_closed_orders": "missing", "create_orders": "granted",
                                 "cancel_orders": "granted", "withdraw": "granted"}
        spot.last_outcome, spot.last_diagnosis, spot.last_test_at = "failed", "missing_permission", now
        other.last_outcome, other.last_diagnosis, other.last_test_at = "ok", "ok", now
        s.add_all([
            _test_row(spot, now - timedelta(days=2), "ok", "ok"),
            _test_row(spot, now - timedelta(hours=3), "failed", "missing_permission",
                      missing=["query_closed_orders"], error="EGeneral:Permission denied"),
            _test_row(other, now - timedelta(hours=1), "ok", "ok"),
        ])
        s.flush()
        # Fleet statistics read rollups; tests written straight to the table must be rolled up by hand.
        rebuild_rollups_in(s)
        return Seeded(spot.user_id, spot.id, futures.id, other.user_id, other.id)


def open_app(page: str | None = None, params: dict[str, str] | None = None) -> AppTest:
    """Run the router, then (optionally) switch to `page` with `params` in the URL, as a click would."""
    at = AppTest.from_file(str(APP), default_timeout=30)
    if page is None:
        at.query_params.update(params or {})
        return at.run()
    at.run()
    at.switch_page(page)
    at.query_params.clear()
    at.query_params.update(params or {})
    return at.run()


def _texts(node: Any) -> Iterator[str]:
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _texts(child)
        proto = getattr(node, "proto", None)
        if proto is not None:
            yield str(proto)
        return
    value = None
    with suppress(Exception):  # not every element has a value
        value = node.value
    if isinstance(value, pd.DataFrame):
        yield value.to_csv()
    proto = getattr(node, "proto", None)
    if proto is not None:
        yield str(proto)


def rendered(at: AppTest) -> str:
    """Everything the run rendered, main area and sidebar: text, labels, widget values, table cells."""
    return "\n".join(_texts(at._tree))


def assert_no_secret(at: AppTest) -> None:
    text = rendered(at)
    for secret in SECRETS:
        assert secret not in text


def audit_rows(console: Console, action: Action | None = None) -> list[AuditEvent]:
    with console.session() as s:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        return list(s.scalars(query))


def messages(at: AppTest) -> str:
    """The text of error/warning/info/success boxes, with Markdown escapes removed."""
    text = "\n".join(e.value for kind in ("error", "warning", "info", "success") for e in getattr(at, kind))
    return re.sub(r"\\(.)", r"\1", text)



def finish_retests(console: Console, at: AppTest, timeout_s: float = 60) -> AppTest:
    """Wait for every live re-test run (they run in the console's background workers, not in the script
    run), then rerun the page as its fragment would once the run ended; a page that shows no run live is left
    as it is (a message shown once would go with a rerun)."""
    with console.session() as s:
        live = list(s.scalars(select(RetestRun.id).where(RetestRun.live_key_id.is_not(None))))
    for run_id in live:
        runs.wait(console, run_id, timeout_s)
    return at.run(timeout=timeout_s) if live or "Re-test running" in rendered(at) else at


def set_ticket(at: AppTest, ticket: str) -> AppTest:
    """Type the session's ticket in the sidebar field."""
    return text_field(at, "Ticket reference").set_value(ticket).run()


def text_field(at: AppTest, label: str) -> Any:
    """The one text input with this label (main area or sidebar)."""
    found = [field for field in at.text_input if field.label == label]
    assert len(found) == 1, f"{len(found)} text inputs labelled {label!r}"
    return found[0]
