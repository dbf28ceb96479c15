"""The demo generator: deterministic, realistic, really encrypted, safe to run at first start."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, text

from nbsupport import cli, config
from nbsupport.config import Settings
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import DecryptionFailed, MasterKeyring, generate_master_key
from nbsupport.db.models import BackfillRun, ConnectionTest, ExchangeKey, PlacedOrdersDay, User
from nbsupport.demo import (
    DEFAULT_USERS,
    DemoError,
    DemoSpec,
    build_demo,
    bulk,
    ensure_demo_data,
    incident_window,
    practice_email,
)
from nbsupport.demo.profiles import VENUES
from nbsupport.diagnosis import Diagnosis
from nbsupport.fleet.stats.figures import failure_stats
from nbsupport.keys import add_key, fingerprint, open_credentials, third_credential_name
from tests.conftest import ON_POSTGRES, SERVER_URL

AS_OF = date(2026, 11, 1)
SMALL = DemoSpec(users=120, seed=11, as_of=AS_OF)


def _snapshot(console: Console) -> dict[str, list[tuple]]:
    """Everything but ciphertexts (fresh DEKs and nonces each build), without the fixed practice keys."""
    demo_user = ~User.email.endswith("@noonbarbari.local")
    k = ExchangeKey
    with console.session() as s:
        users = s.execute(select(User.id, User.email, User.display_name, User.strategy, User.created_at)
                          .where(demo_user).order_by(User.id)).all()
        keys = s.execute(select(k.id, k.user_id, k.exchange, k.product, k.label, k.fingerprint, k.key_prefix,
                                k.created_at, k.expires_at, k.last_diagnosis, k.ip_whitelist)
                         .join(User, User.id == k.user_id).where(demo_user).order_by(k.id)).all()
        tests = s.execute(select(ConnectionTest.key_id, ConnectionTest.started_at, ConnectionTest.diagnosis,
                                 ConnectionTest.ticket).order_by(ConnectionTest.id)).all()
        runs = s.execute(select(BackfillRun.key_id, BackfillRun.window_start, BackfillRun.closed_orders_rows,
                                BackfillRun.error).order_by(BackfillRun.id)).all()
    return {"users": [tuple(r) for r in users], "keys": [tuple(r) for r in keys],
            "tests": [tuple(r) for r in tests], "runs": [tuple(r) for r in runs]}


def test_same_seed_builds_the_same_rows_and_another_seed_does_not(console: Console) -> None:
    build_demo(console, SMALL)
    first = _snapshot(console)
    build_demo(console, SMALL, reset=True)
    assert _snapshot(console) == first
    build_demo(console, DemoSpec(users=120, seed=12, as_of=AS_OF), reset=True)
    other = _snapshot(console)
    assert {k[5] for k in other["keys"]}.isdisjoint(k[5] for k in first["keys"])
    assert [u[1] for u in other["users"]] != [u[1] for u in first["users"]]


@pytest.fixture(scope="module")
def shared_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Console, MasterKeyring]]:
    """One default-size demo for the tests that only read it (a build per test would triple the time)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    schema = f"t_demo_{uuid.uuid4().hex[:10]}"
    admin = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT") if ON_POSTGRES else None
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{SERVER_URL}{'&' if '?' in SERVER_URL else '?'}options=-csearch_path%3D{schema}"
    master = generate_master_key("v1")
    console = Console(Settings(home=tmp_path_factory.mktemp("home"), database_url=url, master_keys=master))
    console.migrate()
    build_demo(console, DemoSpec(as_of=AS_OF))
    try:
        yield console, MasterKeyring.parse(master)
    finally:
        console.close()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture
def default_demo(shared_demo: tuple[Console, MasterKeyring]) -> Console:
    return shared_demo[0]


@pytest.fixture
def demo_keyring(shared_demo: tuple[Console, MasterKeyring]) -> MasterKeyring:
    return shared_demo[1]


def test_small_build_has_every_venue_diagnosis_trigger_and_outcome(default_demo: Console) -> None:
    with default_demo.session() as s:
        venues = set(s.scalars(select(ExchangeKey.exchange).distinct()))
        diagnoses = set(s.scalars(select(ConnectionTest.diagnosis).distinct()))
        outcomes = set(s.scalars(select(ConnectionTest.outcome).distinct()))
        triggers = set(s.scalars(select(ConnectionTest.trigger).distinct()))
        keys = s.scalar(select(func.count()).select_from(ExchangeKey))
        tests = s.scalar(select(func.count()).select_from(ConnectionTest))
    assert {v.exchange for v in VENUES} <= venues
    assert diagnoses == {d.value for d in Diagnosis}
    assert outcomes == {"ok", "warning", "failed"}
    assert triggers == {"scheduled", "save", "retest", "bulk"}
    assert 10 <= tests / keys <= 16


