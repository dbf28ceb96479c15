"""The console's charts are hand-written Vega-Lite specs: each must be valid against the Vega-Lite schema
altair ships (the check altair ran on every page view, now run once here) and keep its readable shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pandas as pd
import pytest
from altair.vegalite.v6.schema import load_schema
from test_fleet_stats import NOW, RULE, build_dataset

from nbsupport.console import Console
from nbsupport.fleet.stats.figures import failure_stats
from nbsupport.ui import stats_view
from nbsupport.ui.timeline import OUTCOMES, history_chart
from nbsupport.ui.vega import VegaChart


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = load_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def valid(chart: VegaChart, validator: Any) -> dict[str, Any]:
    # Streamlit sends the frame beside the spec and names it as the spec's data.
    errors = [e.message for e in validator.iter_errors({**chart.spec, "data": {"name": "frame"}})]
    assert errors == []
    return chart.spec


@pytest.fixture
def stats(console: Console) -> Any:
    with console.session() as session:
        build_dataset(session)
    with console.session() as session:
        return failure_stats(session, days=7, now=NOW, incident_rule=RULE)


def test_rate_chart_is_one_daily_panel_per_busy_venue_with_its_volume(stats: Any, validator: Any) -> None:
    chart = stats_view.rate_small_multiples(stats)
    spec = valid(chart, validator)
    assert spec["facet"]["field"] == "venue" and spec["columns"] == 3
    assert spec["facet"]["sort"][0] == "Kraken · 19 tests"
    x = spec["spec"]["encoding"]["x"]
    assert (x["timeUnit"], x["axis"]["format"], x["axis"]["tickCount"]) == ("yearmonthdate", "%d %b", "day")
    assert spec["spec"]["encoding"]["y"]["axis"]["format"] == "%"
    assert set(chart.data["venue"]) == set(spec["facet"]["sort"])
    assert all(label.endswith(" tests") for label in chart.data["venue"])


def test_top_causes_chart_keeps_whole_labels(stats: Any, validator: Any) -> None:
    chart = stats_view.top_causes_chart(stats)
    spec = valid(chart, validator)
    assert spec["encoding"]["y"]["axis"]["labelLimit"] == 0
    assert chart.data["diagnosis"].tolist()[0] == "exchange_unavailable"


def test_history_chart_shows_every_outcome_row_in_utc(validator: Any) -> None:
    frame = pd.DataFrame({"started": ["2026-12-03 18:45 UTC"], "outcome": ["ok"], "diagnosis": ["ok"],
                          "trigger": ["support"], "ticket": ["ZD-1"], "duration ms": [120]})
    chart = history_chart(frame)
    spec = valid(chart, validator)
    assert spec["encoding"]["y"]["scale"]["domain"] == OUTCOMES
    assert spec["encoding"]["x"]["scale"] == {"type": "utc"}
    assert chart.data["moment"].iloc[0] == datetime(2026, 12, 3, 18, 45, tzinfo=UTC)
