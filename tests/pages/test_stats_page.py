"""Failure stats page: fleet aggregates with charts, filters and CSV, never an individual user's key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from nbsupport.console import Console
from nbsupport.fleet.kinds import INCLUDE_LABEL
from nbsupport.fleet.stats.figures import failure_stats
from nbsupport.fleet.stats.incidents import Incident
from nbsupport.ui import stats_view
from tests.pages.support import API_KEY, Seeded, messages, open_app, rendered
from tests.test_fleet_data import add_test, make_key, make_user

STATS = "pages/failure_stats.py"


def stats_page(role: str, sign_in: Callable[[str], str]) -> AppTest:
    sign_in(role)
    at = open_app(STATS)
    assert not at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_fleet_figures_charts_and_downloads(sign_in: Callable[[str], str], role: str) -> None:
    at = stats_page(role, sign_in)
    assert (metric(at, "Tests"), metric(at, "Failed"), metric(at, "Failure rate")) == ("3", "1", "33.3%")
    assert metric(at, "Can withdraw") == "1" and metric(at, "Keys in use") == "3"
    assert "1 key(s) in use can withdraw funds." in messages(at)
    assert len(at.get("vega_lite_chart")) == 2  # rate per venue by day (small multiples), top causes
    assert [b.label for b in at.download_button] == [
        "Daily rates by venue (CSV)", "Venues (CSV)", "Time to green (CSV)", "Causes (CSV)"]


@pytest.mark.usefixtures("seeded")
def test_analysts_see_no_individual_user_or_key(sign_in: Callable[[str], str], seeded: Seeded) -> None:
    text = rendered(stats_page("analyst", sign_in))
    for private in ("ann@example.com", "bob@example.com", "main bot", API_KEY[:4] + "…", "Kx9f"):
        assert private not in text
    assert "key id" not in text and "user id" not in text


@pytest.mark.usefixtures("seeded")
def test_venue_filter_narrows_every_figure(sign_in: Callable[[str], str]) -> None:
    at = stats_page("analyst", sign_in)
    venue = next(s for s in at.selectbox if s.label == "Venue")
    assert venue.options == ["all venues", "Kraken"]
    venue.set_value("kraken").run()
    assert not at.exception
    assert "· Kraken ·" in rendered(at) and metric(at, "Tests") == "3"


@pytest.mark.usefixtures("seeded")
def test_practice_keys_are_left_out_until_the_toggle_includes_them(
    sign_in: Callable[[str], str], console: Console
) -> None:
    with console.session() as s:
        practice = make_user(s, "practice+ip-blocked@noonbarbari.local")
        key = make_key(s, practice)
        for minute in range(5):
            add_test(s, key, datetime.now(UTC) - timedelta(minutes=minute), "ip_not_allowed")
    at = stats_page("analyst", sign_in)
    assert (metric(at, "Tests"), metric(at, "Failed"), metric(at, "Keys in use")) == ("3", "1", "3")
    assert "practice and internal keys are left out" in rendered(at)
    next(t for t in at.toggle if t.label == INCLUDE_LABEL).set_value(True).run()
    assert (metric(at, "Tests"), metric(at, "Failed"), metric(at, "Keys in use")) == ("8", "6", "4")


def test_incidents_read_as_sentences_and_durations_as_people_say_them() -> None:
    spike = Incident("kraken", date(2026, 12, 3), 23, 4, 0.1739, 0.02, 0.01, 0.05)
    assert stats_view.incident_sentence(spike) == "Kraken, 3 Dec: 17% failed vs 2.0% usual, 23 tests"
    assert [stats_view.hours(h) for h in (None, 0.25, 5.5, 142.0)] == ["—", "15 min", "5.5 h", "5.9 days"]


def test_empty_fleet_says_there_is_nothing_yet(sign_in: Callable[[str], str]) -> None:
    at = stats_page("analyst", sign_in)
    assert "No connection tests in this window." in messages(at)
    assert metric(at, "Tests") == "0" and metric(at, "Time to green (median)") == "—"


def test_csv_exports_hold_the_aggregates(console: object, seeded: Seeded) -> None:
    with console.session() as s:  # type: ignore[attr-defined]
        stats = failure_stats(s, days=30)
    daily = stats_view.daily_csv(stats).splitlines()
    assert daily[0] == "day,exchange,tests,failed,rate"
    assert sum(int(line.split(",")[2]) for line in daily[1:]) == 3
    causes = stats_view.diagnoses_csv(stats).splitlines()
    assert causes[0] == "diagnosis,failed,share_of_failures,rate_of_tests"
    assert causes[1].startswith("missing_permission,1,1.0")
