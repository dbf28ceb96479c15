"""Bulk re-test: re-run the connection test for a cohort of keys, e.g. every Kraken key that failed during
yesterday's incident.

* Cohort: chosen in SQL from connection tests in [since_at, selected_at] (failed ones, or one diagnosis).
* Parallel across keys, at most one test per key per batch; the engine's lease keeps tests of one key
  strictly sequential against agents' re-tests too (a refused key is reported and retried on resume).
* Per-venue budgets: a concurrency cap and a test rate, so one venue's rate limits are not hammered.
* Resumable: the batch audit row (written before the first test) keeps the cohort's absolute bounds, and
  every test of the batch carries the batch id in its ticket, so a resume re-selects the same cohort and
  skips keys already tested in the batch.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from nbsupport import audit
from nbsupport.audit import Action, Actor
from nbsupport.clock import utcnow
from nbsupport.db.models import AuditEvent, ConnectionTest, ExchangeKey
from nbsupport.fleet.kinds import CUSTOMER

TRIGGER = "bulk"
FAILED_TESTS_WHERE = "connection_tests.outcome = 'failed'"

RetestFn = Callable[..., Any]
Progress = Callable[["BulkProgress"], None]


@dataclass(frozen=True)
class VenueBudget:
    """How hard a batch may push one venue: parallel tests and tests started per second."""

    concurrency: int = 8
    tests_per_second: float = 100.0


DEFAULT_BUDGET = VenueBudget()
# A worker process costs about a second to start (imports): worth it from a few hundred keys.
AUTO_PROCESSES_FROM = 200
MAX_AUTO_PROCESSES = 4


class BulkError(ValueError):
    """A bulk re-test request that cannot run (unknown batch, conflicting options)."""


RUNNING = "running"


@dataclass(frozen=True)
class BulkProgress:
    """A key started (`outcome` RUNNING, `done` unchanged) or finished its test."""

    done: int
    total: int
    key_id: int
    outcome: str  # running | ok | warning | failed | refused | error
    exchange: str = ""
    diagnosis: str = ""


@dataclass(frozen=True)
class KeyOutcome:
    """One key's test in the batch: what it found, or why it was not tested (`reason`)."""

    key_id: int
    exchange: str
    outcome: str  # ok | warning | failed | refused | error
    diagnosis: str = ""
    reason: str = ""
    seconds: float = 0.0


@dataclass
class BulkReport:
    batch_id: str
    dry_run: bool
    exchange: str | None
    diagnosis: str | None
    since_at: datetime
    selected_at: datetime
    cohort: int
    already_done: int = 0
    tested: int = 0
    interrupted: bool = False
    outcomes: dict[str, int] = field(default_factory=dict)
    diagnoses: dict[str, int] = field(default_factory=dict)
    by_venue: dict[str, int] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)  # key id -> reason
    errors: dict[int, str] = field(default_factory=dict)  # key id -> exception type
    key_ids: list[int] = field(default_factory=list)  # the cohort (dry run) or the keys tested now
    duration_s: float = 0.0
    results: list[KeyOutcome] = field(default_factory=list)  # every key this run tried, in finish order

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since_at"], data["selected_at"] = self.since_at.isoformat(), self.selected_at.isoformat()
        data["refused"] = {str(k): v for k, v in self.refused.items()}
        data["errors"] = {str(k): v for k, v in self.errors.items()}
        return data


def new_batch_id(now: datetime) -> str:
    # The start time is part of the id so a resume finds the batch's audit row through the time index.
    return f"bulk-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def batch_started_at(batch_id: str) -> datetime:
    try:
        stamp = batch_id.split("-")[1]
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        raise BulkError(f"not a bulk batch id: {batch_id[:60]!r}") from None


def test_ticket(batch_id: str, ticket: str) -> str:
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
            ct.ticket == test_ticket(batch_id, ticket),
        )
        .distinct()
    )
    return {int(key_id) for key_id in session.scalars(query)}


def _find_batch(session: Session, batch_id: str) -> AuditEvent:
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