def test_kraken_outage_is_a_spike_against_its_baseline(default_demo: Console) -> None:
    start, end = incident_window(DemoSpec(as_of=AS_OF))
    with default_demo.session() as s:
        rows = s.execute(select(ConnectionTest.started_at, ConnectionTest.diagnosis)
                         .where(ConnectionTest.exchange == "kraken")).all()
    outage = {"exchange_unavailable", "network_error"}
    per_day = Counter(at.date() for at, diag in rows if diag in outage)
    baseline = sum(n for day, n in per_day.items() if day != start.date()) / 89
    assert per_day[start.date()] >= 10 * max(1.0, baseline)
    during = [diag for at, diag in rows if start <= at < end]
    assert sum(d in outage for d in during) / len(during) > 0.6


def test_generated_credentials_open_and_refuse_to_open_on_another_row(default_demo: Console,
                                                                     demo_keyring: MasterKeyring) -> None:
    keyring = demo_keyring
    with default_demo.session() as s:
        rows = list(s.scalars(select(ExchangeKey).where(~ExchangeKey.label.in_(["expired"]))
                              .order_by(ExchangeKey.id).limit(400)))
        for row in rows[:60] + [r for r in rows if r.has_passphrase][:10]:
            creds = open_credentials(s, keyring, row.id)
            assert fingerprint(creds.api_key) == row.fingerprint
            assert (creds.api_key[:4], creds.api_key[-4:]) == (row.key_prefix, row.key_suffix)
            assert (creds.password is not None) == row.has_passphrase
        a, b = rows[0], next(r for r in rows if r.user_id != rows[0].user_id)
        a.credential_blob = b.credential_blob
        s.flush()
        with pytest.raises(DecryptionFailed):
            open_credentials(s, keyring, a.id)
        s.rollback()


def test_passphrase_venues_are_the_ones_ccxt_asks_a_password_for() -> None:
    for venue in VENUES:
        assert venue.passphrase == (third_credential_name(venue.exchange) == "password"), venue.exchange


def _windows_by_key(console: Console) -> dict[int, tuple[ExchangeKey, list[dict]]]:
    """Per key with backfill runs, its windows in order: rows fetched, status, error, orders placed inside."""
    with console.session() as s:
        keys = {k.id: k for k in s.scalars(select(ExchangeKey))}
        runs = s.scalars(select(BackfillRun).order_by(BackfillRun.key_id, BackfillRun.window_start)).all()
        p = PlacedOrdersDay
        orders = s.execute(select(p.key_id, p.day, p.orders_placed)).all()
    placed: dict[int, list[tuple[date, int]]] = {}
    for key_id, day, n in orders:
        placed.setdefault(key_id, []).append((day, n))
    out: dict[int, tuple[ExchangeKey, list[dict]]] = {}
    for r in runs:
        days = placed.get(r.key_id, [])
        inside = sum(n for day, n in days if r.window_start.date() <= day < r.window_end.date())
        out.setdefault(r.key_id, (keys[r.key_id], []))[1].append(
            {"rows": r.closed_orders_rows + r.trades_rows, "status": r.status, "error": r.error,
             "orders": inside, "orders_ever": sum(n for _, n in days)})
    return out


