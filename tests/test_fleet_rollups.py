"""The rollups kept incrementally (per-test hook, exchange_keys triggers) equal a full recomputation."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text
from test_fleet_data import add_test, at, make_key, make_user, table_rows

from nbsupport.console import Console
from nbsupport.db.models import ExchangeKey
from nbsupport.db.rollup_models import DailyTestRollup, KeyPostureRollup, RecoveryRollupDaily
from nbsupport.fleet.stats.rollups import REBUILT_TABLES, duration_bucket, rebuild_rollups

DIAGNOSES = [
    "ok",
    "ok",
    "ok",
    "withdraw_enabled",
    "network_error",
    "exchange_unavailable",
    "missing_permission",
    "credentials_rejected",
]


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_test_rollups_equal_a_rebuild_from_raw_rows(console: Console, seed: int) -> None:
    rng = random.Random(seed)
    with console.session() as session:
        user = make_user(session)
        keys = [make_key(session, user, exchange=rng.choice(["kraken", "binance", "okx"])) for _ in range(12)]
        moment = at("2026-03-01 00:00")
        # Tests arrive in time order, some keys flapping, some failing for days, across UTC midnights.
        for _ in range(240):
            moment += timedelta(minutes=rng.choice([1, 7, 45, 130, 600]), seconds=rng.randint(0, 59))
            add_test(session, rng.choice(keys), moment, rng.choice(DIAGNOSES))
    with console.session() as session:
        incremental = {m: table_rows(session, m) for m in (DailyTestRollup, RecoveryRollupDaily)}
    assert sum(row[-1] for row in incremental[DailyTestRollup]) == 240
    assert incremental[RecoveryRollupDaily], "the random walk should close some failure episodes"
    rebuild_rollups(console)
    with console.session() as session:
        assert {m: table_rows(session, m) for m in incremental} == incremental


def test_posture_triggers_follow_inserts_updates_and_deletes_like_a_rebuild(console: Console) -> None:
    rng = random.Random(7)
    with console.session() as session:
        user = make_user(session)
        for i in range(30):
            make_key(
                session,
                user,
                exchange=rng.choice(["kraken", "okx"]),
                created_at=f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 10:00",
                expires_at=rng.choice([None, "2026-04-02 00:00", "2026-05-01 00:00"]),
                permissions={"withdraw": rng.choice(["granted", "missing"])},
                ip_whitelist=rng.choice([[], ["51.38.112.198/32"]]),
                status="active" if i % 5 else "revoked",
            )
    with console.session() as session:
        keys = list(session.scalars(select(ExchangeKey)))
        for key in keys[:10]:
            key.ip_whitelist = [] if key.ip_whitelist else ["51.38.112.198/32"]
        for key in keys[10:15]:
            key.last_permissions = {"withdraw": "granted", "query_closed_orders": "missing"}
            key.rotated_at = at("2026-03-30 08:00")
        for key in keys[15:18]:
            key.status = "revoked" if key.status == "active" else "active"
            key.expires_at = None
        for key in keys[18:20]:
            key.last_test_at, key.last_outcome = at("2026-03-30 09:00"), "ok"  # not a posture column
        session.flush()
        session.execute(delete(ExchangeKey).where(ExchangeKey.id.in_([k.id for k in keys[20:24]])))
    with console.session() as session:
        kept = table_rows(session, KeyPostureRollup)
    rebuild_rollups(console)
    with console.session() as session:
        assert table_rows(session, KeyPostureRollup) == kept
        active = session.scalar(select(ExchangeKey.id).where(ExchangeKey.status == "active").limit(1))
        assert active is not None
        assert sum(row[-1] for row in kept if row[2] == "rotation") == len(
            list(session.scalars(select(ExchangeKey.id).where(ExchangeKey.status == "active")))
        )


def test_a_key_that_never_fails_opens_no_episode(console: Console) -> None:
    with console.session() as session:
        key = make_key(session, make_user(session))
        for hour in range(5):
            add_test(session, key, f"2026-03-01 0{hour}:00", "withdraw_enabled" if hour % 2 else "ok")
        assert table_rows(session, RecoveryRollupDaily) == []


def test_episode_is_dated_by_its_first_failure_and_closed_by_a_warning_too(console: Console) -> None:
    with console.session() as session:
        key = make_key(session, make_user(session))
        add_test(session, key, "2026-03-01 23:30", "network_error")
        add_test(session, key, "2026-03-02 00:10", "exchange_unavailable")
        add_test(session, key, "2026-03-02 01:30", "withdraw_enabled")
        rows = table_rows(session, RecoveryRollupDaily)
    assert [(str(day), exchange, kind, minutes, n) for day, exchange, kind, minutes, n in rows] == [
        ("2026-03-01", "kraken", "customer", 120, 1)
    ]


@pytest.mark.parametrize("failures", [1, 31, 32, 33, 70])
def test_a_long_episode_is_dated_by_its_first_failure_however_many_tests_it_spans(
    console: Console, failures: int
) -> None:
    with console.session() as session:
        key = make_key(session, make_user(session))
        add_test(session, key, "2026-02-28 12:00", "ok")
        for i in range(failures):
            add_test(session, key, f"2026-03-01 {i // 60:02d}:{i % 60:02d}", "exchange_unavailable")
        add_test(session, key, "2026-03-02 00:00", "ok")
        rows = table_rows(session, RecoveryRollupDaily)
    assert [(str(day), minutes, n) for day, _, _, minutes, n in rows] == [("2026-03-01", 1440, 1)]


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [
        (0, 0),
        (59.6, 1),
        (7199.9999, 120),
        (59 * 60, 59),
        (61 * 60, 60),
        (127 * 60, 125),
        (601 * 60, 600),
        (659 * 60, 630),
        (100 * 3600 + 1, 6000),
        (107 * 3600, 6360),
        (-5, 0),
    ],
)
def test_duration_bucket_resolution(seconds: float, minutes: int) -> None:
    assert duration_bucket(seconds) == minutes


def test_notable_backfill_runs_follow_runs_and_orders_in_any_order_like_a_rebuild(console: Console) -> None:
    from test_fleet_data import add_orders, add_run

    from nbsupport.db.models import BackfillRun, PlacedOrdersDay
    from nbsupport.db.rollup_models import BackfillNotableRun

    week = ("2026-03-02 00:00", "2026-03-09 00:00")
    with console.session() as session:
        user = make_user(session)
        runs_first = make_key(session, user, created_at="2026-01-01 00:00")
        add_run(session, runs_first, week, "2026-03-09 02:00")
        add_orders(session, runs_first, ["2026-03-04"])  # orders arrive after the empty run
        orders_first = make_key(session, user, created_at="2026-01-01 00:00")
        add_orders(session, orders_first, ["2026-03-05", "2026-03-09"])  # 03-09 is outside the window
        add_run(session, orders_first, week, "2026-03-09 02:00")
        quiet = make_key(session, user, created_at="2026-01-01 00:00")
        add_run(session, quiet, week, "2026-03-09 02:00")
        add_orders(session, quiet, ["2026-03-10"])  # the next week: not inside the window
        early = make_key(session, user, created_at="2026-03-01 00:00")
        add_run(session, early, ("2025-01-01 00:00", "2025-01-08 00:00"), "2026-03-09 02:00")
        fetched = make_key(session, user, created_at="2026-01-01 00:00")
        add_orders(session, fetched, ["2026-03-03"])
        fixed = add_run(session, fetched, week, "2026-03-09 02:00")
        fixed.closed_orders_rows, fixed.trades_rows = 5, 5  # the worker reports its rows afterwards
        session.flush()
        gone = make_key(session, user, created_at="2026-01-01 00:00")
        add_run(session, gone, week, "2026-03-09 02:00")
        add_orders(session, gone, ["2026-03-03"])
        session.execute(delete(PlacedOrdersDay).where(PlacedOrdersDay.key_id == gone.id))
        removed = make_key(session, user, created_at="2026-01-01 00:00")
        add_orders(session, removed, ["2026-03-03"])
        add_run(session, removed, week, "2026-03-09 02:00")
        session.execute(delete(BackfillRun).where(BackfillRun.key_id == removed.id))
        expected = {runs_first.id: (5, False), orders_first.id: (5, False), early.id: (0, True)}
    with console.session() as session:
        kept = table_rows(session, BackfillNotableRun, skip_zero=False)
        assert {row[1]: (row[5], bool(row[6])) for row in kept} == expected
    rebuild_rollups(console)
    with console.session() as session:
        assert table_rows(session, BackfillNotableRun, skip_zero=False) == kept


def test_a_rebuild_leaves_planner_statistics_for_every_table_it_replaced(console: Console) -> None:
    # The shared-key count joins the fingerprint counts back to the keys; with no statistics on the rebuilt
    # table PostgreSQL planned a hash join over every key.
    with console.session() as session:
        user = make_user(session)
        make_key(session, user)
        make_key(session, user)
    rebuild_rollups(console)
    with console.session() as session:
        expected = set(REBUILT_TABLES)
        if session.get_bind().dialect.name == "sqlite":
            # SQLite writes no statistics row for an empty table.
            expected = {t for t in REBUILT_TABLES if session.scalar(text(f"SELECT count(*) FROM {t}"))}
            analysed = set(session.scalars(text("SELECT DISTINCT tbl FROM sqlite_stat1")))
        else:
            analysed = set(session.scalars(text(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL "
                "AND schemaname = current_schema()")))
    assert "key_fingerprint_counts" in expected and expected <= analysed
