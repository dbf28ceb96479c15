"""fleet rollups: daily test counts, time-to-green histogram, key posture; backfill suspect index

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Migrations are frozen history: these expressions are copied (not imported) from
# nbsupport.fleet.stats.rollups, whose rebuild recomputes the same table; a test compares trigger-kept
# counts with a rebuild. Every SQL string below is assembled from these constants only (hence the S608
# waivers).
_COLS = "(exchange, kind, day, can_withdraw, no_whitelist"
_PK = _COLS + ")"
# Keys whose credentials are no longer in use; every other status (active, paused...) counts.
_GONE = "('revoked', 'deleted')"
_POSTURE_COLUMNS = (
    "exchange, status, created_at, rotated_at, expires_at, ip_whitelist, last_permissions, last_diagnosis"
)

# Failed backfill runs and runs that recorded an error (a worker may swallow one into an empty result),
# covering: the backfill-health scan reads a period's failures from this index alone.
# The WHERE clause must match nbsupport.fleet.backfill.health's term for term (SQLite's rule for partial
# indexes).
FAILED_RUNS_WHERE = "status <> 'ok' OR error <> ''"
FAILED_RUNS_COLUMNS = [
    "started_at",
    "key_id",
    "window_start",
    "window_end",
    "status",
    "closed_orders_rows",
    "trades_rows",
    "error",
]


def _notable_select(dialect: str, row: str, where: str) -> str:
    """(run_id, key_id, started_at, window_start, window_end, orders, early) for the empty runs of `row`
    (a backfill_runs alias) that matter: orders were placed on days wholly inside the window, or the window
    lies before the key existed or after the run. Copied in nbsupport.fleet.stats.rollups (rebuild)."""
    day = "date({})".format if dialect == "sqlite" else "(({}) AT TIME ZONE 'UTC')::date".format
    orders = (
        f"(SELECT coalesce(sum(p.orders_placed), 0) FROM placed_orders_daily p "  # noqa: S608
        f"WHERE p.key_id = {row}.key_id "
        f"AND p.day >= {day(row + '.window_start')} AND p.day < {day(row + '.window_end')})"
    )
    early = (
        f"coalesce({row}.window_start >= {row}.started_at OR {row}.window_end <= "  # noqa: S608
        f"(SELECT k.created_at FROM exchange_keys k WHERE k.id = {row}.key_id), false)"
    )
    if dialect == "sqlite":
        early = early.replace(", false)", ", 0)")
    return (
        "SELECT run_id, key_id, started_at, window_start, window_end, orders, early FROM ("  # noqa: S608
        f"SELECT {row}.id AS run_id, {row}.key_id, {row}.started_at, {row}.window_start, {row}.window_end, "
        f"{orders} AS orders, {early} AS early FROM backfill_runs {row} WHERE {where} "
        f"AND {row}.status = 'ok' AND {row}.closed_orders_rows = 0 AND {row}.trades_rows = 0) x "
        "WHERE orders > 0 OR early"
    )


_NOTABLE_INSERT = (
    "INSERT INTO backfill_notable_runs (run_id, key_id, started_at, window_start, window_end, orders, early) "
)


def _sqlite_notable_triggers() -> list[str]:
    def for_run(row: str) -> str:
        return _NOTABLE_INSERT + _notable_select("sqlite", "b", f"b.id = {row}.id") + ";"

    def for_day(row: str) -> str:
        covering = (
            f"b.key_id = {row}.key_id AND {row}.day >= date(b.window_start) "
            f"AND {row}.day < date(b.window_end)"
        )
        return (
            f"DELETE FROM backfill_notable_runs WHERE run_id IN (SELECT b.id FROM backfill_runs b "  # noqa: S608
            f"WHERE {covering}); " + _NOTABLE_INSERT + _notable_select("sqlite", "b", covering) + ";"
        )

    drop_old = "DELETE FROM backfill_notable_runs WHERE run_id = OLD.id;"
    run_columns = "status, closed_orders_rows, trades_rows, window_start, window_end, started_at, key_id"
    return [
        f"CREATE TRIGGER backfill_notable_ins AFTER INSERT ON backfill_runs BEGIN {for_run('NEW')} END",
        f"CREATE TRIGGER backfill_notable_upd AFTER UPDATE OF {run_columns} ON backfill_runs "
        f"BEGIN {drop_old} {for_run('NEW')} END",
        f"CREATE TRIGGER backfill_notable_del AFTER DELETE ON backfill_runs BEGIN {drop_old} END",
        f"CREATE TRIGGER placed_notable_ins AFTER INSERT ON placed_orders_daily BEGIN {for_day('NEW')} END",
        "CREATE TRIGGER placed_notable_upd AFTER UPDATE OF key_id, day, orders_placed ON placed_orders_daily "
        f"BEGIN {for_day('OLD')} {for_day('NEW')} END",
        f"CREATE TRIGGER placed_notable_del AFTER DELETE ON placed_orders_daily BEGIN {for_day('OLD')} END",
    ]


def _pg_notable_triggers() -> list[str]:
    def recompute(runs: str) -> str:
        return (
            f"DELETE FROM backfill_notable_runs WHERE run_id IN ({runs}); "  # noqa: S608
            + _NOTABLE_INSERT
            + _notable_select("postgresql", "b", f"b.id IN ({runs})")
            + ";"
        )

    def covered(table: str) -> str:
        return (
            f"SELECT b.id FROM backfill_runs b JOIN {table} p ON b.key_id = p.key_id "  # noqa: S608
            "AND p.day >= (b.window_start AT TIME ZONE 'UTC')::date "
            "AND p.day < (b.window_end AT TIME ZONE 'UTC')::date"
        )

    runs = """
        CREATE FUNCTION backfill_notable_runs_apply() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                DELETE FROM backfill_notable_runs WHERE run_id IN (SELECT id FROM old_rows);
            ELSE
                {recompute}
            END IF;
            RETURN NULL;
        END $$""".format(recompute=recompute("SELECT id FROM new_rows"))  # noqa: S608
    placed = f"""
        CREATE FUNCTION placed_notable_runs_apply() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {recompute(covered("new_rows"))}
            ELSIF TG_OP = 'DELETE' THEN
                {recompute(covered("old_rows"))}
            ELSE
                {recompute(covered("new_rows") + " UNION " + covered("old_rows"))}
            END IF;
            RETURN NULL;
        END $$"""
    statements = [runs, placed]
    for table, function in (
        ("backfill_runs", "backfill_notable_runs_apply"),
        ("placed_orders_daily", "placed_notable_runs_apply"),
    ):
        apply = f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        statements += [
            f"CREATE TRIGGER {table}_notable_ins AFTER INSERT ON {table} "
            f"REFERENCING NEW TABLE AS new_rows {apply}",
            f"CREATE TRIGGER {table}_notable_upd AFTER UPDATE ON {table} "
            f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {apply}",
            f"CREATE TRIGGER {table}_notable_del AFTER DELETE ON {table} "
            f"REFERENCING OLD TABLE AS old_rows {apply}",
        ]
    return statements


def _sqlite_exprs(row: str) -> dict[str, str]:
    p = f"{row}." if row else ""
    return {
        "rot_day": f"date(coalesce({p}rotated_at, {p}created_at))",
        "withdraw": (
            f"(coalesce(json_extract({p}last_permissions, '$.withdraw') = 'granted', 0) "
            f"OR coalesce({p}last_diagnosis = 'withdraw_enabled', 0))"
        ),
        "no_whitelist": f"(coalesce(json_array_length({p}ip_whitelist), 0) = 0)",
        "exp_day": f"date({p}expires_at)",
        "kept": f"{p}status NOT IN {_GONE}",
    }


def _sqlite_posture_sql(row: str, sign: str) -> list[str]:
    """Statements that add (sign '+') or remove ('-') one exchange_keys row's posture counts."""
    e = _sqlite_exprs(row)
    if sign == "+":
        upsert = f"ON CONFLICT {_PK} DO UPDATE SET n = n + 1;"
        return [
            f"INSERT INTO key_posture_rollup {_COLS}, n) SELECT {row}.exchange, 'rotation', {e['rot_day']}, "
            f"{e['withdraw']}, {e['no_whitelist']}, 1 WHERE {e['kept']} {upsert}",
            f"INSERT INTO key_posture_rollup {_COLS}, n) SELECT {row}.exchange, 'expiry', {e['exp_day']}, "
            f"0, 0, 1 WHERE {e['kept']} AND {row}.expires_at IS NOT NULL {upsert}",
        ]
    return [
        f"UPDATE key_posture_rollup SET n = n - 1 WHERE {e['kept']} AND exchange = {row}.exchange "  # noqa: S608
        f"AND kind = 'rotation' AND day = {e['rot_day']} AND can_withdraw = {e['withdraw']} "
        f"AND no_whitelist = {e['no_whitelist']};",
        f"UPDATE key_posture_rollup SET n = n - 1 WHERE {e['kept']} AND {row}.expires_at IS NOT NULL "  # noqa: S608
        f"AND exchange = {row}.exchange AND kind = 'expiry' AND day = {e['exp_day']} "
        "AND can_withdraw = 0 AND no_whitelist = 0;",
    ]


