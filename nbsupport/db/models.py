"""Typed SQLAlchemy models. The schema is created by the Alembic migrations, never by `create_all`.

Every lookup path the console uses has an index here; the migrations mirror these definitions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    TypeDecorator,
    func,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from nbsupport import searchtext
from nbsupport.fleet.kinds import CUSTOMER, kind_for_email


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both backends (SQLite keeps no offset, so it is restored on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass timezone-aware UTC values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT for tables that grow large.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    # JSON columns: {scope: state} maps, lists of names, and free-form details read back as plain objects.
    type_annotation_map: ClassVar[dict[object, object]] = {
        dict[str, str]: JSON,
        dict[str, object]: JSON,
        list[str]: JSON,
        datetime: UtcDateTime(),
    }


def search_text(length: int) -> String:
    """Folded search text. PostgreSQL compares it in the C collation (code point order, as SQLite does), so a
    prefix is exactly the range [prefix, successor) whatever the database's default collation."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _user_kind(context: DefaultExecutionContext) -> str:
    # Every ORM writer of a user gets the kind its email implies (migration 0005 backfilled older rows).
    return kind_for_email(str(context.get_current_parameters().get("email") or ""))


def _owner_kind(context: DefaultExecutionContext) -> str:
    # A key carries its owner's kind, so fleet queries filter keys without joining users.
    user_id = context.get_current_parameters().get("user_id")
    kind = context.connection.scalar(text("SELECT kind FROM users WHERE id = :id"), {"id": user_id})
    return str(kind or CUSTOMER)