class _RateGate:
    """Spaces starts at 1/rate seconds per venue, shared by the batch's threads."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)


def _interleave(cohort: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Round-robin across venues so one venue's budget does not hold back the others' keys."""
    queues: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for item in cohort:
        queues[item[1]].append(item)
    ordered: list[tuple[int, str]] = []
    while queues:
        for venue in list(queues):
            ordered.append(queues[venue].pop(0))
            if not queues[venue]:
                del queues[venue]
    return ordered


def _worker_count(processes: int | Literal["auto"], keys: int) -> int:
    if processes == "auto":
        cores = os.cpu_count() or 1
        processes = min(cores, MAX_AUTO_PROCESSES) if keys >= AUTO_PROCESSES_FROM else 1
    return max(1, min(processes, keys))


def _default_retest_fn() -> RetestFn:
    try:
        from nbsupport.conntest import run_retest  # type: ignore[attr-defined]
    except ImportError as exc:
        raise BulkError("the connection-test engine (nbsupport.conntest) is not installed") from exc
    return run_retest  # type: ignore[no-any-return]


def _field(result: Any, name: str) -> str:
    value = result.get(name) if isinstance(result, dict) else getattr(result, name, None)
    return str(getattr(value, "value", value) or "unknown")


def bulk_retest(
    console: Any,
    *,
    exchange: str | None = None,
    diagnosis: str | None = None,
    since: timedelta = timedelta(hours=24),
    concurrency: int = 8,
    dry_run: bool = False,
    actor: Actor,
    ticket: str = "",
    progress: Progress | None = None,
    batch_id: str | None = None,
    retest_fn: RetestFn | None = None,
    budgets: dict[str, VenueBudget] | None = None,
    stop: threading.Event | None = None,
    now: datetime | None = None,
    processes: int | Literal["auto"] = 1,
    include_non_customer: bool = False,
) -> BulkReport:
    """Re-test the cohort; with `batch_id`, resume that batch (its own filters and bounds apply).

    `processes` > 1 spreads the keys over that many worker processes (nbsupport.fleet.bulk_processes),
    each with its share of `concurrency` and of the venue budgets; "auto" uses one per core (at most
    `MAX_AUTO_PROCESSES`) for cohorts of `AUTO_PROCESSES_FROM` keys or more, where start-up pays off.
    """
    if concurrency < 1:
        raise BulkError("concurrency must be at least 1")
    if processes != "auto" and processes < 1:
        raise BulkError("processes must be at least 1")
    if processes != "auto" and processes > 1 and retest_fn is not None:
        raise BulkError("a custom retest function runs in threads only (processes=1)")
    started = time.monotonic()
    now = now or utcnow()
    with console.session() as session:
        if batch_id:
            plan = _find_batch(session, batch_id).detail
            exchange, diagnosis, ticket = plan.get("exchange"), plan.get("diagnosis"), plan.get("ticket", "")
            include_non_customer = bool(plan.get("include_non_customer", False))
            since_at, selected_at = (datetime.fromisoformat(plan[n]) for n in ("since_at", "selected_at"))
        else:
            since_at, selected_at = now - since, now
        cohort = select_cohort(
            session, exchange=exchange, diagnosis=diagnosis, since_at=since_at, until=selected_at,
            include_non_customer=include_non_customer,
        )
        report = BulkReport(
            batch_id=batch_id or new_batch_id(now),
            dry_run=dry_run,
            exchange=exchange,
            diagnosis=diagnosis,
            since_at=since_at,
            selected_at=selected_at,
            cohort=len(cohort),
            by_venue=dict(Counter(venue for _, venue in cohort)),
        )
        if dry_run:
            report.key_ids = [key_id for key_id, _ in cohort]
            return report
        done = keys_done_in_batch(session, report.batch_id, ticket) if batch_id else set()
        todo = _interleave([item for item in cohort if item[0] not in done])
        workers = _worker_count(processes, len(todo)) if retest_fn is None else 1
        audit.record(
            session,
            actor,
            Action.FLEET_BULK_RETEST_RESUME if batch_id else Action.FLEET_BULK_RETEST,
            ticket=ticket,
            at=now,
            result=report.batch_id,
            detail={
                "batch_id": report.batch_id,
                "exchange": exchange,
                "diagnosis": diagnosis,
                "ticket": ticket,
                "since_at": since_at.isoformat(),
                "selected_at": selected_at.isoformat(),
                "cohort": len(cohort),
                "already_done": len(done),
                "concurrency": concurrency,
                "processes": workers,
                "include_non_customer": include_non_customer,
            },
        )
    report.already_done = len(cohort) - len(todo)
    shared: dict[str, Any] = {
        "actor": actor,
        "ticket": test_ticket(report.batch_id, ticket),
        "concurrency": concurrency,
        "budgets": budgets or {},
        "progress": progress,
        "stop": stop or threading.Event(),
    }
    if workers > 1:
        from nbsupport.fleet.bulk_processes import run_in_processes

        run_in_processes(console, todo, report, processes=workers, **shared)
    else:
        _run(console, todo, report, retest_fn or _default_retest_fn(), **shared)
    report.duration_s = round(time.monotonic() - started, 3)
    return report