def _sqlite_triggers() -> list[str]:
    plus_new, minus_old = _sqlite_posture_sql("NEW", "+"), _sqlite_posture_sql("OLD", "-")
    return [
        "CREATE TRIGGER key_posture_ins AFTER INSERT ON exchange_keys BEGIN " + " ".join(plus_new) + " END",
        "CREATE TRIGGER key_posture_del AFTER DELETE ON exchange_keys BEGIN " + " ".join(minus_old) + " END",
        # Most updates (a test's last_test_at) leave the posture alone: fire only on its columns.
        f"CREATE TRIGGER key_posture_upd AFTER UPDATE OF {_POSTURE_COLUMNS} ON exchange_keys BEGIN "
        + " ".join(minus_old + plus_new)
        + " END",
    ]


def _sqlite_initial_sql() -> str:
    e = _sqlite_exprs("")
    return (
        f"INSERT INTO key_posture_rollup {_COLS}, n) "  # noqa: S608
        "SELECT exchange, kind, day, can_withdraw, no_whitelist, count(*) FROM ("
        f"SELECT exchange, 'rotation' AS kind, {e['rot_day']} AS day, {e['withdraw']} AS can_withdraw, "
        f"{e['no_whitelist']} AS no_whitelist FROM exchange_keys WHERE {e['kept']} UNION ALL "
        f"SELECT exchange, 'expiry', {e['exp_day']}, 0, 0 FROM exchange_keys "
        f"WHERE {e['kept']} AND expires_at IS NOT NULL) x "
        "GROUP BY exchange, kind, day, can_withdraw, no_whitelist"
    )