def test_permission_gap_keys_show_orders_but_empty_backfills_and_idle_keys_show_neither(
        default_demo: Console) -> None:
    closed = "query_closed_orders"
    silent, denied, ended, idle = [], [], [], []
    for key, windows in _windows_by_key(default_demo).values():
        rows = sum(w["rows"] for w in windows)
        orders = sum(w["orders"] for w in windows)
        if rows == 0 and orders > 0 and all(w["status"] == "ok" for w in windows) \
                and key.last_permissions.get(closed) in ("missing", "unknown"):
            silent.append(key)
        if orders > 0 and all(w["error"] == "EGeneral:Permission denied" for w in windows):
            denied.append(key)
        drop = [i for i, w in enumerate(windows)
                if w["rows"] == 0 and w["orders"] > 0 and w["status"] == "ok"]
        if drop and windows[0]["rows"] > 0 and drop == list(range(drop[0], len(windows))):
            ended.append(key)
        if windows[0]["orders_ever"] == 0 and rows == 0:
            idle.append(key)
    assert len(silent) >= 4
    assert all(k.exchange == "kraken" and k.product == "spot" for k in silent)
    assert len(denied) >= 2
    assert [k for k in ended if k.last_permissions.get(closed) == "granted"]
    assert len(idle) >= 3
    # Idle keys must not look like the permission problem: nothing placed, every scope granted.
    assert all(k.last_permissions.get(closed) == "granted" for k in idle if k.last_permissions)


def test_key_summary_matches_its_newest_connection_test(default_demo: Console) -> None:
    with default_demo.session() as s:
        newest = dict(s.execute(select(ConnectionTest.key_id, func.max(ConnectionTest.started_at))
                                .group_by(ConnectionTest.key_id)).all())
        tests = {(t.key_id, t.started_at): t for t in s.scalars(select(ConnectionTest))}
        keys = list(s.scalars(select(ExchangeKey)))
    now = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    for key in keys:
        if key.id not in newest:
            assert key.last_test_at is None
            continue
        latest = tests[(key.id, newest[key.id])]
        assert (key.last_test_at, key.last_outcome, key.last_diagnosis) == (
            latest.started_at, latest.outcome, latest.diagnosis)
        assert latest.started_at < now
    assert any(k.rotated_at and now - k.rotated_at > timedelta(days=90) for k in keys)
    assert any(k.expires_at and now < k.expires_at < now + timedelta(days=14) for k in keys)
    assert any(k.last_permissions.get("withdraw") == "granted" for k in keys)
    assert any(k.ip_whitelist == [] for k in keys)


def test_build_refuses_a_database_with_users_and_reset_refuses_real_users(console: Console, keyring) -> None:
    with console.session() as s:
        add_key(s, keyring, user_email="alice@realmail.com", exchange="kraken",
                credentials=Credentials("k" * 56, "c2VjcmV0"))
    with pytest.raises(DemoError, match="--reset"):
        build_demo(console, SMALL)
    with pytest.raises(DemoError, match="not demo users"):
        build_demo(console, SMALL, reset=True)
    report = build_demo(console, SMALL, reset=True, force=True)
    assert report.users == 120
    with console.session() as s:
        assert s.scalar(select(User.id).where(User.email == "alice@realmail.com")) is None


def test_practice_keys_of_the_sandbox_cast_are_stored_sealed(default_demo: Console,
                                                             demo_keyring: MasterKeyring) -> None:
    keyring = demo_keyring
    cast_module = pytest.importorskip("nbsupport.sandbox.cast")
    members = cast_module.demo_cast()
    with default_demo.session() as s:
        for member in members:
            row = s.scalar(select(ExchangeKey).join(User, User.id == ExchangeKey.user_id)
                           .where(User.email == practice_email(member.name)))
            assert row is not None and row.label == member.name
            assert row.exchange == member.claimed_exchange
            assert open_credentials(s, keyring, row.id).secret == member.secret


def test_ensure_demo_data_builds_once(console: Console) -> None:
    assert ensure_demo_data(console, DemoSpec(users=40)) is True
    with console.session() as s:
        count = s.scalar(select(func.count()).select_from(User))
    assert ensure_demo_data(console, DemoSpec(users=40)) is False
    with console.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == count


def test_ensure_demo_data_started_twice_at_once_builds_once(settings) -> None:
    consoles = [Console(settings), Console(settings)]
    consoles[0].migrate()
    results: list[bool] = []
    errors: list[BaseException] = []

    def start(c: Console) -> None:
        try:
            results.append(ensure_demo_data(c, DemoSpec(users=60)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(c,)) for c in consoles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(results) == [False, True]
    with consoles[0].session() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.email.endswith(".example"))) == 60
    for c in consoles:
        c.close()


