"""Bulk re-test from the page: preview the cohort, run it showing the keys in flight, show every key's
result with its link and diagnosis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
import streamlit as st

from nbsupport.auth import Identity
from nbsupport.console import Console
from nbsupport.fleet.bulk.batch import bulk_retest
from nbsupport.fleet.bulk.models import RUNNING, BulkProgress, BulkReport, KeyOutcome
from nbsupport.ui.exports import csv_download
from nbsupport.ui.key_card import venue_name
from nbsupport.ui.links import key_link_column, key_url
from nbsupport.ui.worker import WorkerTimeout, run_with_events

# A page request holds a server thread for the whole batch; bigger cohorts belong to the CLI.
MAX_PAGE_COHORT = 2_000
# Longest quiet spell between two finished tests before the page stops waiting (the batch goes on).
IDLE_TIMEOUT_S = 120
# How often the keys in flight are redrawn with their elapsed time while no test finishes.
TICK_S = 1.0
CLI_HINT = "python -m nbsupport bulk-retest"
OUTCOME_LABELS = {"ok": "green", "warning": "amber", "failed": "red", "refused": "refused", "error": "error"}
_TICK = object()


@dataclass(frozen=True)
class Plan:
    exchange: str | None
    diagnosis: str | None
    since_hours: int
    concurrency: int
    include_non_customer: bool = False


def preview(console: Console, identity: Identity, plan: Plan) -> BulkReport:
    return bulk_retest(console, exchange=plan.exchange, diagnosis=plan.diagnosis,
                       since=timedelta(hours=plan.since_hours), dry_run=True, actor=identity.actor,
                       include_non_customer=plan.include_non_customer)


def in_flight_frame(started: dict[int, tuple[str, float]], now: float) -> pd.DataFrame:
    """Keys whose test is running, the longest-running first: link, venue, elapsed seconds."""
    rows = sorted(started.items(), key=lambda item: item[1][1])
    return pd.DataFrame(
        [{"key": key_url(k), "venue": venue_name(v), "running for": f"{now - t:.0f} s"}
         for k, (v, t) in rows],
        columns=["key", "venue", "running for"],
    )


def run(console: Console, identity: Identity, plan: Plan | None, ticket: str, *,
        batch_id: str | None = None) -> BulkReport:
    bar = st.progress(0.0, text="Starting…")
    flight = st.empty()
    started: dict[int, tuple[str, float]] = {}
    state = {"done": 0, "total": 0, "last": time.monotonic()}

    def draw() -> None:
        now = time.monotonic()
        if now - state["last"] > IDLE_TIMEOUT_S:
            raise WorkerTimeout(f"no key finished for {IDLE_TIMEOUT_S} s")
        if started:
            flight.dataframe(in_flight_frame(started, now), hide_index=True,
                             column_config={"key": key_link_column("key")})
        else:
            flight.empty()

    def show(event: object) -> None:
        if isinstance(event, BulkProgress):
            state["done"], state["total"] = event.done, event.total
            if event.outcome == RUNNING:
                started[event.key_id] = (event.exchange, time.monotonic())
            else:
                started.pop(event.key_id, None)
                state["last"] = time.monotonic()
            slow = ""
            if started:
                key_id, (_, since) = min(started.items(), key=lambda item: item[1][1])
                slow = f" · waiting on key {key_id} for {time.monotonic() - since:.0f} s"
            bar.progress(event.done / max(event.total, 1),
                         text=f"{event.done} of {event.total} keys tested · {len(started)} running{slow}")
        draw()

    def work(report: Callable[[object], None]) -> BulkReport:
        finished = threading.Event()

        def beat() -> None:
            while not finished.wait(TICK_S):
                report(_TICK)

        threading.Thread(target=beat, name="bulk-retest-tick", daemon=True).start()
        try:
            if batch_id:
                return bulk_retest(console, batch_id=batch_id, actor=identity.actor, progress=report)
            assert plan is not None
            return bulk_retest(console, exchange=plan.exchange, diagnosis=plan.diagnosis,
                               since=timedelta(hours=plan.since_hours), concurrency=plan.concurrency,
                               actor=identity.actor, ticket=ticket, progress=report,
                               include_non_customer=plan.include_non_customer)
        finally:
            finished.set()

    report = run_with_events(work, show, idle_timeout_s=IDLE_TIMEOUT_S, name="bulk-retest")
    flight.empty()
    bar.progress(1.0, text=f"Done: {report.tested} tested in {report.duration_s:.1f} s")
    return report


def results_frame(results: Sequence[KeyOutcome], *, links: bool = True) -> pd.DataFrame:
    """Every key the batch tried: red first, then amber, refused and errors, then green."""
    rank = {"failed": 0, "warning": 1, "refused": 2, "error": 3, "ok": 4}
    ordered = sorted(results, key=lambda r: (rank.get(r.outcome, 5), r.key_id))
    return pd.DataFrame(
        [{"key": key_url(r.key_id) if links else r.key_id, "venue": venue_name(r.exchange),
          "result": OUTCOME_LABELS.get(r.outcome, r.outcome), "diagnosis": r.diagnosis,
          "not tested because": r.reason, "seconds": r.seconds} for r in ordered],
        columns=["key", "venue", "result", "diagnosis", "not tested because", "seconds"],
    )


def show_report(console: Console, identity: Identity, report: BulkReport) -> None:
    outcomes = report.outcomes
    cols = st.columns(6)
    cols[0].metric("Cohort", f"{report.cohort:,}")
    cols[1].metric("Green", f"{outcomes.get('ok', 0):,}")
    cols[2].metric("Amber", f"{outcomes.get('warning', 0):,}")
    cols[3].metric("Red", f"{outcomes.get('failed', 0):,}")
    cols[4].metric("Refused", f"{len(report.refused):,}", help="Another test held the key, or its cooldown.")
    cols[5].metric("Errors", f"{len(report.errors):,}")
    st.caption(f"Batch `{report.batch_id}` · {report.already_done} already done before this run · "
               f"{report.duration_s:.1f} s")
    if report.results:
        st.dataframe(results_frame(report.results), hide_index=True, column_config={
            "key": key_link_column("key"),
            "seconds": st.column_config.NumberColumn("seconds", format="%.1f")})
        csv_download(console, identity, "Results (CSV)", results_frame(report.results, links=False),
                     table="bulk_retest_results", file_name=f"{report.batch_id}.csv")
    if report.refused or report.errors or report.interrupted:
        st.warning(f"Some keys were not tested. Resume batch `{report.batch_id}` below (or "
                   f"`{CLI_HINT} --resume {report.batch_id}`) to retry them.")
