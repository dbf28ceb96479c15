"""Failure statistics on a small dataset whose every figure was worked out by hand (see the comments)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from test_fleet_data import add_test, at, make_key, make_user

from nbsupport.console import Console
from nbsupport.fleet.stats import charts
from nbsupport.fleet.stats.figures import failure_stats
from nbsupport.fleet.stats.incidents import IncidentRule
from nbsupport.fleet.stats.rollups import rebuild_rollups

NOW = at("2026-03-31 12:00")  # window of 7 days: 2026-03-25 .. 2026-03-31
RULE = IncidentRule(min_tests=2, min_baseline_days=3)


def build_dataset(session: Session) -> None:
    user = make_user(session)
    k1 = make_key(session, user, created_at="2025-06-01 00:00")  # rotation overdue
    k2 = make_key(session, user, created_at="2026-03-01 00:00", ip_whitelist=[])
    k3 = make_key(
        session,
        user,
        created_at="2025-01-01 00:00",
        rotated_at="2026-02-15 00:00",
        expires_at="2026-04-10 00:00",
    )  # expires in 10 days
    k4 = make_key(
        session,
        user,
        created_at="2026-01-01 00:00",
        ip_whitelist=[],
        expires_at="2026-04-20 00:00",
        permissions={"withdraw": "granted"},
    )  # 89 days old: not yet overdue
    b1 = make_key(
        session, user, exchange="binance", created_at="2025-12-30 00:00", expires_at="2026-03-01 00:00"
    )  # 91 days old: overdue; already expired
    b2 = make_key(session, user, exchange="binance", created_at="2020-01-01 00:00", status="revoked")
    make_key(session, user, exchange="okx", created_at="2026-03-20 00:00", status="paused")  # still counts

    add_test(session, k1, "2026-03-20 10:00", "unknown")  # before the window: episode opened outside it
    for day in ("25", "26", "27"):
        add_test(session, k1, f"2026-03-{day} 10:00")
        add_test(session, k2, f"2026-03-{day} 10:00")
    add_test(session, k3, "2026-03-25 10:00", "missing_permission")
    add_test(session, k3, "2026-03-26 10:00", "missing_permission")
    add_test(session, k3, "2026-03-27 10:00")  # green after 48 h (opened 03-25)
    add_test(session, k4, "2026-03-25 10:00")
    add_test(session, k4, "2026-03-26 10:00", "withdraw_enabled")
    add_test(session, k4, "2026-03-27 10:00", "withdraw_enabled")
    # 03-28: Kraken outage, 3 of its 5 tests exchange_unavailable.
    add_test(session, k1, "2026-03-28 09:00", "exchange_unavailable")
    add_test(session, k2, "2026-03-28 09:00", "exchange_unavailable")
    add_test(session, k3, "2026-03-28 09:00")
    add_test(session, k2, "2026-03-28 11:00", "exchange_unavailable")
    add_test(session, k1, "2026-03-28 15:00")  # green after 6 h
    add_test(session, k2, "2026-03-29 09:00")  # green after 24 h
    add_test(session, k4, "2026-03-29 10:00", "credentials_rejected")  # never green again

    add_test(session, b1, "2026-03-27 12:00")
    add_test(session, b2, "2026-03-27 12:00")
    add_test(session, b1, "2026-03-28 12:00", "network_error")
    add_test(session, b2, "2026-03-28 12:00")
    add_test(session, b1, "2026-03-28 12:30")  # green after 30 min
    add_test(session, b1, "2026-03-30 08:00", "rate_limited")
    add_test(session, b2, "2026-03-30 08:00", "rate_limited")
    add_test(session, b2, "2026-03-30 10:00")  # green after 2 h


@pytest.fixture(params=["incremental", "rebuilt"])
def dataset(request: pytest.FixtureRequest, console: Console) -> Console:
    """The same data counted by the per-test hook, or by a full rebuild: the figures must not differ."""
    with console.session() as session:
        build_dataset(session)
    if request.param == "rebuilt":
        rebuild_rollups(console)
    return console


def test_failure_rates_by_day_venue_and_diagnosis_match_the_hand_count(dataset: Console) -> None:
    with dataset.session() as session:
        stats = failure_stats(session, days=7, now=NOW, incident_rule=RULE)
    assert (stats.total.tests, stats.total.failed, stats.total.warnings) == (27, 9, 2)
    assert stats.total.rate == pytest.approx(1 / 3)
    assert [(r.name, r.tests, r.failed) for r in stats.by_day] == [
        ("2026-03-25", 4, 1),
        ("2026-03-26", 4, 1),
        ("2026-03-27", 6, 0),
        ("2026-03-28", 8, 4),
        ("2026-03-29", 2, 1),
        ("2026-03-30", 3, 2),
    ]
    assert [(r.name, r.tests, r.failed) for r in stats.by_venue] == [("binance", 8, 3), ("kraken", 19, 6)]
    assert [(d.diagnosis, d.failed) for d in stats.top_diagnoses] == [
        ("exchange_unavailable", 3),
        ("missing_permission", 2),
        ("rate_limited", 2),
        ("credentials_rejected", 1),
        ("network_error", 1),
    ]
    assert stats.by_diagnosis[0].share_of_failures == pytest.approx(3 / 9)
    assert stats.by_diagnosis[0].rate_of_tests == pytest.approx(3 / 27)


def test_incident_is_the_venue_day_whose_outage_rate_jumps_over_its_baseline(dataset: Console) -> None:
    with dataset.session() as session:
        stats = failure_stats(session, days=7, now=NOW, incident_rule=RULE)
    # Binance's 03-28 (1 network error in 3) is not judged: only one earlier day to form a baseline.
    assert [(i.exchange, i.day.isoformat(), i.tests, i.failures) for i in stats.incidents] == [
        ("kraken", "2026-03-28", 5, 3)
    ]
    incident = stats.incidents[0]
    assert (incident.rate, incident.baseline_mean, incident.baseline_sd) == (0.6, 0.0, 0.0)


def test_time_to_green_counts_episodes_opened_in_the_window_until_the_next_green_test(
    dataset: Console,
) -> None:
    with dataset.session() as session:
        stats = failure_stats(session, days=7, now=NOW, incident_rule=RULE)
    # Episodes: 0.5 h, 2 h, 6 h, 24 h, 48 h (K1's episode of 03-20 opened before the window).
    assert stats.time_to_green.as_dict() == {"episodes": 5, "median_hours": 6.0, "p90_hours": 48.0}
    assert stats.time_to_green_by_venue["kraken"].as_dict() == {
        "episodes": 3,
        "median_hours": 24.0,
        "p90_hours": 48.0,
    }
    assert stats.time_to_green_by_venue["binance"].as_dict() == {
        "episodes": 2,
        "median_hours": 0.5,
        "p90_hours": 2.0,
    }


def test_security_posture_leaves_revoked_keys_out(dataset: Console) -> None:
    with dataset.session() as session:
        stats = failure_stats(session, days=7, now=NOW, incident_rule=RULE)
    assert stats.posture.as_dict() == {
        "keys": 6,
        "can_withdraw": 1,
        "no_ip_whitelist": 2,
        "rotation_overdue": 2,
        "expiring_soon": 1,
        "expired": 1,
        "shared": 0,
    }


def test_exchange_filter_limits_every_figure_to_that_venue(dataset: Console) -> None:
    with dataset.session() as session:
        stats = failure_stats(session, days=7, now=NOW, exchange="binance", incident_rule=RULE)
    assert (stats.total.tests, stats.total.failed) == (8, 3)
    assert [d.diagnosis for d in stats.by_diagnosis] == ["rate_limited", "network_error"]
    assert stats.incidents == [] and stats.time_to_green.episodes == 2
    assert stats.posture.keys == 1 and stats.posture.expired == 1


def test_shorter_window_drops_older_days(dataset: Console) -> None:
    with dataset.session() as session:
        stats = failure_stats(session, days=2, now=NOW, incident_rule=RULE)
    assert [r.name for r in stats.by_day] == ["2026-03-30"]
    assert stats.time_to_green.as_dict() == {"episodes": 1, "median_hours": 2.0, "p90_hours": 2.0}


def test_default_incident_rule_needs_more_tests_than_a_tiny_day_has(dataset: Console) -> None:
    with dataset.session() as session:
        assert failure_stats(session, days=7, now=NOW).incidents == []


def test_chart_frames_are_built_from_the_aggregated_rows(dataset: Console) -> None:
    with dataset.session() as session:
        stats = failure_stats(session, days=7, now=NOW, incident_rule=RULE)
    daily = charts.daily_by_venue(stats).set_index(["day", "exchange"])
    assert sorted(set(daily.index.get_level_values("exchange"))) == ["binance", "kraken"]
    assert daily.loc[("2026-03-28", "kraken"), "rate"] == pytest.approx(0.6)
    assert charts.busiest_venues(stats) == ["kraken", "binance"]
    assert charts.top_diagnoses(stats)["diagnosis"].tolist()[:1] == ["exchange_unavailable"]
    assert charts.incidents(stats)["exchange"].tolist() == ["kraken"]
    venues = charts.failure_rate_by_venue(stats)
    assert venues["exchange"].tolist()[0] == "kraken" and venues["tests"].tolist()[0] == 19


def test_as_dict_is_json_ready(dataset: Console) -> None:
    import json

    with dataset.session() as session:
        payload = failure_stats(session, days=7, now=NOW, incident_rule=RULE).as_dict()
    assert json.loads(json.dumps(payload))["incidents"][0]["day"] == "2026-03-28"
    assert payload["total"]["rate"] == pytest.approx(1 / 3, abs=1e-6)


def test_days_below_one_is_refused(console: Console) -> None:
    with console.session() as session, pytest.raises(ValueError):
        failure_stats(session, days=0)
