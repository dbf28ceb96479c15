"""Charts as plain Vega-Lite specs beside their data frame.

Building a chart with altair costs more than the rest of a page: altair infers every encoding and validates
the whole spec against the Vega-Lite JSON schema on each run (~30 % of the key page's server time, ~15 % of
the stats page's). The console's few charts are fixed shapes, so they are written as the specs altair would
have produced and handed to Streamlit with their frame, which it sends as Arrow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import streamlit as st

# Daily data gets one tick per day, labelled by date (never "06 AM / 12 PM").
DAY_AXIS: dict[str, object] = {"format": "%d %b", "labelAngle": 0, "title": None, "tickCount": "day"}


@dataclass(frozen=True)
class VegaChart:
    data: pd.DataFrame
    spec: Mapping[str, object]


def field(name: str, kind: str, **options: object) -> dict[str, object]:
    """One encoding channel: `kind` is Vega-Lite's type (nominal, quantitative, temporal, ordinal)."""
    return {"field": name, "type": kind, **options}


def draw(chart: VegaChart, *, stretch: bool = False) -> None:
    st.vega_lite_chart(chart.data, dict(chart.spec), width="stretch" if stretch else None)