def _pg_rows(table: str, sign: int) -> str:
    return f"""
        SELECT r.exchange, 'rotation' AS kind,
               (coalesce(r.rotated_at, r.created_at) AT TIME ZONE 'UTC')::date AS day,
               coalesce(r.last_permissions->>'withdraw' = 'granted', false)
                 OR coalesce(r.last_diagnosis = 'withdraw_enabled', false) AS can_withdraw,
               CASE WHEN json_typeof(r.ip_whitelist) = 'array' THEN json_array_length(r.ip_whitelist) = 0
                    ELSE true END AS no_whitelist,
               {sign} AS d
        FROM {table} r WHERE r.status NOT IN {_GONE}
        UNION ALL
        SELECT r.exchange, 'expiry', (r.expires_at AT TIME ZONE 'UTC')::date, false, false, {sign}
        FROM {table} r WHERE r.status NOT IN {_GONE} AND r.expires_at IS NOT NULL"""  # noqa: S608


def _pg_apply(rows: str) -> str:
    # One aggregated upsert per statement: a bulk load costs one pass, an update that leaves the posture
    # alone nets to zero and writes nothing, and row locks are taken in key order.
    return f"""
        INSERT INTO key_posture_rollup AS k {_COLS}, n)
        SELECT exchange, kind, day, can_withdraw, no_whitelist, sum(d) FROM ({rows}) x
        GROUP BY exchange, kind, day, can_withdraw, no_whitelist HAVING sum(d) <> 0
        ORDER BY exchange, kind, day, can_withdraw, no_whitelist
        ON CONFLICT {_PK} DO UPDATE SET n = k.n + excluded.n;"""  # noqa: S608


