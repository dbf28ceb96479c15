"""Builders for the fleet tests: users, keys, connection tests, backfill runs and placed orders by hand.

Kept beside the tests (no tests of its own) so every fleet test file states its data in a few lines.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nbsupport.db.models import BackfillRun, ConnectionTest, ExchangeKey, PlacedOrdersDay, User
from nbsupport.fleet.stats.rollups import record_test_in_rollups

_serial = itertools.count(1)


def at(text: str) -> datetime:
    """'2026-03-28 09:00' as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_user(session: Session, email: str | None = None) -> User:
    user = User(email=email or f"user{next(_serial)}@example.com", created_at=at("2024-01-01 00:00"))
    session.add(user)
    session.flush()
    return user


def make_key(
    session: Session,
    user: User,
    *,
    exchange: str = "kraken",
    product: str = "spot",
    created_at: str = "2025-06-01 00:00",
    rotated_at: str | None = None,
    expires_at: str | None = None,
    permissions: dict[str, str] | None = None,
    ip_whitelist: list[str] | None = None,
    status: str = "active",
    last_diagnosis: str | None = None,
) -> ExchangeKey:
    key = ExchangeKey(
        user_id=user.id,
        exchange=exchange,
        product=product,
        key_prefix="AbCd",
        key_suffix="WxYz",
        fingerprint=f"{next(_serial):064x}",
        created_at=at(created_at),
        rotated_at=at(rotated_at) if rotated_at else None,
        expires_at=at(expires_at) if expires_at else None,
        ip_whitelist=["51.38.112.198/32"] if ip_whitelist is None else ip_whitelist,
        last_permissions=permissions or {},
        status=status,
        last_diagnosis=last_diagnosis,
        credential_blob=b"sealed",
    )
    session.add(key)
    session.flush()
    return key


def add_test(
    session: Session,
    key: ExchangeKey,
    started_at: str | datetime,
    diagnosis: str = "ok",
    outcome: str | None = None,
    *,
    trigger: str = "scheduled",
    ticket: str = "",
    detail: dict[str, Any] | None = None,
    hook: bool = True,
) -> ConnectionTest:
    """A connection test (outcome follows from the diagnosis), counted by the rollup hook as the engine's."""
    if outcome is None:
        outcome = "ok" if diagnosis == "ok" else "warning" if diagnosis == "withdraw_enabled" else "failed"
    test = ConnectionTest(
        key_id=key.id,
        exchange=key.exchange,
        trigger=trigger,
        ticket=ticket,
        started_at=at(started_at) if isinstance(started_at, str) else started_at,
        outcome=outcome,
        diagnosis=diagnosis,
        detail=detail or {},
    )
    session.add(test)
    session.flush()
    if hook:
        record_test_in_rollups(session, test)
    return test


def add_run(
    session: Session,
    key: ExchangeKey,
    window: tuple[str, str],
    started_at: str,
    *,
    closed: int = 0,
    trades: int = 0,
    status: str = "ok",
    error: str = "",
) -> BackfillRun:
    run = BackfillRun(
        key_id=key.id,
        window_start=at(window[0]),
        window_end=at(window[1]),
        started_at=at(started_at),
        closed_orders_rows=closed,
        trades_rows=trades,
        status=status,
        error=error,
    )
    session.add(run)
    session.flush()
    return run


def add_orders(session: Session, key: ExchangeKey, days: list[str], placed: int = 5) -> None:
    for day in days:
        session.add(
            PlacedOrdersDay(
                key_id=key.id, day=date.fromisoformat(day), orders_placed=placed, orders_filled=placed // 2
            )
        )
    session.flush()


def table_rows(session: Session, model: type, *, skip_zero: bool = True) -> list[tuple[Any, ...]]:
    """A rollup table's rows as sorted tuples (rows a trigger has counted down to zero are left out)."""
    columns = list(model.__table__.columns)  # type: ignore[attr-defined]
    rows = [tuple(row) for row in session.execute(select(*columns))]
    if skip_zero:
        rows = [row for row in rows if row[-1] != 0]
    return sorted(rows, key=repr)
