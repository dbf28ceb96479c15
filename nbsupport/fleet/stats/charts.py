"""Small pandas frames for the fleet page's charts and CSVs, built only from FleetStats' aggregated rows."""

from __future__ import annotations

import pandas as pd

from nbsupport.fleet.stats.figures import FleetStats

# Small multiples: one panel per venue, the busiest first; quieter venues are summed in the table only.
TOP_VENUES = 8


def daily_by_venue(stats: FleetStats) -> pd.DataFrame:
    """Long form, one row per (day, venue): tests, failed, rate; venues ordered by their volume."""
    frame = pd.DataFrame(stats.daily_by_venue, columns=["day", "exchange", "tests", "failed"])
    frame["rate"] = (frame["failed"] / frame["tests"]).fillna(0.0) if not frame.empty else []
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def busiest_venues(stats: FleetStats, limit: int = TOP_VENUES) -> list[str]:
    ranked = sorted(stats.by_venue, key=lambda r: (-r.tests, r.name))
    return [r.name for r in ranked[:limit]]


def failure_rate_by_venue(stats: FleetStats) -> pd.DataFrame:
    frame = pd.DataFrame(
        [r.as_dict() for r in stats.by_venue], columns=["name", "tests", "failed", "warnings", "rate"]
    )
    frame = frame.rename(columns={"name": "exchange"})
    return frame.sort_values(["tests", "exchange"], ascending=[False, True], ignore_index=True)


def top_diagnoses(stats: FleetStats) -> pd.DataFrame:
    return pd.DataFrame(
        [d.as_dict() for d in stats.top_diagnoses],
        columns=["diagnosis", "failed", "share_of_failures", "rate_of_tests"],
    )


def all_diagnoses(stats: FleetStats) -> pd.DataFrame:
    return pd.DataFrame(
        [d.as_dict() for d in stats.by_diagnosis],
        columns=["diagnosis", "failed", "share_of_failures", "rate_of_tests"],
    )


def incidents(stats: FleetStats) -> pd.DataFrame:
    columns = ["exchange", "day", "tests", "failures", "rate", "baseline_mean", "baseline_sd", "threshold"]
    return pd.DataFrame([i.as_dict() for i in stats.incidents], columns=columns)