def _pg_triggers() -> list[str]:
    both = _pg_rows("new_rows", 1) + " UNION ALL " + _pg_rows("old_rows", -1)
    function = f"""
        CREATE FUNCTION key_posture_apply() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {_pg_apply(_pg_rows("new_rows", 1))}
            ELSIF TG_OP = 'DELETE' THEN
                {_pg_apply(_pg_rows("old_rows", -1))}
            ELSE
                {_pg_apply(both)}
            END IF;
            RETURN NULL;
        END $$"""
    apply = "FOR EACH STATEMENT EXECUTE FUNCTION key_posture_apply()"
    return [
        function,
        "CREATE TRIGGER key_posture_ins AFTER INSERT ON exchange_keys "
        f"REFERENCING NEW TABLE AS new_rows {apply}",
        "CREATE TRIGGER key_posture_upd AFTER UPDATE ON exchange_keys "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {apply}",
        "CREATE TRIGGER key_posture_del AFTER DELETE ON exchange_keys "
        f"REFERENCING OLD TABLE AS old_rows {apply}",
    ]


def upgrade() -> None:
    op.create_table(
        "test_rollup_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("exchange", sa.String(length=40), nullable=False),
        sa.Column("diagnosis", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "exchange", "diagnosis", "outcome"),
    )
    op.create_table(
        "recovery_rollup_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("exchange", sa.String(length=40), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "exchange", "minutes"),
    )
    op.create_table(
        "key_posture_rollup",
        sa.Column("exchange", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("can_withdraw", sa.Boolean(), nullable=False),
        sa.Column("no_whitelist", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "kind", "day", "can_withdraw", "no_whitelist"),
    )
    op.create_index(
        "ix_backfill_runs_failed",
        "backfill_runs",
        FAILED_RUNS_COLUMNS,
        sqlite_where=sa.text(FAILED_RUNS_WHERE),
        postgresql_where=sa.text(FAILED_RUNS_WHERE),
    )
    # Empty backfill runs worth a look, kept by triggers on backfill_runs and placed_orders_daily: the scan
    # would otherwise probe the orders of every empty run (hundreds of thousands on the 1 M demo).
    op.create_table(
        "backfill_notable_runs",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("early", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_index("ix_backfill_notable_runs_started", "backfill_notable_runs", ["started_at", "key_id"])
    op.create_index("ix_backfill_notable_runs_key", "backfill_notable_runs", ["key_id", "started_at"])

    dialect = op.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    for statement in (
        _sqlite_triggers() + _sqlite_notable_triggers() if sqlite else _pg_triggers() + _pg_notable_triggers()
    ):
        op.execute(statement)
    # Rows stored before this migration: count them once, as the triggers will from now on.
    op.execute(_sqlite_initial_sql() if sqlite else _pg_apply(_pg_rows("exchange_keys", 1)))
    op.execute(_NOTABLE_INSERT + _notable_select(dialect, "b", "1 = 1"))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in ("key_posture_ins", "key_posture_upd", "key_posture_del"):
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}" + (" ON exchange_keys" if dialect == "postgresql" else "")
        )
    notable = [
        ("backfill_notable_ins", "backfill_runs"),
        ("backfill_notable_upd", "backfill_runs"),
        ("backfill_notable_del", "backfill_runs"),
        ("placed_notable_ins", "placed_orders_daily"),
        ("placed_notable_upd", "placed_orders_daily"),
        ("placed_notable_del", "placed_orders_daily"),
    ]
    if dialect == "postgresql":
        notable = [
            (f"{t}_notable_{op_}", t)
            for t in ("backfill_runs", "placed_orders_daily")
            for op_ in ("ins", "upd", "del")
        ]
    for name, table in notable:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS key_posture_apply()")
        op.execute("DROP FUNCTION IF EXISTS backfill_notable_runs_apply()")
        op.execute("DROP FUNCTION IF EXISTS placed_notable_runs_apply()")
    op.drop_table("backfill_notable_runs")
    op.drop_index("ix_backfill_runs_failed", table_name="backfill_runs")
    op.drop_table("key_posture_rollup")
    op.drop_table("recovery_rollup_daily")
    op.drop_table("test_rollup_daily")
