"""The rollup tables fleet statistics read: full rebuilds and the per-test incremental hook.

Every rollup carries the tested key's kind (`key_kind`: customer / practice / internal), so fleet figures
count customers only unless asked (nbsupport.fleet.kinds).

* `test_rollup_daily`: tests per (UTC day, exchange, key kind, diagnosis, outcome).
* `recovery_rollup_daily`: failure episodes that went green, histogram of durations per (day opened,
  exchange). An episode opens at a key's first failed test after a green (ok or warning) one and closes at
  its next green test.
* `key_posture_rollup`: stored keys by posture. Triggers on exchange_keys keep it current (migration 0002);
  the rebuild here recomputes it with the same expressions.
* `backfill_notable_runs`: empty backfill runs with orders inside their window, or a window before the key
  existed. Triggers on backfill_runs and placed_orders_daily keep it current; rebuilt here too.

`rebuild_rollups` recomputes all three from raw rows (after the demo build, or to repair drift).
`record_test_in_rollups` must run in the transaction that inserts a connection test, after the insert:
tests of one key must arrive in time order (the engine's per-key lease guarantees it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import Table, and_, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nbsupport.console import Console
from nbsupport.db.models import Base, ConnectionTest, ExchangeKey, KeyFingerprintCount
from nbsupport.db.rollup_models import (
    BackfillNotableRun,
    DailyTestRollup,
    KeyPostureRollup,
    RecoveryRollupDaily,
)
from nbsupport.fleet.kinds import CUSTOMER
from nbsupport.keys import rebuild_fingerprint_counts

FAILED = "failed"
# How many of a key's latest tests one read looks at to find where its failure episode opened.
_EPISODE_WINDOW = 32
# Posture counts every stored key except those whose credentials are no longer in use.
GONE_STATUSES = "('revoked', 'deleted')"


def duration_bucket(seconds: float) -> int:
    """Minutes, rounded down to the histogram's resolution: 1 min below 1 h, 5 min below 10 h, 30 min below
    100 h, 6 h beyond. Percentiles read from the histogram are exact to that resolution."""
    m = max(round(seconds), 0) // 60
    if m < 60:
        return m
    if m < 600:
        return m - m % 5
    if m < 6000:
        return m - m % 30
    return m - (m - 6000) % 360


def _bucket_sql(seconds: str) -> str:
    # Rounded to whole seconds first: julianday arithmetic leaves 7199.9999 for two hours.
    m = f"(CAST(round({seconds}) AS INTEGER) / 60)"
    return (
        f"CASE WHEN {m} < 60 THEN {m} WHEN {m} < 600 THEN {m} - {m} % 5 "
        f"WHEN {m} < 6000 THEN {m} - {m} % 30 ELSE {m} - ({m} - 6000) % 360 END"
    )


def _dialect_sql(dialect: str) -> dict[str, Callable[..., str]]:
    if dialect == "sqlite":
        return {
            "day": lambda col: f"date({col})",
            "seconds": lambda a, b: f"((julianday({b}) - julianday({a})) * 86400.0)",
        }
    return {
        "day": lambda col: f"(({col}) AT TIME ZONE 'UTC')::date",
        "seconds": lambda a, b: f"extract(epoch from ({b} - {a}))",
    }


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _posture_select_sql(dialect: str) -> str:
    if dialect == "sqlite":
        rot_day, exp_day = "date(coalesce(rotated_at, created_at))", "date(expires_at)"
        withdraw = (
            "(coalesce(json_extract(last_permissions, '$.withdraw') = 'granted', 0) "
            "OR coalesce(last_diagnosis = 'withdraw_enabled', 0))"
        )
        no_whitelist = "(coalesce(json_array_length(ip_whitelist), 0) = 0)"
        false = "0"
    else:
        rot_day = "(coalesce(rotated_at, created_at) AT TIME ZONE 'UTC')::date"
        exp_day = "(expires_at AT TIME ZONE 'UTC')::date"
        withdraw = (
            "(coalesce(last_permissions->>'withdraw' = 'granted', false) "
            "OR coalesce(last_diagnosis = 'withdraw_enabled', false))"
        )
        no_whitelist = (
            "(CASE WHEN json_typeof(ip_whitelist) = 'array' "
            "THEN json_array_length(ip_whitelist) = 0 ELSE true END)"
        )
        false = "false"
    # Assembled from this module's constants only.
    return (
        "SELECT exchange, key_kind, kind, day, can_withdraw, no_whitelist, count(*) FROM ("  # noqa: S608
        f"SELECT exchange, kind AS key_kind, 'rotation' AS kind, {rot_day} AS day, "
        f"{withdraw} AS can_withdraw, {no_whitelist} AS no_whitelist FROM exchange_keys "
        f"WHERE status NOT IN {GONE_STATUSES} "
        f"UNION ALL SELECT exchange, kind, 'expiry', {exp_day}, {false}, {false} FROM exchange_keys "
        f"WHERE status NOT IN {GONE_STATUSES} AND expires_at IS NOT NULL) x "
        "GROUP BY exchange, key_kind, kind, day, can_withdraw, no_whitelist"
    )


def _recovery_select_sql(dialect: str) -> str:
    sql = _dialect_sql(dialect)
    # Keep only the tests where a key changes colour; they alternate open/close per key, so the close of
    # each opening test is the next marked row of the same key.
    return f"""
        WITH t AS (
            SELECT id, key_id, exchange, started_at, outcome,
                   LAG(outcome) OVER (PARTITION BY key_id ORDER BY started_at, id) AS prev
            FROM connection_tests
        ), marks AS (
            SELECT t.id, t.key_id, t.exchange, t.started_at, t.outcome, k.kind AS key_kind
            FROM t JOIN exchange_keys k ON k.id = t.key_id
            WHERE (outcome = '{FAILED}' AND (prev IS NULL OR prev <> '{FAILED}'))
               OR (outcome <> '{FAILED}' AND prev = '{FAILED}')
        ), ep AS (
            SELECT exchange, key_kind, outcome, started_at AS failed_at,
                   LEAD(started_at) OVER (PARTITION BY key_id ORDER BY started_at, id) AS green_at
            FROM marks
        )
        SELECT {sql["day"]("failed_at")} AS day, exchange, key_kind,
               {_bucket_sql(sql["seconds"]("failed_at", "green_at"))} AS minutes, count(*) AS n
        FROM ep WHERE outcome = '{FAILED}' AND green_at IS NOT NULL
        GROUP BY 1, 2, 3, 4"""  # noqa: S608 (assembled from this module's constants only)


def _notable_select_sql(dialect: str) -> str:
    """The empty runs backfill health looks at (see BackfillNotableRun); same rule as the triggers."""
    day = _dialect_sql(dialect)["day"]
    false = "0" if dialect == "sqlite" else "false"
    return (
        "SELECT run_id, key_id, started_at, window_start, window_end, orders, early FROM ("  # noqa: S608
        "SELECT b.id AS run_id, b.key_id, b.started_at, b.window_start, b.window_end, "
        "(SELECT coalesce(sum(p.orders_placed), 0) FROM placed_orders_daily p WHERE p.key_id = b.key_id "
        f"AND p.day >= {day('b.window_start')} AND p.day < {day('b.window_end')}) AS orders, "
        "coalesce(b.window_start >= b.started_at OR b.window_end <= "
        f"(SELECT k.created_at FROM exchange_keys k WHERE k.id = b.key_id), {false}) AS early "
        "FROM backfill_runs b WHERE b.status = 'ok' AND b.closed_orders_rows = 0 AND b.trades_rows = 0) x "
        "WHERE orders > 0 OR early"
    )


# What rebuild_rollups_in deletes and refills, named from the models so the list cannot drift from them.
REBUILT_TABLES = tuple(model.__tablename__ for model in (
    DailyTestRollup, RecoveryRollupDaily, BackfillNotableRun, KeyPostureRollup, KeyFingerprintCount))


def rebuild_rollups(console: Console) -> None:
    """Recompute every rollup table from the raw rows, in one transaction (readers see old or new)."""
    with console.session() as session:
        rebuild_rollups_in(session)


def rebuild_rollups_in(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    day = _dialect_sql(dialect)["day"]("started_at")
    session.execute(delete(DailyTestRollup))
    # Grouped by key first (the key_started index, no sort of the whole table), then joined to the key's
    # kind once per key rather than once per test.
    session.execute(
        text(
            "INSERT INTO test_rollup_daily (day, exchange, key_kind, diagnosis, outcome, n) "  # noqa: S608
            "SELECT day, t.exchange, k.kind, diagnosis, outcome, sum(n) FROM ("
            f"SELECT key_id, {day} AS day, exchange, diagnosis, outcome, count(*) AS n FROM connection_tests "
            "GROUP BY key_id, 2, 3, 4, 5) t JOIN exchange_keys k ON k.id = t.key_id GROUP BY 1, 2, 3, 4, 5"
        )
    )
    session.execute(delete(RecoveryRollupDaily))
    session.execute(
        text(
            "INSERT INTO recovery_rollup_daily (day, exchange, key_kind, minutes, n) "
            + _recovery_select_sql(dialect)
        )
    )
    session.execute(delete(BackfillNotableRun))
    session.execute(
        text(
            "INSERT INTO backfill_notable_runs (run_id, key_id, started_at, window_start, window_end, "
            "orders, early) " + _notable_select_sql(dialect)
        )
    )
    session.execute(delete(KeyPostureRollup))
    session.execute(
        text(
            "INSERT INTO key_posture_rollup (exchange, key_kind, kind, day, can_withdraw, no_whitelist, n) "
            + _posture_select_sql(dialect)
        )
    )
    rebuild_fingerprint_counts(session)
    # Every row of these tables was just replaced: without fresh statistics PostgreSQL guessed 116,500
    # shared fingerprints instead of 1 and hash-joined all 1.5 M keys (seconds per stats page view).
    for table in REBUILT_TABLES:
        session.execute(text(f"ANALYZE {table}"))


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)  # a declarative model maps a Table; SQLAlchemy types it as a FromClause
    return table


def _add(session: Session, table: Table, values: dict[str, object], keys: list[str]) -> None:
    """Add values["n"] to the row at `keys`, creating it: one atomic upsert on both backends."""
    dialect = session.get_bind().dialect.name
    insert = sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)
    stmt = insert.values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=keys, set_={"n": table.c.n + stmt.excluded.n}))


def record_test_in_rollups(session: Session, test: ConnectionTest) -> None:
    """Count one new connection test in the rollups. Call it right after inserting the test row, in the
    same transaction, so the rollups commit (or roll back) with it."""
    key_kind = session.scalar(select(ExchangeKey.kind).where(ExchangeKey.id == test.key_id)) or CUSTOMER
    _add(
        session,
        _table(DailyTestRollup),
        {
            "day": utc_day(test.started_at),
            "exchange": test.exchange,
            "key_kind": key_kind,
            "diagnosis": test.diagnosis,
            "outcome": test.outcome,
            "n": 1,
        },
        ["day", "exchange", "key_kind", "diagnosis", "outcome"],
    )
    if test.outcome == FAILED:
        return
    opened = _open_episode_start(session, test.key_id, test.started_at)
    if opened is None:
        return
    seconds = (test.started_at - opened).total_seconds()
    _add(
        session,
        _table(RecoveryRollupDaily),
        {
            "day": utc_day(opened),
            "exchange": test.exchange,
            "key_kind": key_kind,
            "minutes": duration_bucket(seconds),
            "n": 1,
        },
        ["day", "exchange", "key_kind", "minutes"],
    )


def _open_episode_start(session: Session, key_id: int, before: datetime) -> datetime | None:
    """When the key's current failure episode opened, if its latest test before `before` failed.

    One indexed read of the key's latest tests answers almost every case (this runs in every re-test's
    transaction); only an episode longer than that window needs the aggregate queries."""
    ct = ConnectionTest
    recent = session.execute(
        select(ct.outcome, ct.started_at)
        .where(ct.key_id == key_id, ct.started_at < before)
        .order_by(ct.started_at.desc(), ct.id.desc())
        .limit(_EPISODE_WINDOW)
    ).all()
    if not recent or recent[0].outcome != FAILED:
        return None
    opened: datetime = recent[0].started_at
    for outcome, started_at in recent:
        if outcome != FAILED:
            return opened
        opened = started_at
    if len(recent) < _EPISODE_WINDOW:
        return opened
    last_green = session.execute(
        select(func.max(ct.started_at)).where(
            ct.key_id == key_id, ct.started_at < before, ct.outcome != FAILED
        )
    ).scalar()
    condition = and_(ct.key_id == key_id, ct.started_at < before, ct.outcome == FAILED)
    if last_green is not None:
        condition = and_(condition, ct.started_at > last_green)
    return session.execute(select(func.min(ct.started_at)).where(condition)).scalar()