def _schema_objects(console: Console) -> set[str]:
    with console.engine.connect() as conn:
        if console.engine.dialect.name == "sqlite":
            return set(conn.execute(text("SELECT type || ':' || name FROM sqlite_master "
                                         "WHERE type IN ('index', 'trigger')")).scalars())
        return set(conn.execute(text(
            "SELECT 'index:' || indexname FROM pg_indexes WHERE schemaname = current_schema() UNION ALL "
            "SELECT 'fk:' || conname FROM pg_constraint WHERE contype = 'f' "
            "AND connamespace = current_schema()::regnamespace UNION ALL "
            "SELECT 'trigger:' || g.tgname || ':' || g.tgenabled::text FROM pg_trigger g "
            "JOIN pg_class t ON t.oid = g.tgrelid "
            "WHERE NOT g.tgisinternal AND t.relnamespace = current_schema()::regnamespace")).scalars())


def test_bulk_mode_restores_indexes_and_a_failed_load_leaves_nothing(console: Console,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    before = _schema_objects(console)
    build_demo(console, SMALL, drop_indexes=True)
    assert _schema_objects(console) == before
    writer = bulk.SqliteWriter if console.engine.dialect.name == "sqlite" else bulk.PostgresWriter
    original = writer.write

    def failing(self, frame):
        if frame.table == "connection_tests":
            raise RuntimeError("disk full")
        return original(self, frame)

    monkeypatch.setattr(writer, "write", failing)
    with pytest.raises(RuntimeError):
        build_demo(console, SMALL, reset=True, drop_indexes=True)
    assert _schema_objects(console) == before
    with console.session() as s:  # the reset rolled back with the load: the first build is intact
        assert s.scalar(select(func.count()).select_from(User).where(User.email.endswith(".example"))) == 120
    if console.engine.dialect.name == "sqlite":
        with console.engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_cli_demo_builds_users_with_a_seed(settings, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("NBSUPPORT_MASTER_KEYS", settings.master_keys)
    config.get_settings.cache_clear()
    assert cli.main(["init-db"]) == 0
    assert cli.main(["demo", "--users", "50", "--seed", "7"]) == 0
    assert "built 50 users" in capsys.readouterr().out
    assert cli.main(["demo", "--users", "50", "--seed", "7"]) == 2
    assert "--reset" in capsys.readouterr().err
    assert cli.main(["demo", "--if-empty"]) == 0
    assert "already has users" in capsys.readouterr().out
    assert cli.main(["demo", "--reset", "--users", "30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["users"] == 30
    assert cli.main(["demo", "--seed", "-1"]) == 2
    assert "--seed" in capsys.readouterr().err
    assert cli.main(["demo", "--reset", "--as-of", "1900-01-01"]) == 2
    assert "--as-of" in capsys.readouterr().err


def test_chunks_built_in_a_worker_process_match_chunks_built_in_process(
        console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbsupport.demo import build as build_module
    from nbsupport.demo import chunk as chunk_module

    # Three chunks of 40 users instead of one of 5,000: the same code paths at test speed.
    monkeypatch.setattr(build_module, "USERS_PER_CHUNK", 40)
    monkeypatch.setattr(chunk_module, "USERS_PER_CHUNK", 40)
    report = build_demo(console, SMALL, workers=1)
    in_worker = _snapshot(console)
    build_demo(console, SMALL, reset=True, workers=0)
    assert _snapshot(console) == in_worker
    assert report.workers == 1 and report.users == 120


def test_default_demo_looks_like_a_fleet_for_the_stats_page(default_demo: Console) -> None:
    now = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    with default_demo.session() as s:
        stats = failure_stats(s, days=30, now=now)
        kinds = dict(s.execute(select(User.kind, func.count()).group_by(User.kind)).all())
        practice_keys = s.scalar(select(func.count()).select_from(ExchangeKey)
                                 .where(ExchangeKey.kind == "practice"))
    # Failures are retried soon by the scheduler: times to green spread out, venue by venue.
    ttg = stats.time_to_green
    assert ttg.median_hours is not None and ttg.p90_hours is not None
    assert ttg.median_hours < 6 < ttg.p90_hours
    assert len({t.median_hours for t in stats.time_to_green_by_venue.values()}) >= 4
    # Enough volume for the incident detector, and the seeded outages are found on their venues.
    kraken_days = [t for d, e, t, _ in stats.daily_by_venue if e == "kraken"]
    assert min(kraken_days) >= 20
    assert {"kraken", "binance"} <= {i.exchange for i in stats.incidents}
    # The practice cast is kept apart from the customers.
    assert kinds.get("practice") == practice_keys > 0 and kinds["customer"] >= DEFAULT_USERS
