"""fleet kind: users and keys are customer / practice / internal; rollups gain a key_kind dimension;
indexes for audit search and the bulk cohort

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copies of nbsupport.fleet.kinds (a test checks they agree with kind_for_email).
_PRACTICE_LIKE = "practice+%@noonbarbari.local"
_INTERNAL_LIKE = "%@noonbarbari.%"
# Every SQL string below is assembled from this module's constants only (hence the S608 waivers).
_COLS = "(exchange, key_kind, kind, day, can_withdraw, no_whitelist"
_PK = _COLS + ")"
_GONE = "('revoked', 'deleted')"
_POSTURE_COLUMNS = (
    "exchange, status, created_at, rotated_at, expires_at, ip_whitelist, last_permissions, last_diagnosis, "
    "kind"
)
# Failed tests, covering: the bulk cohort preview reads them from this index alone (no heap read of
# ~240 k rows on the 1 M-user build). The predicate must match nbsupport.fleet.bulk.cohort's term for term.
FAILED_TESTS_WHERE = "outcome = 'failed'"


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
    e = _sqlite_exprs(row)
    if sign == "+":
        upsert = f"ON CONFLICT {_PK} DO UPDATE SET n = n + 1;"
        return [
            f"INSERT INTO key_posture_rollup {_COLS}, n) SELECT {row}.exchange, {row}.kind, 'rotation', "
            f"{e['rot_day']}, {e['withdraw']}, {e['no_whitelist']}, 1 WHERE {e['kept']} {upsert}",
            f"INSERT INTO key_posture_rollup {_COLS}, n) SELECT {row}.exchange, {row}.kind, 'expiry', "
            f"{e['exp_day']}, 0, 0, 1 WHERE {e['kept']} AND {row}.expires_at IS NOT NULL {upsert}",
        ]
    return [
        f"UPDATE key_posture_rollup SET n = n - 1 WHERE {e['kept']} AND exchange = {row}.exchange "  # noqa: S608
        f"AND key_kind = {row}.kind AND kind = 'rotation' AND day = {e['rot_day']} "
        f"AND can_withdraw = {e['withdraw']} AND no_whitelist = {e['no_whitelist']};",
        f"UPDATE key_posture_rollup SET n = n - 1 WHERE {e['kept']} AND {row}.expires_at IS NOT NULL "  # noqa: S608
        f"AND exchange = {row}.exchange AND key_kind = {row}.kind AND kind = 'expiry' "
        f"AND day = {e['exp_day']} AND can_withdraw = 0 AND no_whitelist = 0;",
    ]


def _sqlite_triggers() -> list[str]:
    plus_new, minus_old = _sqlite_posture_sql("NEW", "+"), _sqlite_posture_sql("OLD", "-")
    return [
        "CREATE TRIGGER key_posture_ins AFTER INSERT ON exchange_keys BEGIN " + " ".join(plus_new) + " END",
        "CREATE TRIGGER key_posture_del AFTER DELETE ON exchange_keys BEGIN " + " ".join(minus_old) + " END",
        f"CREATE TRIGGER key_posture_upd AFTER UPDATE OF {_POSTURE_COLUMNS} ON exchange_keys BEGIN "
        + " ".join(minus_old + plus_new)
        + " END",
    ]


def _sqlite_initial_sql() -> str:
    e = _sqlite_exprs("")
    return (
        f"INSERT INTO key_posture_rollup {_COLS}, n) "  # noqa: S608
        "SELECT exchange, key_kind, kind, day, can_withdraw, no_whitelist, count(*) FROM ("
        f"SELECT exchange, kind AS key_kind, 'rotation' AS kind, {e['rot_day']} AS day, "
        f"{e['withdraw']} AS can_withdraw, {e['no_whitelist']} AS no_whitelist "
        f"FROM exchange_keys WHERE {e['kept']} UNION ALL "
        f"SELECT exchange, kind, 'expiry', {e['exp_day']}, 0, 0 FROM exchange_keys "
        f"WHERE {e['kept']} AND expires_at IS NOT NULL) x "
        "GROUP BY exchange, key_kind, kind, day, can_withdraw, no_whitelist"
    )


def _pg_rows(table: str, sign: int) -> str:
    return f"""
        SELECT r.exchange, r.kind AS key_kind, 'rotation' AS kind,
               (coalesce(r.rotated_at, r.created_at) AT TIME ZONE 'UTC')::date AS day,
               coalesce(r.last_permissions->>'withdraw' = 'granted', false)
                 OR coalesce(r.last_diagnosis = 'withdraw_enabled', false) AS can_withdraw,
               CASE WHEN json_typeof(r.ip_whitelist) = 'array' THEN json_array_length(r.ip_whitelist) = 0
                    ELSE true END AS no_whitelist,
               {sign} AS d
        FROM {table} r WHERE r.status NOT IN {_GONE}
        UNION ALL
        SELECT r.exchange, r.kind, 'expiry', (r.expires_at AT TIME ZONE 'UTC')::date, false, false, {sign}
        FROM {table} r WHERE r.status NOT IN {_GONE} AND r.expires_at IS NOT NULL"""  # noqa: S608


def _pg_apply(rows: str) -> str:
    return f"""
        INSERT INTO key_posture_rollup AS k {_COLS}, n)
        SELECT exchange, key_kind, kind, day, can_withdraw, no_whitelist, sum(d) FROM ({rows}) x
        GROUP BY exchange, key_kind, kind, day, can_withdraw, no_whitelist HAVING sum(d) <> 0
        ORDER BY exchange, key_kind, kind, day, can_withdraw, no_whitelist
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


