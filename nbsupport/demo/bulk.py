"""Fast bulk loading per backend: SQLite `executemany`, PostgreSQL `COPY`, both on one DB-API connection.

Rows go in as values already in the backend's storage form (timestamps as text, JSON as text), so no
per-value Python type processing runs for millions of rows; the statements come from the models' Core
tables. The whole load is one transaction: DDL is transactional on both backends, so a crash or Ctrl-C
rolls back the rows *and* any index or trigger dropped for the load.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from sqlalchemy import Table, insert
from sqlalchemy.dialects import sqlite

from nbsupport.db.models import Base
from nbsupport.demo.frames import NAT, Column, Days, Frame, Timestamps

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

# The driver's own connection and cursor (the load goes below SQLAlchemy): sqlite3's or psycopg's.
DriverConnection: TypeAlias = "sqlite3.Connection | psycopg.Connection[TupleRow]"
DriverCursor: TypeAlias = "sqlite3.Cursor | psycopg.Cursor[TupleRow]"

log = logging.getLogger(__name__)

# Tables the demo fills, parents first (the order rows are written and, reversed, cleared).
DEMO_TABLES = ("users", "envelope_keys", "exchange_keys", "connection_tests", "backfill_runs",
               "placed_orders_daily")
ID_TABLES = ("users", "exchange_keys", "connection_tests", "backfill_runs")
# Cleared with the demo tables; the audit trail is append-only and is never cleared.
CLEARED_TABLES = ("retest_leases", *reversed(DEMO_TABLES))


def _timestamps(us: np.ndarray, dialect: str) -> list[str | None]:
    if not len(us):
        return []
    nat = us == NAT
    if dialect == "sqlite":
        # SQLAlchemy's SQLite DATETIME storage form, 'YYYY-MM-DD HH:MM:SS.ffffff': comparisons with bound
        # parameters are textual there, so the form must match exactly.
        text = np.datetime_as_string(np.where(nat, 0, us).view("datetime64[us]"), unit="us")
        text.view(np.uint32).reshape(len(us), -1)[:, 10] = ord(" ")
    else:
        text = np.datetime_as_string(np.where(nat, 0, us).view("datetime64[us]"), unit="us", timezone="UTC")
    out: list[str | None] = text.tolist()
    for i in np.flatnonzero(nat).tolist():
        out[i] = None
    return out


def encode(column: Column, dialect: str) -> Sequence[object]:
    """A column as the driver takes it: Python values (numpy's `tolist()`), None for a missing moment."""
    if isinstance(column, Timestamps):
        return _timestamps(np.asarray(column.us, dtype=np.int64), dialect)
    if isinstance(column, Days):
        days = np.asarray(column.days, dtype=np.int64).view("datetime64[D]")
        return list(np.datetime_as_string(days).tolist())
    if isinstance(column, np.ndarray):
        return list(column.tolist())
    return list(column)


class SqliteWriter:
    def __init__(self, dbapi_connection: sqlite3.Connection) -> None:
        self.connection = dbapi_connection
        self.cursor = dbapi_connection.cursor()
        self._sql: dict[tuple[str, tuple[str, ...]], tuple[str, list[int]]] = {}

    def _statement(self, frame: Frame) -> tuple[str, list[int]]:
        names = tuple(frame.columns)
        cached = self._sql.get((frame.table, names))
        if cached is None:
            table: Table = Base.metadata.tables[frame.table]
            compiled = insert(table).compile(dialect=sqlite.dialect(), column_keys=list(names))
            order = [names.index(p) for p in compiled.positiontup or []]
            cached = self._sql[(frame.table, names)] = (str(compiled), order)
        return cached

    def write(self, frame: Frame) -> int:
        if not len(frame):
            return 0
        sql, order = self._statement(frame)
        values = [encode(c, "sqlite") for c in frame.columns.values()]
        self.cursor.executemany(sql, zip(*(values[i] for i in order), strict=True))
        return len(frame)


class PostgresWriter:
    def __init__(self, dbapi_connection: psycopg.Connection[TupleRow]) -> None:
        self.connection = dbapi_connection

    def write(self, frame: Frame) -> int:
        if not len(frame):
            return 0
        names = ", ".join(f'"{c}"' for c in frame.columns)
        values = [encode(c, "postgresql") for c in frame.columns.values()]
        with self.connection.cursor() as cursor, cursor.copy(
            f'COPY "{frame.table}" ({names}) FROM STDIN'
        ) as copy:
            for row in zip(*values, strict=True):
                copy.write_row(row)
        return len(frame)


def next_ids(cursor: DriverCursor) -> dict[str, int]:
    ids = {}
    for table in ID_TABLES:
        cursor.execute(f'SELECT max(id) FROM "{table}"')  # noqa: S608 (fixed table names)
        row = cursor.fetchone()
        assert row is not None  # an aggregate answers one row
        ids[table] = (row[0] or 0) + 1
    return ids


def clear_demo_tables(cursor: DriverCursor, dialect: str) -> None:
    """Remove every user and everything hanging off them; the audit trail stays."""
    if dialect == "postgresql":
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in CLEARED_TABLES) + " CASCADE")
        return
    for table in CLEARED_TABLES:
        cursor.execute(f'DELETE FROM "{table}"')  # noqa: S608 (fixed table names)


