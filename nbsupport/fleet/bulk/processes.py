"""Bulk re-tests across processes: a test is CPU-bound Python (ccxt client, signing, two short
transactions, ~10-15 ms a key), so one interpreter tops out near one core whatever the thread count.

This process and n-1 spawned workers each take every n-th key of the (venue-interleaved) work list and
run the ordinary `run_in_threads` on it with 1/n of the concurrency, the venue budgets and the rate. Keys
are disjoint between shards, and the per-key lease in the database still guards against anyone else
testing a key at the same time. Progress comes back over a queue, so the progress bar and the report look
as with threads alone.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.synchronize
import queue as queue_module
import threading
from collections import Counter
from dataclasses import asdict, replace
from multiprocessing.queues import Queue
from typing import TypeAlias

import nbsupport.conntest as conntest
from nbsupport.audit import Actor
from nbsupport.config import Settings
from nbsupport.console import Console
from nbsupport.fleet.bulk.models import (
    DEFAULT_BUDGET,
    RUNNING,
    BulkProgress,
    BulkReport,
    KeyOutcome,
    Progress,
    VenueBudget,
)
from nbsupport.fleet.bulk.scheduler import run_in_threads

# What one worker gets: its keys, who and why, its share of the concurrency and of the venue budgets, the
# queue its progress and tally go to, and the event that stops every worker.
Shard: TypeAlias = tuple[
    list[tuple[int, str]], Actor, str, int, dict[str, VenueBudget], "Queue[tuple[object, ...]]",
    multiprocessing.synchronize.Event,
]
_DONE = "done"
_PROGRESS = "progress"


def shard_budgets(budgets: dict[str, VenueBudget], processes: int) -> dict[str, VenueBudget]:
    """Each worker's share of every venue budget: together they never exceed the whole."""
    return {
        venue: replace(
            budget,
            concurrency=max(1, budget.concurrency // processes),
            tests_per_second=budget.tests_per_second / processes,
        )
        for venue, budget in budgets.items()
    }


def _run_shard(
    console: Console,
    todo: list[tuple[int, str]],
    actor: Actor,
    ticket: str,
    concurrency: int,
    budgets: dict[str, VenueBudget],
    events: Queue[tuple[object, ...]],
    stop: multiprocessing.synchronize.Event,
) -> None:
    """One shard in threads; progress and the shard's tally go to `events`."""
    local_stop = threading.Event()
    # A shard only tallies: its report has no batch, filters or window of its own (None where the type
    # wants them); the parent's report holds those.
    report = BulkReport("", False, None, None, None, None, len(todo))  # type: ignore[arg-type]

    def forward(progress: BulkProgress) -> None:
        if progress.outcome == RUNNING:
            return  # only finished keys cross the process boundary (the CLI bar counts those)
        events.put((_PROGRESS, progress.key_id, progress.outcome, progress.exchange, progress.diagnosis))
        if stop.is_set():
            local_stop.set()

    try:
        run_in_threads(console, todo, report, conntest.run_retest, actor=actor, ticket=ticket,
                       concurrency=concurrency, budgets=budgets, progress=forward, stop=local_stop)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        events.put((_DONE, {
            "tested": report.tested, "key_ids": report.key_ids, "outcomes": report.outcomes,
            "diagnoses": report.diagnoses, "refused": report.refused, "errors": report.errors,
            "interrupted": report.interrupted, "results": [asdict(r) for r in report.results],
        }))


def _worker(settings: Settings, *shard: *Shard) -> None:
    console = Console(settings)
    try:
        _run_shard(console, *shard)
    finally:
        console.close()


def run_in_processes(
    console: Console,
    todo: list[tuple[int, str]],
    report: BulkReport,
    *,
    processes: int,
    actor: Actor,
    ticket: str,
    concurrency: int,
    budgets: dict[str, VenueBudget],
    progress: Progress | None,
    stop: threading.Event,
) -> None:
    """Split `todo` over this process and `processes` - 1 spawned workers; fold their tallies in `report`."""
    context = multiprocessing.get_context("spawn")  # fork would copy the threads' locks mid-use
    events = context.Queue()
    stop_all = context.Event()
    venues = {venue for _, venue in todo}
    whole = {v: budgets.get(v, budgets.get("*", DEFAULT_BUDGET)) for v in venues}
    shares = shard_budgets(whole, processes)
    per_worker = max(1, math.ceil(concurrency / processes))

    def shard(i: int) -> Shard:
        return (todo[i::processes], actor, ticket, per_worker, shares, events, stop_all)

    # This process runs the first shard itself: it has every module loaded already, a new one pays ~1 s.
    own = threading.Thread(target=_run_shard, args=(console, *shard(0)), name="bulk-retest-0", daemon=True)
    workers = [
        context.Process(target=_worker, args=(console.settings, *shard(i)), name=f"bulk-retest-{i}",
                        daemon=True)
        for i in range(1, processes)
    ]
    for worker in workers:
        worker.start()
    own.start()
    outcomes: Counter[str] = Counter(report.outcomes)
    diagnoses: Counter[str] = Counter(report.diagnoses)
    done = finished = 0
    try:
        while finished < processes:
            try:
                kind, *payload = events.get(timeout=1)
            except queue_module.Empty:
                if stop.is_set():
                    stop_all.set()
                if not own.is_alive() and not any(w.is_alive() for w in workers):
                    break  # a worker died without reporting: what it tested is in the database
                continue
            if kind == _PROGRESS:
                done += 1
                if progress is not None:
                    progress(BulkProgress(done, len(todo), *payload))
                continue
            finished += 1
            part = payload[0]
            report.tested += part["tested"]
            report.key_ids.extend(part["key_ids"])
            report.refused.update(part["refused"])
            report.errors.update(part["errors"])
            report.results.extend(KeyOutcome(**r) for r in part["results"])
            outcomes.update(part["outcomes"])
            diagnoses.update(part["diagnoses"])
            if part["interrupted"]:
                stop.set()
    except KeyboardInterrupt:
        stop.set()
        stop_all.set()
    finally:
        own.join(timeout=60)
        for worker in workers:
            worker.join(timeout=60)
        report.outcomes, report.diagnoses = dict(outcomes), dict(diagnoses)
    report.interrupted = stop.is_set() or finished < processes
