"""Build the demo database: `build_demo` (the `demo` command) and `ensure_demo_data` (first start).

Users are generated in fixed chunks of `USERS_PER_CHUNK`, each from its own random stream seeded by
(seed, chunk number), and written in one transaction per build; then the practice keys of the sandbox cast
are stored and the fleet rollups recomputed.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from nbsupport import audit
from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.crypto import MasterKeyring
from nbsupport.db.engine import DatabaseUnavailable
from nbsupport.db.models import User
from nbsupport.demo import bulk
from nbsupport.demo import profiles as P
from nbsupport.demo.cast import store_demo_cast
from nbsupport.demo.chunk import chunk_source
from nbsupport.demo.frames import DAY, HOUR, MINUTE, Frame, from_us, to_us
from nbsupport.demo.names import DEMO_EMAIL_SUFFIXES
from nbsupport.demo.population import USERS_PER_CHUNK, Context
from nbsupport.fleet.stats.rollups import rebuild_rollups
from nbsupport.plain import plain_dict

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process lock for SQLite (PostgreSQL uses an advisory lock)
    fcntl = None  # type: ignore[assignment]  # typeshed holds only the checking platform's stdlib
_FILE_LOCKS = fcntl is not None

log = logging.getLogger(__name__)

# Enough for the incident detector (nbsupport.fleet.stats.incidents: 20 tests a day per venue) on the busier
# venues (Kraken ~70 a day, Binance ~50), still built in a few seconds.
DEFAULT_USERS = 1_000
MAX_USERS = 10_000_000
# From this size on, secondary indexes are dropped for the load and rebuilt after it (benchmarks/README.md).
DROP_INDEXES_FROM_USERS = 1_000
# A generator process beside the writer did not pay on the 2-core box this was measured on (unpickling a
# chunk costs the writer about what generating it would: benchmarks/README.md), so it needs more cores.
PARALLEL_FROM_USERS = 50_000
PARALLEL_FROM_CORES = 2
HISTORY_DAYS = 29  # placed orders per day up to yesterday; weekly backfill windows over the first 28
DEMO_ACTOR = audit.Actor("system:demo", "admin")


class DemoError(Exception):
    """The demo cannot be built as asked (a non-empty database, bad sizes); the message says why."""


@dataclass(frozen=True)
class DemoSpec:
    users: int = DEFAULT_USERS
    seed: int = 1
    days: int = 90
    # The build's "now" is midnight UTC of this day (default: today): same seed and day, same rows.
    as_of: date | None = None

    def now(self) -> datetime:
        day = self.as_of or datetime.now(UTC).date()
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    def validate(self) -> None:
        if not 1 <= self.users <= MAX_USERS:
            raise DemoError(f"--users must be between 1 and {MAX_USERS:,}")
        if not 0 <= self.seed < 2**63:
            raise DemoError("--seed must be a non-negative integer")
        if not 1 <= self.days <= 3650:
            raise DemoError("--days must be between 1 and 3650")
        if self.as_of is not None and not date(2000, 1, 1) <= self.as_of <= date(2100, 12, 31):
            raise DemoError("--as-of must be a day between 2000-01-01 and 2100-12-31")


@dataclass
class BuildReport:
    backend: str
    users: int = 0
    keys: int = 0
    connection_tests: int = 0
    backfill_runs: int = 0
    placed_order_days: int = 0
    practice_keys: int = 0
    dropped_indexes: bool = False
    workers: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def users_per_second(self) -> float:
        return self.users / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**plain_dict(self), "users_per_second": round(self.users_per_second)}


def make_context(spec: DemoSpec) -> Context:
    now = to_us(spec.now())
    incident = None
    rng = np.random.default_rng([spec.seed, 0x1C1])
    if spec.days >= 3:
        # A Kraken outage a few weeks back: a few hours of exchange_unavailable / network_error.
        back = int(rng.integers(14, 29))
        back = back if back < spec.days else max(1, spec.days // 3)
        start = now - back * DAY + int(rng.integers(8, 19)) * HOUR + int(rng.integers(0, 60)) * MINUTE
        incident = (start, start + int(rng.uniform(2.5, 4.5) * HOUR))
    others: tuple[tuple[int, int, int], ...] = ()
    if spec.days >= 10:
        # A Binance API degradation last week: a second spike, on another venue and day.
        back = int(rng.integers(3, 8))
        start = now - back * DAY + int(rng.integers(6, 20)) * HOUR
        others = ((start, start + int(rng.uniform(3, 6) * HOUR), P.VENUE_INDEX["binance"]),)
    chunks = -(-spec.users // USERS_PER_CHUNK)
    return Context(spec.seed, now, spec.days, spec.users, chunks, min(HISTORY_DAYS, spec.days), incident,
                   others)


def incident_window(spec: DemoSpec) -> tuple[datetime, datetime] | None:
    """When the generated Kraken outage happened (for tests, docs and the fleet pages' checks)."""
    window = make_context(spec).incident
    return (from_us(window[0]), from_us(window[1])) if window else None


@contextmanager
def build_lock(console: Console) -> Iterator[None]:
    """One demo build at a time per database, across processes."""
    url = console.engine.url
    if url.get_backend_name() == "sqlite":
        if not _FILE_LOCKS or not url.database or url.database == ":memory:":
            yield
            return
        # Named like SQLite's own -journal/-wal files, so whatever ignores or cleans those covers it.
        with Path(f"{url.database}-demo-lock").open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    # Advisory locks are database-wide: keyed by schema, builds of other schemas (tests, benchmarks)
    # never wait for this one.
    key = "hashtextextended('nbsupport.demo/' || current_schema(), 0)"
    with console.engine.connect() as conn:
        conn.execute(text(f"SELECT pg_advisory_lock({key})"))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text(f"SELECT pg_advisory_unlock({key})"))
            conn.commit()