def _drop_posture_triggers(dialect: str) -> None:
    for name in ("key_posture_ins", "key_posture_upd", "key_posture_del"):
        on = " ON exchange_keys" if dialect == "postgresql" else ""
        op.execute(f"DROP TRIGGER IF EXISTS {name}{on}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS key_posture_apply()")


def _recovery_of_keys_sql(dialect: str, keys: str) -> str:
    """Recovery episodes (day opened, exchange, minutes bucket, n) of the keys in `keys`; a frozen copy
    of nbsupport.fleet.stats.rollups' recovery rebuild, restricted to those keys."""
    if dialect == "sqlite":
        day, seconds = "date(failed_at)", "((julianday(green_at) - julianday(failed_at)) * 86400.0)"
    else:
        day, seconds = "((failed_at) AT TIME ZONE 'UTC')::date", "extract(epoch from (green_at - failed_at))"
    m = f"(CAST(round({seconds}) AS INTEGER) / 60)"
    bucket = (
        f"CASE WHEN {m} < 60 THEN {m} WHEN {m} < 600 THEN {m} - {m} % 5 "
        f"WHEN {m} < 6000 THEN {m} - {m} % 30 ELSE {m} - ({m} - 6000) % 360 END"
    )
    return f"""
        WITH t AS (
            SELECT c.id, c.key_id, c.exchange, c.started_at, c.outcome, k.kind AS key_kind,
                   LAG(c.outcome) OVER (PARTITION BY c.key_id ORDER BY c.started_at, c.id) AS prev
            FROM connection_tests c JOIN exchange_keys k ON k.id = c.key_id WHERE c.key_id IN ({keys})
        ), marks AS (
            SELECT * FROM t WHERE (outcome = 'failed' AND (prev IS NULL OR prev <> 'failed'))
               OR (outcome <> 'failed' AND prev = 'failed')
        ), ep AS (
            SELECT exchange, key_kind, outcome, started_at AS failed_at,
                   LEAD(started_at) OVER (PARTITION BY key_id ORDER BY started_at, id) AS green_at
            FROM marks
        )
        SELECT {day} AS day, exchange, key_kind, {bucket} AS minutes, count(*) AS n
        FROM ep WHERE outcome = 'failed' AND green_at IS NOT NULL
        GROUP BY 1, 2, 3, 4"""  # noqa: S608


