"""Backfill health: keys whose fill-history backfills come back empty while the platform placed orders,
or fail with permission errors, each with its most likely cause, the evidence and the fix.

One SQL statement does the work over two small sources (migration 0002): the period's failed runs (a
partial covering index) and its notable empty runs (a table triggers keep: empty runs whose window had
orders, or lies before the key existed). Genuinely idle keys (no rows, no orders, no error) never appear in
either; evidence is gathered for the named keys only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, text
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.orm import Session

from nbsupport.clock import utcnow
from nbsupport.db.models import UtcDateTime
from nbsupport.fleet.backfill.causes import (
    BackfillFinding,
    Candidate,
    classify,
    latest_test_details,
)
from nbsupport.fleet.backfill.fixes import BackfillCause
from nbsupport.fleet.kinds import CUSTOMER
from nbsupport.fleet.stats.rollups import utc_day

# The partial index's predicate (ix_backfill_runs_failed) term for term: SQLite only uses a partial index
# when the query repeats its WHERE clause.
FAILED_WHERE = "(r.status <> 'ok' OR r.error <> '')"
# Keys whose connection test already fails for a reason that breaks every call (not just backfills): their
# failing backfills are a symptom the test reports, so fleet scans leave them out (a one-user scan keeps
# them, with their cause told apart).
KEY_FAILURES = "('key_expired', 'ip_not_allowed', 'credentials_rejected', 'secret_malformed')"


def _error_flag(*patterns: str, unless: str = "") -> str:
    """1 when an error text (`e.error`) matches, else 0; evaluated once per distinct error text."""
    like = " OR ".join(f"lower(e.error) LIKE '{p}'" for p in patterns)
    guard = f" AND lower(e.error) NOT LIKE '{unless}'" if unless else ""
    return f"CASE WHEN ({like}){guard} THEN 1 ELSE 0 END"


# Error vocabularies as backfill workers record them (Kraken's own wording first). Matched in SQL so the
# rows never leave the database; `causes` decides what they mean.
_FLAGS = {
    "expired_errors": _error_flag("%expired%"),
    "permission_errors": _error_flag(
        "%permission%", "%access denied%", "%not authorized%", unless="%expired%"
    ),
    "window_errors": _error_flag(
        "%query window%",
        "%querywindow%",
        "%queryto%",
        "%query_to%",
        "%query end%",
        "%window ended%",
        "%window has ended%",
    ),
    "product_errors": _error_flag(
        "%wrong product%", "%product mismatch%", "%spot key%", "%futures key%", "%another product%"
    ),
}


def _failed_ctes(mine: str) -> str:
    """`fe`: per key, the period's failed (or error-recording) runs and which access errors they carry.

    Error texts repeat (a broken key fails every run alike), so each distinct text is matched once."""
    keep = (
        "permission_errors + window_errors + product_errors > 0 OR (:key_failures = 1 AND expired_errors > 0)"
    )
    scan = (
        f"FROM backfill_runs r WHERE r.started_at >= :since AND r.started_at <= :now "
        f"AND {FAILED_WHERE} {mine}"
    )
    flags = ",\n".join(f"  {expr} AS {name}" for name, expr in _FLAGS.items())
    sums = ",\n".join(f"   sum(fr.n * errs.{name}) AS {name}" for name in _FLAGS)
    return f"""fr AS (
 SELECT r.key_id, r.error, count(*) AS n, sum(CASE WHEN r.status <> 'ok' THEN 1 ELSE 0 END) AS failed,
  min(r.window_start) AS f_start, max(r.window_end) AS f_end, max(r.started_at) AS f_last,
  sum(r.closed_orders_rows) AS f_closed, sum(r.trades_rows) AS f_trades
 {scan}
 GROUP BY r.key_id, r.error
), errs AS MATERIALIZED (
 SELECT e.error,
{flags}
 FROM (SELECT DISTINCT error FROM fr) e
), fe AS (
 SELECT * FROM (
  SELECT fr.key_id, sum(fr.failed) AS failed_runs,
{sums},
   min(fr.f_start) AS f_start, max(fr.f_end) AS f_end, max(fr.f_last) AS f_last,
   max(fr.error) AS sample_error, sum(fr.f_closed) AS f_closed, sum(fr.f_trades) AS f_trades
  FROM fr JOIN errs ON errs.error = fr.error
  GROUP BY fr.key_id
 ) x WHERE {keep}
"""  # noqa: S608 (assembled from this module's constants)


def _scan_sql(dialect: str, by_user: bool) -> str:
    """Two small sources, then evidence for the keys they name:

    * `fe`: the period's failed runs and runs that recorded an error (a partial covering index), per key,
      kept when an error is about access (permission, expiry, query window, product);
    * `nr`: the period's notable empty runs (`backfill_notable_runs`, kept by triggers): orders were placed
      on days wholly inside the window, or the window lies before the key existed;
    * evidence (rows fetched, the last window that returned rows, orders) only for keys with empty runs.
    """
    day: Callable[[str], str] = (
        (lambda c: f"date({c})") if dialect == "sqlite" else (lambda c: f"(({c}) AT TIME ZONE 'UTC')::date")
    )
    carried = ", ".join(f"coalesce(fe.{name}, 0) AS {name}" for name in _FLAGS)
    mine = "AND {t}.key_id IN (SELECT id FROM exchange_keys WHERE user_id = :user_id)" if by_user else ""
    in_period = "b.started_at >= :since AND b.started_at <= :now"
    closed_scope = (
        "json_extract(k.last_permissions, '$.query_closed_orders')"
        if dialect == "sqlite"
        else "k.last_permissions->>'query_closed_orders'"
    )
    return f"""
WITH {_failed_ctes(mine.format(t="r"))}), nr AS (
 SELECT n.key_id, count(*) AS empty_runs, sum(CASE WHEN n.orders > 0 THEN 1 ELSE 0 END) AS busy_runs,
  sum(CASE WHEN n.early THEN 1 ELSE 0 END) AS early_windows,
  min(CASE WHEN n.orders > 0 THEN n.window_start END) AS busy_start,
  max(CASE WHEN n.orders > 0 THEN n.window_end END) AS busy_end,
  min(n.window_start) AS n_start, max(n.window_end) AS n_end, max(n.started_at) AS n_last
 FROM backfill_notable_runs n
 WHERE n.started_at >= :since AND n.started_at <= :now {mine.format(t="n")}
 GROUP BY n.key_id
), ks AS (
 SELECT key_id FROM fe UNION SELECT key_id FROM nr
)
SELECT ks.key_id, coalesce(fe.failed_runs, 0) AS failed_runs, {carried}, fe.sample_error,
 coalesce(nr.empty_runs, 0) AS empty_runs, coalesce(nr.busy_runs, 0) AS busy_runs,
 coalesce(nr.early_windows, 0) AS early_windows,
 coalesce(fe.failed_runs, 0) + coalesce(nr.empty_runs, 0) AS suspect_runs,
 coalesce(nr.busy_start, fe.f_start, nr.n_start) AS window_start,
 coalesce(nr.busy_end, fe.f_end, nr.n_end) AS window_end,
 coalesce(fe.f_last, nr.n_last) AS last_run,
 k.user_id, k.exchange, k.product, k.label, k.created_at, k.last_permissions, k.last_diagnosis,
 {closed_scope} AS closed_orders_scope,
 CASE WHEN nr.key_id IS NOT NULL THEN (SELECT u.strategy FROM users u WHERE u.id = k.user_id) END AS strategy,
 CASE WHEN nr.busy_runs > 0 THEN (SELECT coalesce(sum(p.orders_placed), 0) FROM placed_orders_daily p
   WHERE p.key_id = ks.key_id AND EXISTS (SELECT 1 FROM backfill_notable_runs n WHERE n.key_id = p.key_id
     AND n.started_at >= :since AND n.started_at <= :now AND n.orders > 0
     AND p.day >= {day("n.window_start")} AND p.day < {day("n.window_end")})) ELSE 0 END AS orders_in_windows,
 CASE WHEN nr.key_id IS NOT NULL THEN (SELECT coalesce(sum(p.orders_placed), 0) FROM placed_orders_daily p
   WHERE p.key_id = ks.key_id AND p.day >= :since_day AND p.day <= :today) ELSE 0 END AS orders_recent,
 CASE WHEN nr.key_id IS NOT NULL THEN (SELECT count(*) FROM backfill_runs b WHERE b.key_id = ks.key_id
   AND {in_period} AND b.status = 'ok' AND (b.closed_orders_rows > 0 OR b.trades_rows > 0)) END
   AS productive_runs,
 CASE WHEN nr.key_id IS NOT NULL THEN (SELECT max(b.window_end) FROM backfill_runs b
   WHERE b.key_id = ks.key_id AND {in_period} AND b.status = 'ok'
   AND (b.closed_orders_rows > 0 OR b.trades_rows > 0)) END AS rows_until,
 CASE WHEN nr.key_id IS NOT NULL THEN (SELECT coalesce(sum(b.closed_orders_rows), 0) FROM backfill_runs b
   WHERE b.key_id = ks.key_id AND {in_period}) ELSE coalesce(fe.f_closed, 0) END AS closed_orders_rows,
 CASE WHEN nr.key_id IS NOT NULL THEN (SELECT coalesce(sum(b.trades_rows), 0) FROM backfill_runs b
   WHERE b.key_id = ks.key_id AND {in_period}) ELSE coalesce(fe.f_trades, 0) END AS trades_rows