def _count_users(console: Console) -> int:
    with console.session() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def _count_non_demo_users(console: Console) -> int:
    with console.session() as session:
        query = select(func.count()).select_from(User)
        for suffix in DEMO_EMAIL_SUFFIXES:
            query = query.where(~User.email.endswith(suffix))
        return int(session.scalar(query) or 0)


def build_demo(
    console: Console,
    spec: DemoSpec | None = None,
    *,
    reset: bool = False,
    force: bool = False,
    drop_indexes: bool | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """Fill an empty database (or, with `reset`, replace a demo one) with `spec.users` demo users.

    Refuses a database that has users unless `reset`; with `reset`, refuses one holding users outside
    the demo's reserved domains unless `force`. `drop_indexes`, `workers` (generator processes beside
    the writer): None decides by size.
    """
    spec = spec or DemoSpec()
    spec.validate()
    keyring = console.keyring()
    with build_lock(console):
        return _build(console, keyring, spec, reset=reset, force=force, drop_indexes=drop_indexes,
                      workers=workers, progress=progress)


def ensure_demo_data(console: Console, spec: DemoSpec | None = None) -> bool:
    """Build the default demo if the database has no users yet; True when it built. Safe when several
    processes start at once: one builds, the others wait for it and return False."""
    try:
        if _count_users(console):
            return False
    except (DBAPIError, DatabaseUnavailable):
        pass  # no schema yet (or a hiccup): decided again under the lock, after migrating
    spec = spec or DemoSpec()
    keyring = console.keyring()
    with build_lock(console):
        console.migrate()
        if _count_users(console):
            return False
        _build(console, keyring, spec, reset=False, force=False, drop_indexes=None, workers=None,
               progress=None)
        return True


def _build(console: Console, keyring: MasterKeyring, spec: DemoSpec, *, reset: bool, force: bool,
           drop_indexes: bool | None, workers: int | None,
           progress: Callable[[int, int], None] | None) -> BuildReport:
    started = time.perf_counter()
    existing = _count_users(console)
    if existing and not reset:
        raise DemoError(f"the database already has {existing:,} users; pass --reset to replace them")
    if existing and not force and (foreign := _count_non_demo_users(console)):
        raise DemoError(f"refusing to reset: {foreign:,} users are not demo users (their addresses are "
                        "outside the demo's .example domains); pass --force to delete them anyway")
    dialect = console.engine.dialect.name
    if drop_indexes is None:
        drop_indexes = spec.users >= DROP_INDEXES_FROM_USERS or existing >= DROP_INDEXES_FROM_USERS
    if workers is None:
        many_cores = (os.cpu_count() or 1) > PARALLEL_FROM_CORES
        workers = 1 if spec.users >= PARALLEL_FROM_USERS and many_cores else 0
    report = BuildReport(dialect, dropped_indexes=drop_indexes, workers=workers)
    report.phases = {"generate": 0.0, "write": 0.0}
    _write_in_one_transaction(console, keyring, spec, report, reset=reset, progress=progress)
    phases = report.phases
    now = spec.now()
    mark = time.perf_counter()
    report.practice_keys = store_demo_cast(console, keyring, now)
    with console.session() as session:
        audit.record(session, DEMO_ACTOR, Action.DEMO_BUILD, result=f"{report.users} users",
                     detail={"seed": spec.seed, "users": spec.users, "days": spec.days,
                             "as_of": now.date().isoformat(), "reset": reset})
    phases["practice_keys"] = time.perf_counter() - mark
    mark = time.perf_counter()
    rebuild_rollups(console)
    phases["rollups"] = time.perf_counter() - mark
    report.seconds = time.perf_counter() - started
    return report


def _write_in_one_transaction(console: Console, keyring: MasterKeyring, spec: DemoSpec, report: BuildReport,
                              *, reset: bool, progress: Callable[[int, int], None] | None) -> None:
    """Reset, load and index rebuild in one transaction on one DB-API connection: all or nothing."""
    dialect, phases = report.backend, report.phases
    if dialect == "sqlite":
        # Idle pooled connections would keep the database in WAL mode (see bulk.sqlite_bulk_mode).
        console.engine.dispose()
    raw = console.engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None  # a checked-out connection has its driver's connection
        with bulk.sqlite_bulk_mode(dbapi) if dialect == "sqlite" else nullcontext():
            cursor = dbapi.cursor()
            try:
                if dialect == "sqlite":
                    cursor.execute("BEGIN")
                else:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                with bulk.without_secondary_indexes(cursor, dialect, enabled=report.dropped_indexes,
                                                    triggers=True):
                    if reset:
                        mark = time.perf_counter()
                        bulk.clear_demo_tables(cursor, dialect)
                        phases["reset"] = time.perf_counter() - mark
                    _load(dbapi, cursor, keyring, spec, make_context(spec), report, progress)
                    mark = time.perf_counter()
                phases["indexes"] = time.perf_counter() - mark
                mark = time.perf_counter()
                bulk.finish_load(cursor, dialect)
                dbapi.commit()
                phases["analyze_commit"] = time.perf_counter() - mark
            except BaseException:
                dbapi.rollback()
                raise
            finally:
                cursor.close()
    finally:
        raw.close()


def _offset_ids(frame: Frame, first: int) -> None:
    """A chunk numbers its rows from 0; the database's next free id moves them into place."""
    ids = frame.columns["id"]
    assert isinstance(ids, np.ndarray)  # generated ids are an int64 array
    ids += first


def _load(dbapi: bulk.DriverConnection, cursor: bulk.DriverCursor, keyring: MasterKeyring, spec: DemoSpec,
          ctx: Context, report: BuildReport, progress: Callable[[int, int], None] | None) -> None:
    writer = bulk.SqliteWriter(dbapi) if isinstance(dbapi, sqlite3.Connection) else bulk.PostgresWriter(dbapi)
    ids = bulk.next_ids(cursor)
    next_test, next_backfill = ids["connection_tests"], ids["backfill_runs"]
    with chunk_source(ctx, keyring, ids["users"], ids["exchange_keys"], report.workers) as chunks:
        mark = time.perf_counter()
        for chunk in chunks:
            ready = time.perf_counter()
            report.phases["generate"] += ready - mark
            _offset_ids(chunk.tests, next_test)
            _offset_ids(chunk.backfills, next_backfill)
            for frame in chunk.frames():
                writer.write(frame)
            mark = time.perf_counter()
            report.phases["write"] += mark - ready
            report.users += len(chunk.users)
            report.keys += len(chunk.keys)
            report.connection_tests += len(chunk.tests)
            report.backfill_runs += len(chunk.backfills)
            report.placed_order_days += len(chunk.placed)
            next_test += len(chunk.tests)
            next_backfill += len(chunk.backfills)
            if progress:
                progress(report.users, spec.users)
