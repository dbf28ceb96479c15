"""Rollup tables behind fleet statistics (migration 0002).

Fleet statistics read these small tables instead of scanning ~20 M connection tests or every key, so
their cost does not grow with the fleet. `nbsupport.fleet.stats.rollups` rebuilds them and keeps them current.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nbsupport.db.models import Base, BigId


class DailyTestRollup(Base):
    """Connection tests per UTC day, venue, key kind, diagnosis and outcome."""

    __tablename__ = "test_rollup_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    exchange: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The tested key's kind (customer / practice / internal, migration 0005): `kind` is taken below.
    key_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    diagnosis: Mapped[str] = mapped_column(String(40), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(10), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class RecoveryRollupDaily(Base):
    """Failure episodes that turned green again, as a histogram of how long they took.

    An episode opens at a key's first failed test after a green one (or its first test) and closes at the
    key's next test that is not failed. `day` is the UTC day the episode opened; `minutes` is the duration
    rounded down to the histogram resolution (see `nbsupport.fleet.stats.rollups.duration_bucket`).
    """

    __tablename__ = "recovery_rollup_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    exchange: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class KeyPostureRollup(Base):
    """Active keys by security posture, kept by triggers on exchange_keys (so every writer keeps it right).

    kind "rotation": `day` is the UTC day of the last rotation (or creation), with the withdraw and
    whitelist flags; the sum over it is the number of active keys. kind "expiry": `day` is the UTC day the
    key expires (flags false); keys without an expiry have no such row.
    """

    __tablename__ = "key_posture_rollup"

    exchange: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    can_withdraw: Mapped[bool] = mapped_column(primary_key=True)
    no_whitelist: Mapped[bool] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class BackfillNotableRun(Base):
    """Empty backfill runs worth a look: orders were placed on days wholly inside the window, or the window
    lies before the key existed (or after the run). Kept by triggers on backfill_runs and
    placed_orders_daily (migration 0002), so the backfill-health scan never probes every empty run."""

    __tablename__ = "backfill_notable_runs"
    __table_args__ = (
        Index("ix_backfill_notable_runs_started", "started_at", "key_id"),
        Index("ix_backfill_notable_runs_key", "key_id", "started_at"),
    )

    run_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[int] = mapped_column(BigId)
    started_at: Mapped[datetime]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    orders: Mapped[int] = mapped_column(Integer, default=0)
    early: Mapped[bool] = mapped_column(default=False)
