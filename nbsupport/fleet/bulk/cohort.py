"""Which keys a bulk batch covers: the cohort query, the batch's id and audit row, the keys it has tested.

A resume re-selects the same cohort from the bounds kept in the batch's audit row and skips keys whose
test carries the batch id in its ticket.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from nbsupport.audit import Action
from nbsupport.db.models import AuditEvent, ConnectionTest, ExchangeKey
from nbsupport.fleet.bulk.models import BulkError
from nbsupport.fleet.kinds import CUSTOMER

TRIGGER = "bulk"
FAILED_TESTS_WHERE = "connection_tests.outcome = 'failed'"


def new_batch_id(now: datetime) -> str:
    # The start time is part of the id so a resume finds the batch's audit row through the time index.
    return f"bulk-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def batch_started_at(batch_id: str) -> datetime:
    try:
        stamp = batch_id.split("-")[1]
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        raise BulkError(f"not a bulk batch id: {batch_id[:60]!r}") from None


def batch_ticket(batch_id: str, ticket: str) -> str:
    """The ticket every test of the batch carries: the agent's ticket plus the batch id."""
    return f"{ticket[:150]} [{batch_id}]" if ticket else f"[{batch_id}]"


def select_cohort(
    session: Session,
    *,
    exchange: str | None,
    diagnosis: str | None,
    since_at: datetime,
    until: datetime,
    include_non_customer: bool = False,
) -> list[tuple[int, str]]:
    """(key id, exchange) of active keys with a failed test (or a test with `diagnosis`) in the window;
    customers' keys only unless `include_non_customer`."""
    ct, k = ConnectionTest, ExchangeKey
    query = (
        select(ct.key_id, k.exchange)
        .join(k, k.id == ct.key_id)
        .where(ct.started_at >= since_at, ct.started_at <= until, k.status == "active")
        .distinct()
        .order_by(ct.key_id)
    )
    if not include_non_customer:
        query = query.where(k.kind == CUSTOMER)
    # "Any failed test" reads the partial covering index ix_connection_tests_failed (migration 0005); its
    # predicate must appear literally (SQLite's rule for partial indexes).
    query = query.where(ct.diagnosis == diagnosis) if diagnosis else query.where(text(FAILED_TESTS_WHERE))
    if exchange:
        query = query.where(ct.exchange == exchange)
    return [(int(key_id), str(venue)) for key_id, venue in session.execute(query)]


def keys_done_in_batch(session: Session, batch_id: str, ticket: str) -> set[int]:
    ct = ConnectionTest
    query = (
        select(ct.key_id)
        .where(
            ct.started_at >= batch_started_at(batch_id),
            ct.trigger == TRIGGER,
            ct.ticket == batch_ticket(batch_id, ticket),
        )
        .distinct()
    )
    return {int(key_id) for key_id in session.scalars(query)}


def find_batch(session: Session, batch_id: str) -> AuditEvent:
    started = batch_started_at(batch_id)
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.at >= started - timedelta(minutes=1),
            AuditEvent.action == Action.FLEET_BULK_RETEST,
            AuditEvent.result == batch_id,
        )
        .order_by(AuditEvent.id)
        .limit(1)
    )
    row = session.scalars(query).first()
    if row is None:
        raise BulkError(f"no bulk re-test batch {batch_id!r}")
    return row
