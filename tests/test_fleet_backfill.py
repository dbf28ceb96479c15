"""Backfill health: each cause is told apart by its evidence, and idle or healthy keys are never flagged."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session
from test_fleet_data import add_orders, add_run, add_test, at, make_key, make_user

from nbsupport.console import Console
from nbsupport.db.models import ExchangeKey, User
from nbsupport.fleet.backfill.health import BackfillFinding, backfill_health

NOW = at("2026-03-31 12:00")
WINDOW = ("2026-03-10 00:00", "2026-03-20 00:00")
ORDER_DAYS = ["2026-03-12", "2026-03-15", "2026-03-18"]
MISSING = {"query_closed_orders": "missing"}
GRANTED = {"query_closed_orders": "granted"}


def empty_backfills(
    session: Session,
    key: ExchangeKey,
    *,
    error: str = "",
    status: str = "ok",
    window: tuple[str, str] = WINDOW,
    runs: int = 2,
) -> None:
    for i in range(runs):
        add_run(session, key, window, f"2026-03-2{i} 06:00", status=status, error=error)


def trading_key(session: Session, user: User, **options: Any) -> ExchangeKey:
    key = make_key(session, user, created_at=options.pop("created_at", "2026-01-15 00:00"), **options)
    add_orders(session, key, ORDER_DAYS)
    return key


def scan(console: Console, **options: Any) -> dict[int, BackfillFinding]:
    with console.session() as session:
        return {f.key_id: f for f in backfill_health(session, now=NOW, **options)}


@pytest.fixture
def user(console: Console) -> int:
    with console.session() as session:
        return make_user(session).id


def _user(session: Session, user_id: int) -> User:
    found = session.get(User, user_id)
    assert found is not None
    return found


def test_silent_empty_history_with_orders_and_the_scope_seen_missing_is_a_confident_permission_gap(
    console: Console, user: int
) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user), permissions=MISSING)
        empty_backfills(session, key)
        key_id = key.id
    finding = scan(console)[key_id]
    assert (finding.cause, finding.confidence) == ("missing_permission", "high")
    assert finding.evidence["orders_placed"]["in_backfill_windows"] == 15
    assert finding.evidence["rows_fetched"] == {"closed_orders": 0, "trades": 0}
    assert finding.evidence["runs"]["empty"] == 2
    assert finding.evidence["window"]["start"].startswith("2026-03-10")
    assert "Query Closed Orders & Trades" in " ".join(finding.fix["steps"])


def test_scope_not_seen_by_any_test_gives_medium_confidence(console: Console, user: int) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user), permissions={"query_closed_orders": "unknown"})
        empty_backfills(session, key)
        key_id = key.id
    assert scan(console)[key_id].confidence == "medium"


def test_rows_that_stopped_coming_back_with_the_scope_granted_point_at_an_ended_query_window(
    console: Console, user: int
) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user), permissions=GRANTED)
        add_run(
            session, key, ("2026-03-01 00:00", "2026-03-09 00:00"), "2026-03-09 06:00", closed=4, trades=6
        )
        empty_backfills(session, key)
        key_id = key.id
    finding = scan(console)[key_id]
    assert (finding.cause, finding.confidence) == ("query_window_ended", "medium")
    assert finding.evidence["rows_fetched"] == {"closed_orders": 4, "trades": 6}
    assert finding.evidence["rows_until"].startswith("2026-03-09")


def test_rows_that_stopped_with_the_scope_never_seen_keep_the_permission_at_low_confidence(
    console: Console, user: int
) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user))
        add_run(
            session, key, ("2026-03-01 00:00", "2026-03-09 00:00"), "2026-03-09 06:00", closed=4, trades=6
        )
        empty_backfills(session, key)
        key_id = key.id
    assert (scan(console)[key_id].cause, scan(console)[key_id].confidence) == ("missing_permission", "low")


def test_permission_denied_on_a_key_outside_its_ip_whitelist_is_the_whitelist_and_left_to_the_test(
    console: Console, user: int
) -> None:
    with console.session() as session:
        key = make_key(session, _user(session, user), permissions=GRANTED, last_diagnosis="ip_not_allowed")
        empty_backfills(session, key, status="failed", error="EGeneral:Permission denied")
        expired = make_key(session, _user(session, user), last_diagnosis="key_expired")
        empty_backfills(session, expired, status="failed", error="EGeneral:Permission denied:expired")
        ids = key.id, expired.id
    one_user = scan(console, user_id=user)
    assert [(one_user[i].cause, one_user[i].confidence) for i in ids] == [
        ("ip_not_allowed", "high"),
        ("key_expired", "high"),
    ]
    # Fleet-wide, a key broken for every call is the connection test's to report, not a backfill problem.
    assert scan(console) == {}
    assert set(scan(console, key_failures=True)) == set(ids)


def test_spot_key_labelled_for_futures_with_orders_but_no_history_is_a_product_mix_up(
    console: Console, user: int
) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user), permissions=GRANTED)
        key.label = "kraken-futures"
        empty_backfills(session, key)
        key_id = key.id
    finding = scan(console)[key_id]
    assert (finding.cause, finding.confidence) == ("wrong_product", "medium")
    assert finding.evidence["label"] == "kraken-futures"


@pytest.mark.parametrize("status", ["failed", "ok"], ids=["reported", "swallowed-into-empty-result"])
def test_permission_denied_from_kraken_is_flagged_even_without_orders(
    console: Console, user: int, status: str
) -> None:
    with console.session() as session:
        key = make_key(session, _user(session, user))
        empty_backfills(session, key, error="EGeneral:Permission denied", status=status)
        key_id = key.id
    finding = scan(console)[key_id]
    assert (finding.cause, finding.confidence) == ("missing_permission", "high")
    assert finding.evidence["errors"]["permission"] == 2


def test_query_window_end_reported_by_the_key_info_explains_the_empty_history(
    console: Console, user: int
) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user), permissions=GRANTED)
        empty_backfills(session, key)
        ended = str(int(at("2026-02-01 00:00").timestamp()))
        add_test(session, key, "2026-03-25 10:00", detail={"key_info": {"queryFrom": "0", "queryTo": ended}})
        key_id = key.id
    finding = scan(console)[key_id]
    assert (finding.cause, finding.confidence) == ("query_window_ended", "high")
    assert finding.evidence["query_window_end"].startswith("2026-02-01")


def test_query_window_named_in_the_backfill_error(console: Console, user: int) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user))
        empty_backfills(session, key, error="history outside the key's query window (ended 2026-02-01)")
        key_id = key.id
    assert scan(console)[key_id].cause == "query_window_ended"


def test_spot_key_used_for_futures_history_is_a_product_mismatch(console: Console, user: int) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user), exchange="krakenfutures", product="futures")
        empty_backfills(
            session, key, status="failed", error="authenticationError (a Kraken spot key used on futures)"
        )
        stored_wrong = trading_key(session, _user(session, user), exchange="kraken", product="futures")
        empty_backfills(session, stored_wrong)
        ids = key.id, stored_wrong.id
    found = scan(console)
    assert [(found[i].cause, found[i].confidence) for i in ids] == [("wrong_product", "high")] * 2


def test_backfill_window_before_the_key_existed_is_a_wrong_start_time(console: Console, user: int) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user), created_at="2026-03-01 00:00")
        add_run(session, key, ("2025-01-01 00:00", "2025-02-01 00:00"), "2026-03-20 06:00")
        add_orders(session, key, ["2026-03-25"])
        key_id = key.id
    finding = scan(console)[key_id]
    assert (finding.cause, finding.confidence) == ("wrong_start_time", "high")
    assert finding.evidence["runs"]["window_before_key"] == 1
    assert "2026-03-01" in " ".join(finding.fix["steps"])


def test_expired_key_is_told_apart_from_a_missing_permission(console: Console, user: int) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user))
        empty_backfills(session, key, status="failed", error="EGeneral:Permission denied:expired")
        key_id = key.id
    assert scan(console, user_id=user)[key_id].cause == "key_expired"


def test_scope_seen_granted_leaves_the_empty_history_unexplained_at_low_confidence(
    console: Console, user: int
) -> None:
    with console.session() as session:
        key = trading_key(session, _user(session, user), permissions=GRANTED)
        empty_backfills(session, key)
        key_id = key.id
    finding = scan(console)[key_id]
    assert (finding.cause, finding.confidence) == ("empty_unexplained", "low")


def test_idle_healthy_and_transiently_failing_keys_are_not_flagged(console: Console, user: int) -> None:
    with console.session() as session:
        owner = _user(session, user)
        idle = make_key(session, owner)
        empty_backfills(session, idle)  # 0 rows, 0 orders
        idle_gap = make_key(session, owner, permissions=MISSING)
        empty_backfills(session, idle_gap)  # the scope is missing, but there was nothing to fetch
        healthy = trading_key(session, owner, permissions=MISSING)
        add_run(session, healthy, WINDOW, "2026-03-20 06:00", closed=12, trades=20)
        outage = trading_key(session, owner)
        empty_backfills(session, outage, status="failed", error="EService:Unavailable")
        old = trading_key(session, owner, permissions=MISSING)
        add_run(
            session, old, ("2026-01-20 00:00", "2026-01-30 00:00"), "2026-01-30 06:00"
        )  # before the period
        add_orders(session, old, ["2026-01-25"])
    assert scan(console) == {}


def test_user_filter_and_days_limit_the_scan(console: Console, user: int) -> None:
    with console.session() as session:
        mine = trading_key(session, _user(session, user), permissions=MISSING)
        empty_backfills(session, mine)
        other = trading_key(session, make_user(session), permissions=MISSING)
        empty_backfills(session, other)
        ids = mine.id, other.id
    assert set(scan(console)) == set(ids)
    assert set(scan(console, user_id=user)) == {ids[0]}
    assert scan(console, days=5) == {}  # the runs started on 2026-03-20/21


def test_findings_are_listed_most_confident_first_and_serialise(console: Console, user: int) -> None:
    import json

    with console.session() as session:
        owner = _user(session, user)
        low = trading_key(session, owner, permissions=GRANTED)
        empty_backfills(session, low)
        high = trading_key(session, owner, permissions=MISSING)
        empty_backfills(session, high)
        ids = high.id, low.id
    with console.session() as session:
        findings = backfill_health(session, now=NOW)
    assert [f.key_id for f in findings] == list(ids)
    assert json.loads(json.dumps([f.as_dict() for f in findings], default=str))[0]["confidence"] == "high"