FROM ks LEFT JOIN fe ON fe.key_id = ks.key_id LEFT JOIN nr ON nr.key_id = ks.key_id
 JOIN exchange_keys k ON k.id = ks.key_id
WHERE (:all_kinds = 1 OR k.kind = '{CUSTOMER}') AND (nr.busy_runs > 0 OR (nr.early_windows > 0 AND EXISTS (
  SELECT 1 FROM placed_orders_daily p WHERE p.key_id = ks.key_id AND p.day >= :since_day AND p.day <= :today))
 OR (fe.key_id IS NOT NULL AND (:key_failures = 1 OR (
  fe.permission_errors + fe.window_errors + fe.product_errors > 0
  AND coalesce(k.last_diagnosis, '') NOT IN {KEY_FAILURES}))))
ORDER BY ks.key_id
"""  # noqa: S608 (assembled from this module's constants; every value is a bound parameter)


_DT = UtcDateTime()


def _dt(value: object, dialect: Dialect) -> datetime | None:
    """Raw-SQL datetimes: SQLite returns text, PostgreSQL aware datetimes; both become aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return _DT.process_result_value(value, dialect)


def backfill_health(
    session: Session,
    *,
    user_id: int | None = None,
    days: int = 30,
    now: datetime | None = None,
    key_failures: bool | None = None,
    include_non_customer: bool = False,
) -> list[BackfillFinding]:
    """Flagged keys over backfill runs started in the last `days` days, most confident first.

    A fleet scan counts customers' keys only unless `include_non_customer`; a one-user scan shows that
    user's keys whatever their kind (an agent looking up a practice user means it).

    `key_failures`: also list keys whose backfills fail only because the key itself is broken (expired,
    IP-blocked, rejected, as the connection test reports); default: only for a one-user scan.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    now = now or utcnow()
    since = now - timedelta(days=days)
    dialect = session.get_bind().dialect
    stmt = text(_scan_sql(dialect.name, user_id is not None)).bindparams(
        bindparam("since", type_=UtcDateTime()), bindparam("now", type_=UtcDateTime())
    )
    params: dict[str, object] = {
        "since": since,
        "now": now,
        "since_day": _day_param(utc_day(since), dialect.name),
        "today": _day_param(utc_day(now), dialect.name),
        "key_failures": int(user_id is not None if key_failures is None else key_failures),
        "all_kinds": int(include_non_customer or user_id is not None),
    }
    if user_id is not None:
        params["user_id"] = user_id
    if dialect.name == "postgresql":
        # The per-key aggregates of a fleet scan outgrow the default 4 MB and would spill to disk.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    rows = [dict(row._mapping) for row in session.execute(stmt, params)]
    # GetApiKeyInfo's query window only matters where no error explains the empty history.
    details = latest_test_details(session, [int(r["key_id"]) for r in rows if r["empty_runs"]])
    findings = []
    for row in rows:
        for name in ("window_start", "window_end", "last_run", "created_at", "rows_until"):
            row[name] = _dt(row[name], dialect)
        finding = classify(Candidate.from_row(row, details.get(int(row["key_id"]), {})))
        if finding is not None:
            findings.append(finding)
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(findings, key=lambda f: (order[f.confidence], f.cause, f.key_id))


__all__ = ["BackfillCause", "BackfillFinding", "backfill_health"]


def _day_param(day: date, dialect: str) -> date | str:
    # A raw-SQL date bound to SQLite must be the same 'YYYY-MM-DD' text the Date column stores.
    return day.isoformat() if dialect == "sqlite" else day
