"""key fingerprint counts: keys in use per API key, kept by triggers, so shared keys count without a scan

Revision ID: 0006
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen history: copied (not imported) from nbsupport.keys, whose rebuild recomputes the same table. Every
# SQL string below is assembled from these constants only (hence the S608 waivers).
_GONE = "('revoked', 'deleted')"
_FILL = (
    "INSERT INTO key_fingerprint_counts (fingerprint, n) SELECT fingerprint, count(*) "  # noqa: S608
    f"FROM exchange_keys WHERE status NOT IN {_GONE} GROUP BY fingerprint"
)
_TRIGGERS = ("key_fingerprint_ins", "key_fingerprint_upd", "key_fingerprint_del")


def _sqlite_triggers() -> list[str]:
    def minus(row: str) -> str:
        return (f"UPDATE key_fingerprint_counts SET n = n - 1 WHERE fingerprint = {row}.fingerprint "  # noqa: S608
                f"AND {row}.status NOT IN {_GONE}; "
                f"DELETE FROM key_fingerprint_counts WHERE fingerprint = {row}.fingerprint AND n <= 0;")

    def plus(row: str) -> str:
        return (f"INSERT INTO key_fingerprint_counts (fingerprint, n) SELECT {row}.fingerprint, 1 "
                f"WHERE {row}.status NOT IN {_GONE} "
                "ON CONFLICT (fingerprint) DO UPDATE SET n = n + 1;")

    return [
        f"CREATE TRIGGER key_fingerprint_ins AFTER INSERT ON exchange_keys BEGIN {plus('NEW')} END",
        f"CREATE TRIGGER key_fingerprint_del AFTER DELETE ON exchange_keys BEGIN {minus('OLD')} END",
        "CREATE TRIGGER key_fingerprint_upd AFTER UPDATE OF fingerprint, status ON exchange_keys BEGIN "
        f"{minus('OLD')} {plus('NEW')} END",
    ]


def _pg_triggers() -> list[str]:
    function = f"""
        CREATE FUNCTION key_fingerprint_apply() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                IF OLD.status NOT IN {_GONE} THEN
                    UPDATE key_fingerprint_counts SET n = n - 1 WHERE fingerprint = OLD.fingerprint;
                    DELETE FROM key_fingerprint_counts WHERE fingerprint = OLD.fingerprint AND n <= 0;
                END IF;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                IF NEW.status NOT IN {_GONE} THEN
                    INSERT INTO key_fingerprint_counts AS c (fingerprint, n) VALUES (NEW.fingerprint, 1)
                    ON CONFLICT (fingerprint) DO UPDATE SET n = c.n + 1;
                END IF;
            END IF;
            RETURN NULL;
        END $$"""  # noqa: S608
    apply = "FOR EACH ROW EXECUTE FUNCTION key_fingerprint_apply()"
    return [
        function,
        f"CREATE TRIGGER key_fingerprint_ins AFTER INSERT ON exchange_keys {apply}",
        f"CREATE TRIGGER key_fingerprint_upd AFTER UPDATE OF fingerprint, status ON exchange_keys {apply}",
        f"CREATE TRIGGER key_fingerprint_del AFTER DELETE ON exchange_keys {apply}",
    ]


def upgrade() -> None:
    op.create_table(
        "key_fingerprint_counts",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    # Only API keys stored more than once: the posture's shared-key count reads this small index alone.
    op.create_index("ix_key_fingerprint_counts_shared", "key_fingerprint_counts", ["n"],
                    sqlite_where=sa.text("n > 1"), postgresql_where=sa.text("n > 1"))
    op.execute(_FILL)
    dialect = op.get_bind().dialect.name
    for statement in _sqlite_triggers() if dialect == "sqlite" else _pg_triggers():
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    on_table = " ON exchange_keys" if dialect == "postgresql" else ""
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}{on_table}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS key_fingerprint_apply()")
    op.drop_index("ix_key_fingerprint_counts_shared", table_name="key_fingerprint_counts")
    op.drop_table("key_fingerprint_counts")
