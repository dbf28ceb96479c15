"""Fleet figures for the failure-stats page, built only from FleetStats' aggregated rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

if TYPE_CHECKING:
    from nbsupport.fleet.stats import FleetStats


def venue_options(stats: FleetStats) -> list[str]:
    return sorted({r.name for r in stats.by_venue})


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 60:.0f} min" if value < 1 else f"{value:.1f} h"


def headline(stats: FleetStats) -> None:
    total = stats.total
    cols = st.columns(5)
    cols[0].metric("Tests", f"{total.tests:,}")
    cols[1].metric("Failed", f"{total.failed:,}")
    cols[2].metric("Failure rate", f"{total.rate:.1%}")
    cols[3].metric("Time to green (median)", _hours(stats.time_to_green.median_hours))
    cols[4].metric("Incident spikes", str(len(stats.incidents)))


def time_to_green_frame(stats: FleetStats) -> pd.DataFrame:
    rows = [{"venue": "all", **stats.time_to_green.as_dict()}]
    rows += [{"venue": venue, **ttg.as_dict()} for venue, ttg in stats.time_to_green_by_venue.items()]
    frame = pd.DataFrame(rows, columns=["venue", "episodes", "median_hours", "p90_hours"])
    frame["median"] = frame.pop("median_hours").map(_hours)
    frame["p90"] = frame.pop("p90_hours").map(_hours)
    return frame


def posture(stats: FleetStats) -> None:
    p = stats.posture
    cols = st.columns(6)
    cols[0].metric("Keys in use", f"{p.keys:,}")
    cols[1].metric("Can withdraw", f"{p.can_withdraw:,}", help="Withdraw permission granted: should be 0.")
    cols[2].metric("No IP whitelist", f"{p.no_ip_whitelist:,}")
    cols[3].metric("Rotation overdue", f"{p.rotation_overdue:,}")
    cols[4].metric("Expiring soon", f"{p.expiring_soon:,}")
    cols[5].metric("Expired", f"{p.expired:,}")
    if p.can_withdraw:
        st.error(f"{p.can_withdraw:,} key(s) in use can withdraw funds.", icon=":material/gpp_bad:")


def daily_csv(stats: FleetStats) -> str:
    frame = pd.DataFrame(stats.daily_by_venue, columns=["day", "exchange", "tests", "failed"])
    frame["rate"] = (frame["failed"] / frame["tests"]).round(6) if not frame.empty else []
    return frame.to_csv(index=False)


def diagnoses_csv(stats: FleetStats) -> str:
    frame = pd.DataFrame([d.as_dict() for d in stats.by_diagnosis],
                         columns=["diagnosis", "failed", "share_of_failures", "rate_of_tests"])
    return frame.to_csv(index=False)