def _run(
    console: Any,
    todo: list[tuple[int, str]],
    report: BulkReport,
    retest_fn: RetestFn,
    *,
    actor: Actor,
    ticket: str,
    concurrency: int,
    budgets: dict[str, VenueBudget],
    progress: Progress | None,
    stop: threading.Event,
) -> None:
    venues = {venue for _, venue in todo}
    limits = {v: budgets.get(v, budgets.get("*", DEFAULT_BUDGET)) for v in venues}
    slots = {
        v: threading.BoundedSemaphore(max(1, min(b.concurrency, concurrency))) for v, b in limits.items()
    }
    gates = {v: _RateGate(b.tests_per_second) for v, b in limits.items()}
    lock = threading.Lock()
    outcomes: Counter[str] = Counter()
    diagnoses: Counter[str] = Counter()

    def one(key_id: int, venue: str) -> None:
        reason = ""
        with slots[venue]:
            if stop.is_set():
                return
            gates[venue].wait()
            if progress is not None:
                with lock:
                    done = sum(outcomes.values())
                progress(BulkProgress(done, len(todo), key_id, RUNNING, venue))
            began = time.monotonic()
            try:
                result = retest_fn(console, key_id, actor=actor, ticket=ticket, trigger=TRIGGER)
                outcome, diag = _field(result, "outcome"), _field(result, "diagnosis")
            except Exception as exc:
                # The engine's RetestRefused carries retry_after_s: another test holds the key, or cooldown.
                outcome, diag = ("refused" if hasattr(exc, "retry_after_s") else "error"), ""
                reason = str(getattr(exc, "reason", "")) or type(exc).__name__
                with lock:
                    target = report.refused if outcome == "refused" else report.errors
                    target[key_id] = reason
            seconds = round(time.monotonic() - began, 3)
        with lock:
            outcomes[outcome] += 1
            if diag:
                diagnoses[diag] += 1
            if outcome not in ("refused", "error"):
                report.tested += 1
                report.key_ids.append(key_id)
            report.results.append(KeyOutcome(key_id, venue, outcome, diag, reason, seconds))
            done = sum(outcomes.values())
        if progress is not None:
            progress(BulkProgress(done, len(todo), key_id, outcome, venue, diag))

    pending: set[Future[None]] = set()
    queue: Iterable[tuple[int, str]] = iter(todo)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bulk-retest") as pool:
        try:
            # Submit lazily, a few ahead of the workers: an interruption leaves little queued work to drop.
            for key_id, venue in queue:
                if stop.is_set():
                    break
                pending.add(pool.submit(one, key_id, venue))
                if len(pending) >= concurrency * 2:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        future.result()
            for future in pending:
                future.result()
        except KeyboardInterrupt:
            # Tests already running finish and are stored; the rest is left for a resume.
            stop.set()
            for future in pending:
                future.cancel()
        finally:
            report.outcomes, report.diagnoses = dict(outcomes), dict(diagnoses)
    report.outcomes, report.diagnoses = dict(outcomes), dict(diagnoses)
    report.interrupted = stop.is_set()
