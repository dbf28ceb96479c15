"""Fleet figures for the failure-stats page, built only from FleetStats' aggregated rows: formatted
numbers, full labels, daily axes, incidents in words and a CSV beside every table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from nbsupport.console import Console
from nbsupport.fleet.stats import charts
from nbsupport.fleet.stats.figures import FleetStats, failure_stats
from nbsupport.ui.key_card import venue_name
from nbsupport.ui.vega import DAY_AXIS, VegaChart, field

if TYPE_CHECKING:
    from nbsupport.fleet.stats.incidents import Incident

def fleet_stats(console: Console, *, days: int, exchange: str | None = None,
                include_non_customer: bool = False) -> FleetStats:
    with console.session() as session:
        return failure_stats(session, days=days, exchange=exchange, include_non_customer=include_non_customer)


def venue_options(stats: FleetStats) -> list[str]:
    return sorted({r.name for r in stats.by_venue})


def percent(rate: float) -> str:
    """`17%`, `2.4%`, `0.3%`: one decimal below 10 %, whole numbers above."""
    return f"{rate:.1%}" if rate < 0.1 else f"{rate:.0%}"


def hours(value: float | None) -> str:
    """A duration given in hours as a person reads it: `45 min`, `5.5 h`, `3.2 days`."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 60:.0f} min"
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} days"


def incident_sentence(incident: Incident) -> str:
    """`Kraken, 3 Dec: 17% failed vs 2.0% usual, 23 tests`."""
    day = f"{incident.day.day} {incident.day:%b}"
    return (f"{venue_name(incident.exchange)}, {day}: {percent(incident.rate)} failed vs "
            f"{percent(incident.baseline_mean)} usual, {incident.tests:,} tests")


def kind_caption(stats: FleetStats) -> str:
    return ("Customers', practice and internal keys." if stats.include_non_customer
            else "Customers' keys only: practice and internal keys are left out.")


def headline(stats: FleetStats) -> None:
    total = stats.total
    cols = st.columns(5)
    cols[0].metric("Tests", f"{total.tests:,}")
    cols[1].metric("Failed", f"{total.failed:,}")
    cols[2].metric("Failure rate", f"{total.rate:.1%}")
    cols[3].metric("Time to green (median)", hours(stats.time_to_green.median_hours))
    cols[4].metric("Incident spikes", str(len(stats.incidents)))


def rate_small_multiples(stats: FleetStats) -> VegaChart:
    """One small panel per busy venue on the same percent scale, its volume in the panel title."""
    frame = charts.daily_by_venue(stats)
    volume = {r.name: r.tests for r in stats.by_venue}
    top = charts.busiest_venues(stats)
    frame = frame[frame["exchange"].isin(top)].copy()
    frame["venue"] = [f"{venue_name(e)} · {volume[e]:,} tests" for e in frame["exchange"]]
    order = [f"{venue_name(e)} · {volume[e]:,} tests" for e in top]
    day = {"timeUnit": "yearmonthdate"}
    spec = {
        "facet": field("venue", "nominal", sort=order, title=None,
                       header={"labelLimit": 0, "labelFontWeight": "bold"}),
        "columns": 3,
        "spec": {
            "mark": {"type": "line", "point": True},
            "width": 220,
            "height": 110,
            "encoding": {
                "x": field("day", "temporal", **day, axis=DAY_AXIS),
                "y": field("rate", "quantitative", title="failed", axis={"format": "%", "tickCount": 3}),
                "tooltip": [field("day", "temporal", **day, title="day", format="%d %b %Y"),
                            field("rate", "quantitative", title="failed", format=".1%"),
                            field("tests", "quantitative", format=","),
                            field("failed", "quantitative", format=",")],
            },
        },
    }
    return VegaChart(frame, spec)


def top_causes_chart(stats: FleetStats) -> VegaChart:
    spec = {
        "mark": "bar",
        "encoding": {
            "x": field("failed", "quantitative", title="failed tests"),
            "y": field("diagnosis", "nominal", sort="-x", title=None, axis={"labelLimit": 0}),
            "tooltip": [field("diagnosis", "nominal"), field("failed", "quantitative", format=","),
                        field("share_of_failures", "quantitative", format=".1%", title="share of failures")],
        },
    }
    return VegaChart(charts.top_diagnoses(stats), spec)


def venue_table(stats: FleetStats) -> pd.DataFrame:
    frame = charts.failure_rate_by_venue(stats)
    frame.insert(0, "venue", frame.pop("exchange").map(venue_name))
    frame["rate"] = frame["rate"].map(percent)
    return frame.rename(columns={"rate": "failure rate"})


def incidents_table(stats: FleetStats) -> pd.DataFrame:
    return pd.DataFrame(
        [{"incident": incident_sentence(i), "venue": venue_name(i.exchange), "day": i.day.isoformat(),
          "tests": i.tests, "failed": i.failures, "failure rate": percent(i.rate),
          "usual rate": percent(i.baseline_mean), "alert above": percent(i.threshold)}
         for i in stats.incidents],
        columns=["incident", "venue", "day", "tests", "failed", "failure rate", "usual rate", "alert above"],
    )


def time_to_green_frame(stats: FleetStats) -> pd.DataFrame:
    rows = [{"venue": "all venues", **stats.time_to_green.as_dict()}]
    rows += [{"venue": venue_name(v), **ttg.as_dict()} for v, ttg in stats.time_to_green_by_venue.items()]
    frame = pd.DataFrame(rows, columns=["venue", "episodes", "median_hours", "p90_hours"])
    frame["median"] = frame.pop("median_hours").map(hours)
    frame["p90"] = frame.pop("p90_hours").map(hours)
    return frame


def posture(stats: FleetStats) -> None:
    p = stats.posture
    cols = st.columns(7)
    cols[0].metric("Keys in use", f"{p.keys:,}")
    cols[1].metric("Can withdraw", f"{p.can_withdraw:,}", help="Withdraw permission granted: should be 0.")
    cols[2].metric("No IP whitelist", f"{p.no_ip_whitelist:,}")
    cols[3].metric("Rotation overdue", f"{p.rotation_overdue:,}")
    cols[4].metric("Expiring soon", f"{p.expiring_soon:,}")
    cols[5].metric("Expired", f"{p.expired:,}")
    cols[6].metric("Shared", f"{p.shared:,}",
                   help="Keys whose API key is also stored elsewhere (another user, or twice): two systems "
                        "signing with one key clash on nonces.")
    if p.can_withdraw:
        st.error(f"{p.can_withdraw:,} key(s) in use can withdraw funds.", icon=":material/gpp_bad:")


def daily_frame(stats: FleetStats) -> pd.DataFrame:
    frame = charts.daily_by_venue(stats)
    frame["day"] = frame["day"].dt.strftime("%Y-%m-%d")
    frame["rate"] = frame["rate"].round(6)
    return frame


def daily_csv(stats: FleetStats) -> str:
    return daily_frame(stats).to_csv(index=False)


def causes_frame(stats: FleetStats) -> pd.DataFrame:
    return charts.all_diagnoses(stats)


def diagnoses_csv(stats: FleetStats) -> str:
    return causes_frame(stats).to_csv(index=False)
