"""One re-test per key at a time, across threads and processes, and a cooldown between re-tests.

The lease is a row in `retest_leases` (primary key = key id), taken with `INSERT ... ON CONFLICT DO
NOTHING` so exactly one of any number of simultaneous callers gets it, on SQLite and PostgreSQL alike. The
cooldown counts from the key's last contact with the venue, read in the same transaction: its last test
(`exchange_keys.last_test_at`) or its last one-scope probe (a `key.probe` audit row, since a probe leaves
the test fields alone). A caller that arrives just after either finished is refused as `cooldown`.

A lease can outlive its test when the database fails before the release (the test's own transaction
rolled back, and the release with it). Such a lease is taken over at once when its holder is provably
gone: a holder of this process that is no longer running, or a process of this host that has exited.
Holders elsewhere are trusted until the lease expires, after the longest possible plan.
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

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nbsupport.audit import Action
from nbsupport.clock import utcnow
from nbsupport.config import Settings
from nbsupport.conntest.result import RetestRefused
from nbsupport.console import Console
from nbsupport.db.models import AuditEvent, ExchangeKey, RetestLease

# The longest plan: balance, key settings, five scope probes and a sibling check.
MAX_PLAN_REQUESTS = 8
LEASE_MARGIN_S = 10
# How long a typical full test takes, for the retry hint of a refused caller.
TYPICAL_TEST_S = 5
_HOST = socket.gethostname()[:40]
# Holders of this process whose test is still running; any other holder of this process is a leftover.
_RUNNING: set[str] = set()
_RUNNING_LOCK = threading.Lock()


def lease_seconds(settings: Settings) -> int:
    return math.ceil(MAX_PLAN_REQUESTS * settings.request_timeout_ms / 1000) + LEASE_MARGIN_S


def new_holder() -> str:
    return f"{_HOST}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"[:100]


def claim(holder: str) -> None:
    """Marks `holder` as live work of this process until `unclaim` (a test, or a queued re-test run)."""
    with _RUNNING_LOCK:
        _RUNNING.add(holder)


def unclaim(holder: str) -> None:
    with _RUNNING_LOCK:
        _RUNNING.discard(holder)


@contextmanager
def running(holder: str) -> Iterator[str]:
    """Marks `holder` as a live test of this process for as long as the block runs."""
    claim(holder)
    try:
        yield holder
    finally:
        unclaim(holder)


def holder_is_gone(holder: str) -> bool:
    """True when the holder is provably no longer running: a holder of this process that is not live, or
    a process of this host that has exited. Holders on other hosts are never presumed gone."""
    parts = holder.split(":")
    if len(parts) != 4 or parts[0] != _HOST or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        with _RUNNING_LOCK:
            return holder not in _RUNNING
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by another user
        return False
    return False


def _insert_lease(session: Session, key_id: int, holder: str, now: datetime, expires: datetime) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(RetestLease).values(key_id=key_id, holder=holder, acquired_at=now, expires_at=expires)
    # RETURNING, not rowcount: SQLAlchemy reports rowcount -1 for INSERTs on psycopg.
    inserted = session.execute(
        statement.on_conflict_do_nothing(index_elements=["key_id"]).returning(RetestLease.key_id)
    ).first()
    return inserted is not None


def _take_over(
    session: Session, key_id: int, holder: str, now: datetime, expires: datetime, *, from_holder: str | None
) -> bool:
    """Take an expired lease, or the lease of `from_holder` (known to be gone)."""
    stale = RetestLease.expires_at < now if from_holder is None else RetestLease.holder == from_holder
    taken = session.execute(
        update(RetestLease)
        .where(RetestLease.key_id == key_id, stale)
        .values(holder=holder, acquired_at=now, expires_at=expires)
        .returning(RetestLease.key_id)
    ).first()
    return taken is not None


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def take_lease(
    session: Session, settings: Settings, key_id: int, holder: str, *, ignore_cooldown: bool = False
) -> None:
    """Take the key's lease in the caller's transaction (it commits with it), or raise RetestRefused."""
    now = utcnow()
    expires = now + timedelta(seconds=lease_seconds(settings))
    cooldown = timedelta(seconds=settings.retest_cooldown_s)
    taken = _insert_lease(session, key_id, holder, now, expires) or _take_over(
        session, key_id, holder, now, expires, from_holder=None
    )
    if not taken:
        lease = session.get(RetestLease, key_id)
        if lease is not None and holder_is_gone(lease.holder):
            taken = _take_over(session, key_id, holder, now, expires, from_holder=lease.holder)
        if not taken:
            started = lease.acquired_at if lease is not None else now
            hint = started + max(cooldown, timedelta(seconds=TYPICAL_TEST_S))
            retry = min(_seconds_until(hint, now), _seconds_until(lease.expires_at, now) if lease else 1)
            age = max(0, int((now - started).total_seconds()))
            raise RetestRefused(
                "in_progress", retry,
                f"a re-test of key {key_id} is already running (started {age} s ago); its result will "
                f"appear in the key's history. Try again in {retry} s.",
            )
    if ignore_cooldown or not cooldown:
        return
    last = _last_contact(session, key_id)
    if last is not None and now - last < cooldown:
        retry = _seconds_until(last + cooldown, now)
        # Raising here rolls the lease back with the rest of the caller's transaction.
        raise RetestRefused(
            "cooldown", retry,
            f"key {key_id} was tested {int((now - last).total_seconds())} s ago; tests of one key are "
            f"spaced {settings.retest_cooldown_s} s apart to spare the key's rate limit (the user's "
            f"strategy shares it). Try again in {retry} s.",
        )


def _last_contact(session: Session, key_id: int) -> datetime | None:
    tested = session.scalar(select(ExchangeKey.last_test_at).where(ExchangeKey.id == key_id))
    probed = session.scalar(select(func.max(AuditEvent.at)).where(
        AuditEvent.subject_key_id == key_id, AuditEvent.action == Action.KEY_PROBE))
    return max((t for t in (tested, probed) if t is not None), default=None)


def drop_lease(session: Session, key_id: int, holder: str) -> None:
    session.execute(delete(RetestLease).where(RetestLease.key_id == key_id, RetestLease.holder == holder))


def release(console: Console, key_id: int, holder: str) -> None:
    with console.session() as session:
        drop_lease(session, key_id, holder)
