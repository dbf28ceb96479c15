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
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Literal

import nbsupport.conntest as conntest
from nbsupport import audit
from nbsupport.audit import Action, Actor
from nbsupport.clock import utcnow
from nbsupport.console import Console
from nbsupport.fleet.bulk.cohort import (
    batch_ticket,
    find_batch,
    keys_done_in_batch,
    new_batch_id,
    select_cohort,
)
from nbsupport.fleet.bulk.models import BulkError, BulkReport, Progress, RetestFn, VenueBudget
from nbsupport.fleet.bulk.processes import run_in_processes
from nbsupport.fleet.bulk.scheduler import interleave, run_in_threads

# A worker process costs about a second to start (imports): worth it from a few hundred keys.
AUTO_PROCESSES_FROM = 200
MAX_AUTO_PROCESSES = 4


def _worker_count(processes: int | Literal["auto"], keys: int) -> int:
    if isinstance(processes, int):
        return max(1, min(processes, keys))
    cores = os.cpu_count() or 1
    return max(1, min(min(cores, MAX_AUTO_PROCESSES) if keys >= AUTO_PROCESSES_FROM else 1, keys))


def _plan_text(plan: dict[str, object], name: str) -> str | None:
    """A text field of a batch's recorded plan (its audit row's detail); None when it was not set."""
    value = plan.get(name)
    return value if isinstance(value, str) else None


def bulk_retest(
    console: Console,
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

    `processes` > 1 spreads the keys over that many worker processes (nbsupport.fleet.bulk.processes),
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
            plan = find_batch(session, batch_id).detail
            exchange, diagnosis = _plan_text(plan, "exchange"), _plan_text(plan, "diagnosis")
            ticket = _plan_text(plan, "ticket") or ""
            include_non_customer = bool(plan.get("include_non_customer", False))
            since_at, selected_at = (datetime.fromisoformat(str(plan[name]))
                                     for name in ("since_at", "selected_at"))
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
        todo = interleave([item for item in cohort if item[0] not in done])
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
    # Any: the keyword arguments both runners take, each of its own type (a TypedDict would repeat them).
    shared: dict[str, Any] = {
        "actor": actor,
        "ticket": batch_ticket(report.batch_id, ticket),
        "concurrency": concurrency,
        "budgets": budgets or {},
        "progress": progress,
        "stop": stop or threading.Event(),
    }
    if workers > 1:
        run_in_processes(console, todo, report, processes=workers, **shared)
    else:
        run_in_threads(console, todo, report, retest_fn or conntest.run_retest, **shared)
    report.duration_s = round(time.monotonic() - started, 3)
    return report
