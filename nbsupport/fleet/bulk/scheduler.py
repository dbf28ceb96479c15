"""Run a bulk batch's keys in threads: per-venue concurrency caps and start rates, lazy submission, a
clean stop on interruption (tests already running finish and are stored)."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from nbsupport.audit import Actor
from nbsupport.conntest import RetestRefused
from nbsupport.console import Console
from nbsupport.fleet.bulk.cohort import TRIGGER
from nbsupport.fleet.bulk.models import (
    DEFAULT_BUDGET,
    RUNNING,
    BulkProgress,
    BulkReport,
    KeyOutcome,
    Progress,
    RetestFn,
    VenueBudget,
)


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


def interleave(cohort: list[tuple[int, str]]) -> list[tuple[int, str]]:
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


def run_in_threads(
    console: Console,
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
                outcome, diag = result.outcome, result.diagnosis
            except RetestRefused as exc:  # another test holds the key, or the cooldown
                outcome, diag, reason = "refused", "", exc.reason or type(exc).__name__
                with lock:
                    report.refused[key_id] = reason
            except Exception as exc:
                # Only the type: an unexpected exception's text is not vetted for secrets.
                outcome, diag, reason = "error", "", type(exc).__name__
                with lock:
                    report.errors[key_id] = reason
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