def _rekind_rollup(table: str, dims: list[str], others: str) -> None:
    """Give `table` a key_kind primary-key dimension: every existing row counts as a customer's, then the
    counts `others` computes for non-customer keys (same dims + key_kind + n) move to their own rows."""
    op.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    columns: dict[str, sa.Date | sa.String | sa.Integer] = {
        "day": sa.Date(),
        "exchange": sa.String(length=40),
        "diagnosis": sa.String(length=40),
        "outcome": sa.String(length=10),
        "minutes": sa.Integer(),
    }
    op.create_table(
        table,
        *(sa.Column(d, columns[d], nullable=False) for d in dims[:2]),
        sa.Column("key_kind", sa.String(length=10), nullable=False),
        *(sa.Column(d, columns[d], nullable=False) for d in dims[2:]),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*dims[:2], "key_kind", *dims[2:], name=f"pk_{table}"),
    )
    listed = ", ".join(dims)
    op.execute(
        f"INSERT INTO {table} ({listed}, key_kind, n) SELECT {listed}, 'customer', n FROM {table}_old"  # noqa: S608
    )
    op.drop_table(f"{table}_old")
    op.execute(f"CREATE TEMPORARY TABLE rekind_moved AS {others}")
    match = " AND ".join(f"m.{d} = {table}.{d}" for d in dims)
    op.execute(
        f"UPDATE {table} SET n = n - (SELECT sum(m.n) FROM rekind_moved m WHERE {match}) "  # noqa: S608
        f"WHERE key_kind = 'customer' AND EXISTS (SELECT 1 FROM rekind_moved m WHERE {match})"
    )
    op.execute(f"DELETE FROM {table} WHERE n <= 0")  # noqa: S608
    op.execute(
        f"INSERT INTO {table} ({listed}, key_kind, n) SELECT {listed}, key_kind, n FROM rekind_moved"  # noqa: S608
    )
    op.execute("DROP TABLE rekind_moved")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    _drop_posture_triggers(dialect)
    for table in ("users", "exchange_keys"):
        kind = sa.Column("kind", sa.String(length=10), nullable=False, server_default="customer")
        op.add_column(table, kind)
    op.execute(f"UPDATE users SET kind = 'practice' WHERE email LIKE '{_PRACTICE_LIKE}'")  # noqa: S608
    op.execute(
        f"UPDATE users SET kind = 'internal' WHERE kind = 'customer' AND email LIKE '{_INTERNAL_LIKE}'"  # noqa: S608
    )
    # Non-customer keys are few: partial indexes find them for the rollup moves below and for rebuilds.
    few = sa.text("kind <> 'customer'")
    op.create_index("ix_users_non_customer", "users", ["kind"], sqlite_where=few, postgresql_where=few)
    op.execute(
        "UPDATE exchange_keys SET kind = (SELECT u.kind FROM users u WHERE u.id = exchange_keys.user_id) "
        "WHERE user_id IN (SELECT id FROM users WHERE kind <> 'customer')"
    )
    op.create_index("ix_exchange_keys_non_customer", "exchange_keys", ["kind", "id"],
                    sqlite_where=few, postgresql_where=few)

    others = "SELECT id FROM exchange_keys WHERE kind <> 'customer'"
    day = "date(c.started_at)" if sqlite else "(c.started_at AT TIME ZONE 'UTC')::date"
    _rekind_rollup(
        "test_rollup_daily",
        ["day", "exchange", "diagnosis", "outcome"],
        f"SELECT {day} AS day, c.exchange, c.diagnosis, c.outcome, k.kind AS key_kind, count(*) AS n "  # noqa: S608
        "FROM connection_tests c JOIN exchange_keys k ON k.id = c.key_id "
        f"WHERE c.key_id IN ({others}) GROUP BY 1, 2, 3, 4, 5",
    )
    _rekind_rollup("recovery_rollup_daily", ["day", "exchange", "minutes"],
                   _recovery_of_keys_sql(dialect, others))

    op.drop_table("key_posture_rollup")
    op.create_table(
        "key_posture_rollup",
        sa.Column("exchange", sa.String(length=40), nullable=False),
        sa.Column("key_kind", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("can_withdraw", sa.Boolean(), nullable=False),
        sa.Column("no_whitelist", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "key_kind", "kind", "day", "can_withdraw", "no_whitelist",
                                name="pk_key_posture_rollup"),
    )
    for statement in _sqlite_triggers() if sqlite else _pg_triggers():
        op.execute(statement)
    op.execute(_sqlite_initial_sql() if sqlite else _pg_apply(_pg_rows("exchange_keys", 1)))

    # The cohort's key check (active, customer, venue) from a narrow index instead of ~28 k reads of wide
    # key rows (sealed credentials and all) on the 1 M-user build.
    op.create_index("ix_exchange_keys_cohort", "exchange_keys", ["id", "status", "kind", "exchange"])
    failed = sa.text(FAILED_TESTS_WHERE)
    op.create_index("ix_connection_tests_failed", "connection_tests", ["started_at", "key_id", "exchange"],
                    sqlite_where=failed, postgresql_where=failed)
    # Audit search: each filter has an index that starts with it and ends with the time, so a page of the
    # newest matches is an index range scan whatever the size of the trail.
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", "at"])
    op.create_index("ix_audit_events_subject_key_at", "audit_events", ["subject_key_id", "at"])
    op.create_index("ix_audit_events_subject_user_at", "audit_events", ["subject_user_id", "at"])
    op.drop_index("ix_audit_events_subject_key", table_name="audit_events")
    op.drop_index("ix_audit_events_subject_user", table_name="audit_events")
    # Ticket search is a case-insensitive prefix match: a range over lower(ticket), byte order on both.
    ticket = "lower(ticket)" if sqlite else 'lower(ticket) COLLATE "C"'
    op.execute(f"CREATE INDEX ix_audit_events_ticket ON audit_events (({ticket}), at)")
    # Statistics for the new indexes: without them SQLite's planner drives the cohort query from the key
    # index (1.5 M probes) instead of the failed tests (~30 k).
    if sqlite:
        op.execute("PRAGMA analysis_limit = 1000")  # sampled: a full pass over 20 M tests takes minutes
    for table in ("users", "exchange_keys", "connection_tests", "audit_events"):
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    # 0002's rollups cannot be told apart from 0005's once kinds are merged back: restore a backup instead.
    raise NotImplementedError("migration 0005 (fleet kind) is one-way")
