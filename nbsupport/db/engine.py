"""Engine and session factory, with the pragmas SQLite needs to serve several threads and processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or answered with an operational error.

    `busy` marks a lock wait that ran out (another writer held the lock): unlike a database that is gone,
    the same transaction may succeed a moment later."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


# SQLite's "database is locked" / "database table is locked"; PostgreSQL's lock_timeout and deadlock codes.
_BUSY_SQLSTATES = frozenset({"55P03", "40P01"})


# A table the code expects is not there: the schema was never created or is older than the code.
_UNDEFINED_TABLE_SQLSTATE = "42P01"
NO_SCHEMA = "the database has no schema for this version: run `python -m nbsupport init-db`"


def _is_missing_table(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == _UNDEFINED_TABLE_SQLSTATE:
        return True
    return "no such table" in str(orig).lower()


def _is_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    return "is locked" in str(orig).lower()


SQLITE_LOCK_WAIT_S = 15


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the console read while a re-test or the demo builder writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # SQLite has one writer at a time: a burst of re-tests (a bulk batch, 200 keys at once) queues behind it,
    # and on a loaded 2-core box 5 s of waiting was sometimes too little for the last in line.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_LOCK_WAIT_S * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_LOCK_WAIT_S, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         connect_args={"connect_timeout": 5})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def describe_db_error(exc: BaseException) -> str:
    """A one-line reason without connection strings (which may carry a password)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return text[:200]


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any error, DB failures as DatabaseUnavailable."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except (OperationalError, DBAPIError) as exc:
        session.rollback()
        if _is_missing_table(exc):
            raise DatabaseUnavailable(f"{NO_SCHEMA} ({describe_db_error(exc)})") from None
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise DatabaseUnavailable(
                f"database unavailable: {describe_db_error(exc)}", busy=_is_busy(exc)
            ) from None
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
