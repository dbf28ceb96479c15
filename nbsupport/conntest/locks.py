"""One re-test per key at a time, across threads and processes, and a cooldown between re-tests.

The lease is a row in `retest_leases` (primary key = key id), taken with `INSERT ... ON CONFLICT DO
NOTHING` so exactly one of any number of simultaneous callers gets it, on SQLite and PostgreSQL alike. A
lease left behind by a crashed process expires after the longest possible plan and is then taken over.
The cooldown is read from `exchange_keys.last_test_at` in the same transaction, so a caller that arrives
just after a test finished is refused as `cooldown`, not run twice.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nbsupport.config import Settings
from nbsupport.conntest.result import RetestRefused
from nbsupport.console import Console
from nbsupport.db.models import ExchangeKey, RetestLease
from nbsupport.keys import utcnow

# The longest plan: balance, key settings, five scope probes and a sibling check.
MAX_PLAN_REQUESTS = 8
LEASE_MARGIN_S = 10
# How long a typical full test takes, for the retry hint of a refused caller.
TYPICAL_TEST_S = 5


def lease_seconds(settings: Settings) -> int:
    return math.ceil(MAX_PLAN_REQUESTS * settings.request_timeout_ms / 1000) + LEASE_MARGIN_S


def _holder() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"[:100]


def _insert_lease(session: Session, key_id: int, holder: str, now: datetime, expires: datetime) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(RetestLease).values(key_id=key_id, holder=holder, acquired_at=now, expires_at=expires)
    # RETURNING, not rowcount: SQLAlchemy reports rowcount -1 for INSERTs on psycopg.
    inserted = session.execute(
        statement.on_conflict_do_nothing(index_elements=["key_id"]).returning(RetestLease.key_id)
    ).first()
    return inserted is not None


def _take_over_expired(session: Session, key_id: int, holder: str, now: datetime, expires: datetime) -> bool:
    taken = session.execute(
        update(RetestLease)
        .where(RetestLease.key_id == key_id, RetestLease.expires_at < now)
        .values(holder=holder, acquired_at=now, expires_at=expires)
        .returning(RetestLease.key_id)
    ).first()
    return taken is not None


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def acquire(console: Console, key_id: int, *, ignore_cooldown: bool = False) -> str:
    """Take the key's lease or raise RetestRefused; returns the holder id `release()` needs."""
    settings = console.settings
    holder = _holder()
    now = utcnow()
    expires = now + timedelta(seconds=lease_seconds(settings))
    cooldown = timedelta(seconds=settings.retest_cooldown_s)
    with console.session() as session:
        taken = _insert_lease(session, key_id, holder, now, expires) or _take_over_expired(
            session, key_id, holder, now, expires
        )
        if not taken:
            lease = session.get(RetestLease, key_id)
            started = lease.acquired_at if lease is not None else now
            hint = started + max(cooldown, timedelta(seconds=TYPICAL_TEST_S))
            retry = min(_seconds_until(hint, now), _seconds_until(lease.expires_at, now) if lease else 1)
            age = max(0, int((now - started).total_seconds()))
            raise RetestRefused(
                "in_progress", retry,
                f"a re-test of key {key_id} is already running (started {age} s ago); its result will "
                f"appear in the key's history. Try again in {retry} s.",
            )
        last = session.scalar(select(ExchangeKey.last_test_at).where(ExchangeKey.id == key_id))
        if not ignore_cooldown and cooldown and last is not None and now - last < cooldown:
            retry = _seconds_until(last + cooldown, now)
            # Raising here rolls the lease insert back with the rest of the transaction.
            raise RetestRefused(
                "cooldown", retry,
                f"key {key_id} was tested {int((now - last).total_seconds())} s ago; re-tests of one key "
                f"are spaced {settings.retest_cooldown_s} s apart to spare the key's rate limit (the user's "
                f"strategy shares it). Try again in {retry} s.",
            )
    return holder


def release(console: Console, key_id: int, holder: str) -> None:
    with console.session() as session:
        session.execute(delete(RetestLease).where(RetestLease.key_id == key_id, RetestLease.holder == holder))


@contextmanager
def retest_lease(console: Console, key_id: int, *, ignore_cooldown: bool = False) -> Iterator[str]:
    holder = acquire(console, key_id, ignore_cooldown=ignore_cooldown)
    try:
        yield holder
    finally:
        release(console, key_id, holder)