def _suspendable(cursor: DriverCursor, dialect: str, triggers: bool) -> list[tuple[str, str]]:
    """(drop, recreate) statements for the secondary indexes of the demo tables, their triggers if
    `triggers` (the caller recomputes what they maintain) and PostgreSQL's foreign keys (checked once, in
    bulk, when re-added), read from the database itself: what later migrations added comes back as it was."""
    tables = DEMO_TABLES
    if dialect == "sqlite":
        marks = ", ".join("?" * len(tables))
        kinds = "('index', 'trigger')" if triggers else "('index')"
        cursor.execute(f"SELECT type, name, sql FROM sqlite_master WHERE type IN {kinds} "  # noqa: S608
                       f"AND tbl_name IN ({marks}) AND sql IS NOT NULL", tables)
        return [(f'DROP {kind.upper()} "{name}"', sql) for kind, name, sql in cursor.fetchall()]
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "WHERE t.relname = ANY(%s) AND t.relnamespace = current_schema()::regnamespace "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)", (list(tables),))
    statements = [(f'DROP INDEX "{name}"', ddl) for name, ddl in cursor.fetchall()]
    cursor.execute(
        "SELECT c.conname, t.relname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_class t ON t.oid = c.conrelid WHERE c.contype = 'f' AND t.relname = ANY(%s) "
        "AND t.relnamespace = current_schema()::regnamespace", (list(tables),))
    for name, table, definition in cursor.fetchall():
        statements.append((f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"',
                           f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'))
    if triggers:
        cursor.execute(
            "SELECT g.tgname, t.relname FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid "
            "WHERE NOT g.tgisinternal AND g.tgenabled <> 'D' AND t.relname = ANY(%s) "
            "AND t.relnamespace = current_schema()::regnamespace", (list(tables),))
        for name, table in cursor.fetchall():
            statements.append((f'ALTER TABLE "{table}" DISABLE TRIGGER "{name}"',
                               f'ALTER TABLE "{table}" ENABLE TRIGGER "{name}"'))
    return statements


@contextmanager
def without_secondary_indexes(
    cursor: DriverCursor, dialect: str, *, enabled: bool, triggers: bool
) -> Iterator[None]:
    """Drop the demo tables' secondary indexes (and the objects `_suspendable` lists) for the load and
    recreate them after it: one sort per index instead of millions of random B-tree inserts, one join per
    foreign key instead of a check per row. Must run inside the load's transaction."""
    statements = _suspendable(cursor, dialect, triggers) if enabled else []
    for drop, _ in statements:
        cursor.execute(drop)
    yield
    # Indexes first: re-adding a foreign key then validates against indexed tables.
    for _, create in statements:
        log.debug("restoring: %s", create[:80])
        cursor.execute(create)


def finish_load(cursor: DriverCursor, dialect: str) -> None:
    """Planner statistics for the new data; PostgreSQL sequences past the ids the load assigned."""
    if dialect == "postgresql":
        for table in ID_TABLES:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                           f"(SELECT max(id) FROM \"{table}\"))")
        for table in DEMO_TABLES:
            cursor.execute(f'ANALYZE "{table}"')
        return
    # A sampled ANALYZE: seconds, not minutes, on tens of millions of rows.
    cursor.execute("PRAGMA analysis_limit=2000")
    cursor.execute("ANALYZE")


@contextmanager
def sqlite_bulk_mode(dbapi_connection: sqlite3.Connection) -> Iterator[None]:
    """Pragmas for the duration of a bulk load only. The rollback journal (instead of WAL) keeps one big
    transaction cheap: pages added by the load are not journaled, while WAL would write them twice."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode")
    journal = cursor.fetchone()[0]
    cursor.execute("PRAGMA synchronous")
    synchronous = cursor.fetchone()[0]
    cursor.execute("PRAGMA cache_size")
    cache_size = cursor.fetchone()[0]
    try:
        cursor.execute("PRAGMA journal_mode=TRUNCATE")
    except sqlite3.OperationalError as exc:  # another connection holds the database open in WAL mode
        log.info("keeping journal_mode=%s for the load: %s", journal, exc)
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA cache_size=-524288")  # 512 MiB of page cache while building indexes
    cursor.execute("PRAGMA foreign_keys=OFF")  # generated rows reference only rows written before them
    try:
        yield
    finally:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size={int(cache_size)}")
        cursor.execute(f"PRAGMA synchronous={int(synchronous)}")
        cursor.execute(f"PRAGMA journal_mode={journal}")
        cursor.close()
