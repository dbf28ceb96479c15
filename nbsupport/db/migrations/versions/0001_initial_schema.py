"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 20:15:50.978225
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# The audit trail is append-only at the database level too, so no code path (or ad-hoc SQL) rewrites it.
_AUDIT_GUARDS = {
    "sqlite": [
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$",
        "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    ],
}


def upgrade() -> None:

    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("ticket", sa.String(length=200), nullable=False),
        sa.Column("subject_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("subject_key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("result", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_actor_at", ["actor", "at"], unique=False)
        batch_op.create_index("ix_audit_events_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_events_subject_key", ["subject_key_id"], unique=False)
        batch_op.create_index("ix_audit_events_subject_user", ["subject_user_id"], unique=False)

    op.create_table(
        "retest_leases",
        sa.Column("key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("strategy", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "envelope_keys",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_version", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewrapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("envelope_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_envelope_keys_master_key_version"), ["master_key_version"], unique=False
        )

    op.create_table(
        "exchange_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("exchange", sa.String(length=40), nullable=False),
        sa.Column("product", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("key_prefix", sa.String(length=8), nullable=False),
        sa.Column("key_suffix", sa.String(length=8), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("has_passphrase", sa.Boolean(), nullable=False),
        sa.Column("has_uid", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip_whitelist", sa.JSON(), nullable=False),
        sa.Column("required_scopes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_test_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=20), nullable=True),
        sa.Column("last_diagnosis", sa.String(length=40), nullable=True),
        sa.Column("last_permissions", sa.JSON(), nullable=False),
        sa.Column("credential_blob", sa.LargeBinary(), nullable=False),
        sa.Column("credential_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("exchange_keys", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exchange_keys_exchange_diagnosis", ["exchange", "last_diagnosis"], unique=False
        )
        batch_op.create_index("ix_exchange_keys_fingerprint", ["fingerprint"], unique=False)
        batch_op.create_index("ix_exchange_keys_key_prefix", ["key_prefix"], unique=False)
        batch_op.create_index("ix_exchange_keys_key_suffix", ["key_suffix"], unique=False)
        batch_op.create_index("ix_exchange_keys_user_id", ["user_id"], unique=False)

    op.create_table(
        "backfill_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_orders_rows", sa.Integer(), nullable=False),
        sa.Column("trades_rows", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["exchange_keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("backfill_runs", schema=None) as batch_op:
        batch_op.create_index("ix_backfill_runs_key_window", ["key_id", "window_start"], unique=False)

    op.create_table(
        "connection_tests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("exchange", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("ticket", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("diagnosis", sa.String(length=40), nullable=False),
        sa.Column("missing_scopes", sa.JSON(), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("exchange_error", sa.String(length=500), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("egress_ip", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["exchange_keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("connection_tests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_connection_tests_exchange_started", ["exchange", "started_at"], unique=False
        )
        batch_op.create_index("ix_connection_tests_key_started", ["key_id", "started_at"], unique=False)
        batch_op.create_index("ix_connection_tests_started", ["started_at"], unique=False)

    op.create_table(
        "placed_orders_daily",
        sa.Column("key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("orders_placed", sa.Integer(), nullable=False),
        sa.Column("orders_filled", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["exchange_keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_id", "day"),
    )

    for statement in _AUDIT_GUARDS.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:

    op.drop_table("placed_orders_daily")
    with op.batch_alter_table("connection_tests", schema=None) as batch_op:
        batch_op.drop_index("ix_connection_tests_started")
        batch_op.drop_index("ix_connection_tests_key_started")
        batch_op.drop_index("ix_connection_tests_exchange_started")

    op.drop_table("connection_tests")
    with op.batch_alter_table("backfill_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_backfill_runs_key_window")

    op.drop_table("backfill_runs")
    with op.batch_alter_table("exchange_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_keys_user_id")
        batch_op.drop_index("ix_exchange_keys_key_suffix")
        batch_op.drop_index("ix_exchange_keys_key_prefix")
        batch_op.drop_index("ix_exchange_keys_fingerprint")
        batch_op.drop_index("ix_exchange_keys_exchange_diagnosis")

    op.drop_table("exchange_keys")
    with op.batch_alter_table("envelope_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_envelope_keys_master_key_version"))

    op.drop_table("envelope_keys")
    op.drop_table("users")
    op.drop_table("retest_leases")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_subject_user")
        batch_op.drop_index("ix_audit_events_subject_key")
        batch_op.drop_index("ix_audit_events_at")
        batch_op.drop_index("ix_audit_events_actor_at")

    op.drop_table("audit_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
