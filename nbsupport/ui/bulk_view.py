"""Bulk re-test from the page: preview the cohort, run it with a progress bar, show the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from nbsupport.auth import Identity
from nbsupport.console import Console
from nbsupport.fleet.bulk import BulkProgress, BulkReport, bulk_retest
from nbsupport.ui.worker import run_with_events

# A page request holds a server thread for the whole batch; bigger cohorts belong to the CLI.
MAX_PAGE_COHORT = 2_000
# Longest quiet spell between two finished tests before the page stops waiting (the batch goes on).
IDLE_TIMEOUT_S = 120
CLI_HINT = "python -m nbsupport bulk-retest"


@dataclass(frozen=True)
class Plan:
    exchange: str | None
    diagnosis: str | None
    since_hours: int
    concurrency: int


def preview(console: Console, identity: Identity, plan: Plan) -> BulkReport:
    return bulk_retest(console, exchange=plan.exchange, diagnosis=plan.diagnosis,
                       since=timedelta(hours=plan.since_hours), dry_run=True, actor=identity.actor)


def run(console: Console, identity: Identity, plan: Plan | None, ticket: str, *,
        batch_id: str | None = None) -> BulkReport:
    bar = st.progress(0.0, text="Starting…")

    def show(event: BulkProgress) -> None:
        bar.progress(event.done / max(event.total, 1), text=f"{event.done} of {event.total} keys tested")

    def work(report: Callable[[Any], None]) -> BulkReport:
        if batch_id:
            return bulk_retest(console, batch_id=batch_id, actor=identity.actor, progress=report)
        assert plan is not None
        return bulk_retest(console, exchange=plan.exchange, diagnosis=plan.diagnosis,
                           since=timedelta(hours=plan.since_hours), concurrency=plan.concurrency,
                           actor=identity.actor, ticket=ticket, progress=report)

    report = run_with_events(work, show, idle_timeout_s=IDLE_TIMEOUT_S, name="bulk-retest")
    bar.progress(1.0, text=f"Done: {report.tested} tested in {report.duration_s:.1f} s")
    return report


def show_report(report: BulkReport) -> None:
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
    if report.diagnoses:
        frame = pd.DataFrame(sorted(report.diagnoses.items(), key=lambda kv: -kv[1]),
                             columns=["diagnosis", "keys"])
        st.dataframe(frame, hide_index=True)
    if report.refused or report.errors or report.interrupted:
        st.warning(f"Some keys were not tested. Resume batch `{report.batch_id}` below (or "
                   f"`{CLI_HINT} --resume {report.batch_id}`) to retry them.")
