"""Small pandas frames for the fleet page's charts, built only from FleetStats' aggregated rows."""

from __future__ import annotations

import pandas as pd

from nbsupport.fleet.stats import FleetStats


def failure_rate_by_day(stats: FleetStats) -> pd.DataFrame:
    """One row per day: tests, failed, rate; indexed by day for st.line_chart."""
    frame = pd.DataFrame(
        [r.as_dict() for r in stats.by_day], columns=["name", "tests", "failed", "warnings", "rate"]
    )
    frame["day"] = pd.to_datetime(frame.pop("name"))
    return frame.set_index("day")


def failure_rate_by_day_and_venue(stats: FleetStats) -> pd.DataFrame:
    """Days as rows, venues as columns, failure rate as values (venues with no test that day: NaN)."""
    frame = pd.DataFrame(stats.daily_by_venue, columns=["day", "exchange", "tests", "failed"])
    frame["rate"] = frame["failed"] / frame["tests"]
    frame["day"] = pd.to_datetime(frame["day"])
    return frame.pivot(index="day", columns="exchange", values="rate")


def failure_rate_by_venue(stats: FleetStats) -> pd.DataFrame:
    frame = pd.DataFrame(
        [r.as_dict() for r in stats.by_venue], columns=["name", "tests", "failed", "warnings", "rate"]
    )
    return frame.rename(columns={"name": "exchange"}).set_index("exchange")


def top_diagnoses(stats: FleetStats) -> pd.DataFrame:
    frame = pd.DataFrame(
        [d.as_dict() for d in stats.top_diagnoses],
        columns=["diagnosis", "failed", "share_of_failures", "rate_of_tests"],
    )
    return frame.set_index("diagnosis")


def incidents(stats: FleetStats) -> pd.DataFrame:
    columns = ["exchange", "day", "tests", "failures", "rate", "baseline_mean", "baseline_sd", "threshold"]
    return pd.DataFrame([i.as_dict() for i in stats.incidents], columns=columns)