class User(Base):
    __tablename__ = "users"
    # (column, id): a prefix range comes back in (value, id) order straight from the index, so LIMIT stops
    # early even for a domain shared by half the users.
    __table_args__ = (
        Index("ix_users_name_search", "name_search", "id"),
        Index("ix_users_surname_search", "surname_search", "id"),
        Index("ix_users_email_local", "email_local", "id"),
        Index("ix_users_email_domain", "email_domain", "id"),
        Index("ix_users_non_customer", "kind",
              sqlite_where=text("kind <> 'customer'"), postgresql_where=text("kind <> 'customer'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    strategy: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
    # customer | practice | internal (nbsupport.fleet.kinds): fleet figures count customers by default.
    kind: Mapped[str] = mapped_column(String(10), default=_user_kind, server_default=CUSTOMER)
    # Folded copies for search (nbsupport.searchtext), kept current by `_keep_search_columns` on every ORM
    # write and by the demo's bulk writer (records.user_frames); migration 0004 filled existing rows.
    name_search: Mapped[str] = mapped_column(search_text(searchtext.NAME_LENGTH), default="")
    surname_search: Mapped[str] = mapped_column(search_text(searchtext.NAME_LENGTH), default="")
    email_local: Mapped[str] = mapped_column(search_text(searchtext.EMAIL_PART_LENGTH), default="")
    email_domain: Mapped[str] = mapped_column(search_text(searchtext.EMAIL_PART_LENGTH), default="")

    @validates("email", "display_name")
    def _keep_search_columns(self, name: str, value: str) -> str:
        if name == "email":
            self.email_local, self.email_domain = searchtext.email_columns(value)
        else:
            self.name_search, self.surname_search = searchtext.name_columns(value)
        return value


class EnvelopeKey(Base):
    """The user's data-encryption key, stored only wrapped by a master key."""

    __tablename__ = "envelope_keys"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_version: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime]
    rewrapped_at: Mapped[datetime | None]


class ExchangeKey(Base):
    __tablename__ = "exchange_keys"
    __table_args__ = (
        Index("ix_exchange_keys_user_id", "user_id"),
        Index("ix_exchange_keys_fingerprint", "fingerprint"),
        Index("ix_exchange_keys_exchange_diagnosis", "exchange", "last_diagnosis"),
        Index("ix_exchange_keys_cohort", "id", "status", "kind", "exchange"),
        Index("ix_exchange_keys_non_customer", "kind", "id",
              sqlite_where=text("kind <> 'customer'"), postgresql_where=text("kind <> 'customer'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    exchange: Mapped[str] = mapped_column(String(40))  # ccxt exchange id
    product: Mapped[str] = mapped_column(String(20))  # spot | futures | margin ...
    label: Mapped[str] = mapped_column(String(100), default="")
    key_prefix: Mapped[str] = mapped_column(String(8))
    key_suffix: Mapped[str] = mapped_column(String(8))
    # sha256 of the public API key, hex: matches a key a user quotes without storing it in clear.
    fingerprint: Mapped[str] = mapped_column(String(64))
    has_passphrase: Mapped[bool] = mapped_column(default=False)
    has_uid: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    ip_whitelist: Mapped[list[str]] = mapped_column(default=list)
    required_scopes: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")
    last_test_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    last_diagnosis: Mapped[str | None] = mapped_column(String(40))
    # Scopes as last seen by a connection test: {scope: granted|missing|unknown}.
    last_permissions: Mapped[dict[str, str]] = mapped_column(default=dict)
    # AES-GCM sealed credentials; the associated data binds user, key id, exchange and credential_version.
    credential_blob: Mapped[bytes] = mapped_column(LargeBinary)
    credential_version: Mapped[int] = mapped_column(default=1)
    kind: Mapped[str] = mapped_column(String(10), default=_owner_kind, server_default=CUSTOMER)


# Key fragments are matched in any case (an agent retypes `AbC1` as `abc1`); keys are ASCII, so lower() is
# the same on both backends.
Index("ix_exchange_keys_key_prefix_lower", func.lower(ExchangeKey.key_prefix))
Index("ix_exchange_keys_key_suffix_lower", func.lower(ExchangeKey.key_suffix))


class ConnectionTest(Base):
    __tablename__ = "connection_tests"
    __table_args__ = (
        Index("ix_connection_tests_key_started", "key_id", "started_at"),
        Index("ix_connection_tests_started", "started_at"),
        Index("ix_connection_tests_exchange_started", "exchange", "started_at"),
        # Failed tests only, covering the bulk cohort preview (migration 0005).
        Index("ix_connection_tests_failed", "started_at", "key_id", "exchange",
              sqlite_where=text("outcome = 'failed'"), postgresql_where=text("outcome = 'failed'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[int] = mapped_column(BigId, ForeignKey("exchange_keys.id", ondelete="CASCADE"))
    exchange: Mapped[str] = mapped_column(String(40))  # denormalised for fleet statistics
    started_at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(20))  # save | retest | bulk | scheduled
    actor: Mapped[str] = mapped_column(String(320), default="")
    ticket: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(10))
    diagnosis: Mapped[str] = mapped_column(String(40))
    # One name in Python, the result's; the column keeps the name it was created with.
    missing_permissions: Mapped[list[str]] = mapped_column("missing_scopes", default=list)
    permissions: Mapped[dict[str, str]] = mapped_column(default=dict)
    exchange_error: Mapped[str] = mapped_column(String(500), default="")
    requests: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[int] = mapped_column(default=0)
    egress_ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, object]] = mapped_column(default=dict)


class BackfillRun(Base):
    __tablename__ = "backfill_runs"
    __table_args__ = (Index("ix_backfill_runs_key_window", "key_id", "window_start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[int] = mapped_column(BigId, ForeignKey("exchange_keys.id", ondelete="CASCADE"))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    started_at: Mapped[datetime]
    closed_orders_rows: Mapped[int] = mapped_column(default=0)
    trades_rows: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(20))  # ok | failed
    error: Mapped[str] = mapped_column(String(500), default="")


class PlacedOrdersDay(Base):
    """Orders the platform's strategies placed per key and day: evidence for backfill checks."""

    __tablename__ = "placed_orders_daily"

    key_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("exchange_keys.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    orders_placed: Mapped[int] = mapped_column(default=0)
    orders_filled: Mapped[int] = mapped_column(default=0)


class KeyFingerprintCount(Base):
    """Keys in use (status not revoked or deleted) per API key fingerprint, kept by triggers on exchange_keys
    (migration 0006; `keys.rebuild_fingerprint_counts` recomputes it): shared keys count from the rows
    with n > 1, a partial index, without scanning every key."""

    __tablename__ = "key_fingerprint_counts"
    __table_args__ = (
        Index("ix_key_fingerprint_counts_shared", "n", sqlite_where=text("n > 1"),
              postgresql_where=text("n > 1")),
    )

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class RetestLease(Base):
    """At most one connection test per key at a time, across threads and processes."""

    __tablename__ = "retest_leases"

    key_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class RetestRun(Base):
    """A re-test started from the console: recorded work the pages follow, whichever script run, session
    or agent looks (nbsupport.conntest.runs)."""

    __tablename__ = "retest_runs"
    __table_args__ = (Index("ix_retest_runs_key_created", "key_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[int] = mapped_column(BigId, ForeignKey("exchange_keys.id", ondelete="CASCADE"))
    # The key id while the run is queued or running, NULL once it ended: unique, so a key has at most one
    # live run and a second start attaches to it (NULLs never collide, on SQLite and PostgreSQL alike).
    live_key_id: Mapped[int | None] = mapped_column(BigId, unique=True)
    actor: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="")
    ticket: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(10))  # queued | running | done | refused | error
    # Who runs it, in the lease holder's form (host:pid:thread:nonce), so a dead process is detectable.
    holder: Mapped[str] = mapped_column(String(100))
    # Progress so far: [{"step", "status", "detail"}], one entry per step, updated in place.
    steps: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # The finished test's contract JSON (ConnectionOutcome.as_dict), never a secret.
    result: Mapped[dict[str, object] | None] = mapped_column(JSON)
    test_id: Mapped[int | None] = mapped_column(BigId)
    reason: Mapped[str] = mapped_column(String(20), default="")
    message: Mapped[str] = mapped_column(String(500), default="")
    retry_after_s: Mapped[int | None]
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Past this moment a live run is over whatever its holder says (the lease's longest plan, and a margin).
    expires_at: Mapped[datetime]


class AuditEvent(Base):
    """Append-only: the migrations install triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_actor_at", "actor", "at"),
        # Audit search (migration 0005): every filter's index ends with the time, for newest-first pages.
        Index("ix_audit_events_subject_key_at", "subject_key_id", "at"),
        Index("ix_audit_events_subject_user_at", "subject_user_id", "at"),
        Index("ix_audit_events_action_at", "action", "at"),
        # Ticket prefix search; on PostgreSQL the expression is lower(ticket) COLLATE "C" (byte order).
        Index("ix_audit_events_ticket", func.lower(text("ticket")), "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="")
    action: Mapped[str] = mapped_column(String(40))
    ticket: Mapped[str] = mapped_column(String(200), default="")
    subject_user_id: Mapped[int | None] = mapped_column(BigId)
    subject_key_id: Mapped[int | None] = mapped_column(BigId)
    result: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, object]] = mapped_column(default=dict)
