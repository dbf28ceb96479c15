"""search as agents expect: folded name / surname / email-part columns on users, any-case key fragments

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterator

import psycopg
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Migrations are frozen history: the folding below is copied (not imported) from nbsupport.searchtext, which
# writes the same columns for new rows; a test compares the two on the same names.
NAME_LENGTH = 200
EMAIL_PART_LENGTH = 320
USER_COLUMNS = {"name_search": NAME_LENGTH, "surname_search": NAME_LENGTH,
                "email_local": EMAIL_PART_LENGTH, "email_domain": EMAIL_PART_LENGTH}
USER_INDEXES = {f"ix_users_{name}": name for name in USER_COLUMNS}
KEY_INDEXES = {"ix_exchange_keys_key_prefix_lower": "key_prefix",
               "ix_exchange_keys_key_suffix_lower": "key_suffix"}
BATCH = 50_000


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def _columns(email: str | None, display_name: str | None) -> tuple[str, str, str, str]:
    name = _fold(display_name or "")[:NAME_LENGTH]
    email = _fold(email or "")
    local, _, domain = email.rpartition("@") if "@" in email else (email, "", "")
    return name, name.partition(" ")[2], local[:EMAIL_PART_LENGTH], domain[:EMAIL_PART_LENGTH]


def _backfill_sqlite(raw: sqlite3.Connection) -> None:
    """One UPDATE through Python functions registered on this connection: no row leaves SQLite."""
    for i, name in enumerate(USER_COLUMNS):
        raw.create_function(f"nb_{name}", 2, lambda e, d, i=i: _columns(e, d)[i], deterministic=True)
    sets = ", ".join(f"{name} = nb_{name}(email, display_name)" for name in USER_COLUMNS)
    raw.execute(f"UPDATE users SET {sets}")  # noqa: S608 (fixed column names)


def _batches(bind: sa.Connection) -> Iterator[list[tuple[int, str, str]]]:
    last = 0
    query = sa.text("SELECT id, email, display_name FROM users WHERE id > :last ORDER BY id LIMIT :n")
    while rows := [tuple(r) for r in bind.execute(query, {"last": last, "n": BATCH})]:
        yield rows
        last = rows[-1][0]


def _backfill_postgresql(bind: sa.Connection) -> None:
    """Computed in Python (the folding has no portable SQL form), COPYed to a temporary table, applied by one
    UPDATE ... FROM: a join, not a million single-row updates."""
    cols = ", ".join(f"{name} text" for name in USER_COLUMNS)
    bind.execute(sa.text(f"CREATE TEMPORARY TABLE users_search_backfill (id bigint, {cols}) ON COMMIT DROP"))
    raw = bind.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    for rows in _batches(bind):
        with raw.cursor() as cursor, cursor.copy(
            f"COPY users_search_backfill (id, {', '.join(USER_COLUMNS)}) FROM STDIN"
        ) as copy:
            for user_id, email, display_name in rows:
                copy.write_row((user_id, *_columns(email, display_name)))
    sets = ", ".join(f"{name} = b.{name}" for name in USER_COLUMNS)
    bind.execute(sa.text(f"UPDATE users u SET {sets} FROM users_search_backfill b WHERE b.id = u.id"))  # noqa: S608


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    for name, length in USER_COLUMNS.items():
        # C collation on PostgreSQL: a prefix is exactly a code point range, whatever the database default.
        kind = sa.String(length, collation="C") if dialect == "postgresql" else sa.String(length)
        op.add_column("users", sa.Column(name, kind, nullable=False, server_default=""))
    if dialect == "sqlite":
        raw = bind.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        _backfill_sqlite(raw)
    else:
        _backfill_postgresql(bind)
    # Indexes after the backfill: one sort each instead of a million B-tree inserts.
    for index, column in USER_INDEXES.items():
        op.create_index(index, "users", [column, "id"])
    op.drop_index("ix_exchange_keys_key_prefix", table_name="exchange_keys")
    op.drop_index("ix_exchange_keys_key_suffix", table_name="exchange_keys")
    for index, column in KEY_INDEXES.items():
        op.create_index(index, "exchange_keys", [sa.text(f"lower({column})")])
    if dialect == "postgresql":
        op.execute("ANALYZE users")
        op.execute("ANALYZE exchange_keys")
    else:
        # The planner's statistics for the new indexes (sampled: seconds on a million rows).
        op.execute("PRAGMA analysis_limit=2000")
        op.execute("ANALYZE users")
        op.execute("ANALYZE exchange_keys")


def downgrade() -> None:
    for index in KEY_INDEXES:
        op.drop_index(index, table_name="exchange_keys")
    op.create_index("ix_exchange_keys_key_prefix", "exchange_keys", ["key_prefix"])
    op.create_index("ix_exchange_keys_key_suffix", "exchange_keys", ["key_suffix"])
    for index in USER_INDEXES:
        op.drop_index(index, table_name="users")
    for name in USER_COLUMNS:
        op.execute(f"ALTER TABLE users DROP COLUMN {name}")
