"""Fault injection: the venue fails in every way the sandbox can (dropped connections, answers past the
timeout, truncated JSON, HTML error pages, 429s, empty bodies, garbage...) at every step of the probe
plan, and the database is locked or unreachable in the middle of a re-test.

The console must give the fault's diagnosis (or, for the database, a clear one-line `DatabaseUnavailable`),
show no traceback, and record nothing half-written: a test that ran is recorded whole (one test row, one
audit event, the key's last_* fields equal to its newest test), a test that could not be recorded leaves no
trace at all.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text

from nbsupport.conntest import ConnectionOutcome, ProgressEvent, run_retest
from nbsupport.console import Console
from nbsupport.crypto import MasterKeyring
from nbsupport.db.engine import DatabaseUnavailable, make_engine
from nbsupport.sandbox import Fault, SandboxServer
from tests.prove.conftest import AGENT
from tests.prove.support import (
    REPO_ROOT,
    UseEnv,
    app_env,
    cli_in_process,
    fresh_key,
    inconsistencies,
    key_credentials,
    key_record,
    row_counts,
    settings_env,
    store,
)
from tests.prove.tally import Recorder

# What each fault must be diagnosed as, wherever in the plan it strikes.
FAULT_DIAGNOSIS: dict[Fault, str] = {
    Fault.DROP_CONNECTION: "network_error",
    Fault.TIMEOUT: "network_error",
    Fault.TRUNCATED_JSON: "unknown",
    Fault.EMPTY_BODY: "unknown",
    Fault.GARBAGE: "unknown",
    Fault.HTML_502: "exchange_unavailable",
    Fault.SERVICE_UNAVAILABLE: "exchange_unavailable",
    Fault.BUSY: "exchange_unavailable",
    Fault.HTTP_429: "rate_limited",
    Fault.RATE_LIMITED: "rate_limited",
    Fault.LOCKOUT: "rate_limited",
    Fault.REGION_BLOCKED: "region_blocked",
}
# The words a support agent needs in the recorded exchange error, per fault.
FAULT_EVIDENCE: dict[Fault, str] = {
    Fault.DROP_CONNECTION: "connection",
    Fault.TIMEOUT: "timeout",
    Fault.TRUNCATED_JSON: "unparseable",
    Fault.EMPTY_BODY: "unparseable",
    Fault.GARBAGE: "unparseable",
    Fault.HTML_502: "502",
    Fault.SERVICE_UNAVAILABLE: "navailable",
    Fault.BUSY: "",
    Fault.HTTP_429: "429",
    Fault.RATE_LIMITED: "imit",
    Fault.LOCKOUT: "",
    Fault.REGION_BLOCKED: "451",
}


def _assert_recorded_whole(
    console: Console, key_id: int, before: dict[str, int], result: ConnectionOutcome, tally: Recorder
) -> None:
    after = row_counts(console)
    expected = {
        **before,
        "connection_tests": before["connection_tests"] + 1,
        "audit_events": before["audit_events"] + 1,
    }
    wrong = sum(after[t] != n for t, n in expected.items())
    record = key_record(console, key_id)
    wrong += inconsistencies(record)
    wrong += int(record.newest is None or record.newest[2] != result.diagnosis)
    assert not tally.lost(wrong), (before, after, record)


def _assert_nothing_recorded(
    console: Console,
    key_id: int,
    before: dict[str, int],
    record_before: Any,
    tally: Recorder,
    *,
    stale_lease_allowed: bool = False,
) -> None:
    after = row_counts(console)
    if stale_lease_allowed:
        after["retest_leases"] = before["retest_leases"]
    wrong = sum(after[t] != n for t, n in before.items())
    wrong += int(key_record(console, key_id) != record_before) + inconsistencies(key_record(console, key_id))
    assert not tally.lost(wrong), (before, after)


# --- the venue fails --------------------------------------------------------------------------------------


@pytest.mark.parametrize("product", ["spot", "futures"])
@pytest.mark.parametrize("fault", list(FAULT_DIAGNOSIS), ids=[f.value for f in FAULT_DIAGNOSIS])
def test_a_key_whose_venue_fails_gets_the_faults_diagnosis_and_one_whole_record(
    venue_console: Console,
    keyring: MasterKeyring,
    sandbox: SandboxServer,
    fault: Fault,
    product: str,
    use_env: UseEnv,
    tally: Recorder,
) -> None:
    key = fresh_key(sandbox, f"fault-{fault.value}", product=product, fault=fault)
    exchange = "kraken" if product == "spot" else "krakenfutures"
    key_id = store(
        venue_console, keyring, key_credentials(key), email=f"{fault.value}@example.com", exchange=exchange
    )
    before = row_counts(venue_console)
    tally.scenario()
    tally.fault()
    result = run_retest(venue_console, key_id, actor=AGENT, ticket="ZD-FAULT")
    assert result.diagnosis == FAULT_DIAGNOSIS[fault]
    assert result.outcome == "failed"
    assert FAULT_EVIDENCE[fault] in result.exchange_error and "\n" not in result.exchange_error
    _assert_recorded_whole(venue_console, key_id, before, result, tally)

    # The same fault through the `retest` command: the diagnosis, one line per fact, no traceback.
    use_env(settings_env(venue_console.settings))
    tally.scenario()
    tally.fault()
    done = cli_in_process(["retest", str(key_id)])
    assert not tally.shown(done.stdout, done.stderr)
    assert done.code == 1 and f"diagnosis={FAULT_DIAGNOSIS[fault]}" in done.stdout


# Where a fault can strike: the plans of a healthy key (with and without key settings) and of a spot
# key saved as futures (whose sibling check asks the spot API).
STEPS: list[tuple[str, dict[str, Any], str, str]] = [
    ("balance", {}, "kraken", "ok"),
    ("key_info", {}, "kraken", "ok"),
    ("balance", {"product": "futures"}, "krakenfutures", "ok"),
    ("key_info", {"product": "futures"}, "krakenfutures", "ok"),
    ("scope:query_open_orders", {"key_info_enabled": False}, "kraken", "ok"),
    ("scope:cancel_orders", {"key_info_enabled": False}, "kraken", "ok"),
    ("sibling", {}, "krakenfutures", "wrong_product"),
]
MID_PLAN_FAULTS = [
    Fault.DROP_CONNECTION,
    Fault.TIMEOUT,
    Fault.TRUNCATED_JSON,
    Fault.HTML_502,
    Fault.HTTP_429,
    Fault.EMPTY_BODY,
    Fault.GARBAGE,
    Fault.RATE_LIMITED,
]


@pytest.fixture
def server_fault(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    sandbox.set_fault(None)
    yield sandbox
    sandbox.set_fault(None)


@pytest.mark.parametrize("fault", MID_PLAN_FAULTS, ids=[f.value for f in MID_PLAN_FAULTS])
def test_a_fault_at_any_step_of_the_plan_is_diagnosed_and_recorded_whole(
    venue_console: Console,
    keyring: MasterKeyring,
    server_fault: SandboxServer,
    fault: Fault,
    request: pytest.FixtureRequest,
    tally: Recorder,
) -> None:
    """With --run-slow every fault strikes at every step; the quick suite spreads the faults over the
    steps (two steps per fault, every step covered)."""
    if request.config.getoption("--run-slow"):
        steps = STEPS
    else:
        first = MID_PLAN_FAULTS.index(fault)
        steps = [STEPS[first % len(STEPS)], STEPS[(first + 3) % len(STEPS)]]
    for step, key_settings, exchange, clean_diagnosis in steps:
        server_fault.set_fault(None)
        key = fresh_key(server_fault, f"step-{step}", **key_settings)
        key_id = store(
            venue_console, keyring, key_credentials(key), email="steps@example.com", exchange=exchange
        )
        struck: list[str] = []

        def strike(event: ProgressEvent, step: str = step, struck: list[str] = struck) -> None:
            if event.step == step and event.status == "running" and not struck:
                struck.append(step)
                server_fault.set_fault(fault)

        before = row_counts(venue_console)
        tally.scenario()
        result = run_retest(venue_console, key_id, actor=AGENT, progress=strike)
        server_fault.set_fault(None)
        assert struck == [step], f"the plan never reached {step}: {[s.step for s in result.steps]}"
        tally.fault()
        if step == "sibling":
            # The claimed product refused the key; the sibling could not be asked: no false wrong_product.
            assert result.diagnosis == "credentials_rejected", (step, result.diagnosis)
            assert result.detail["sibling"]["exchange"] == "kraken"
        else:
            assert result.diagnosis == FAULT_DIAGNOSIS[fault], (step, result.as_dict())
        assert result.diagnosis != clean_diagnosis or clean_diagnosis != "ok"
        _assert_recorded_whole(venue_console, key_id, before, result, tally)
        # The venue recovered: the same key is diagnosed as it really is, and recorded whole again.
        before = row_counts(venue_console)
        tally.scenario()
        healed = run_retest(venue_console, key_id, actor=AGENT)
        assert healed.diagnosis == clean_diagnosis
        _assert_recorded_whole(venue_console, key_id, before, healed, tally)


# --- the database fails -----------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unreachable_url(console: Console, tmp_path: Any) -> str:
    if console.settings.is_sqlite:
        return f"sqlite:///{tmp_path / 'no-such-directory' / 'gone.sqlite3'}"
    return f"postgresql+psycopg://root@127.0.0.1:{_closed_port()}/test"


@contextmanager
def _short_lock_waits(console: Console) -> Iterator[None]:
    """Lock waits of 300 ms instead of seconds, so a locked database fails fast (same error, same path)."""
    sqlite = console.settings.is_sqlite

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=300" if sqlite else "SET lock_timeout = '300ms'")
        cursor.close()

    console.engine.dispose()
    event.listen(console.engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(console.engine, "connect", on_connect)
        console.engine.dispose()


@contextmanager
def _database_locked(console: Console) -> Iterator[None]:
    """Another connection holds the write lock: SQLite's EXCLUSIVE transaction, or on PostgreSQL an
    ACCESS EXCLUSIVE lock on the tables a re-test writes."""
    if console.settings.is_sqlite:
        holder = sqlite3.connect(console.engine.url.database or "", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    other: Engine = create_engine(console.settings.effective_database_url)
    with other.connect() as conn:
        transaction = conn.begin()
        conn.execute(
            text(
                "LOCK TABLE retest_leases, connection_tests, exchange_keys, audit_events "
                "IN ACCESS EXCLUSIVE MODE"
            )
        )
        try:
            yield
        finally:
            transaction.rollback()
    other.dispose()


def _healthy_key(console: Console, keyring: MasterKeyring, sandbox: SandboxServer, name: str) -> int:
    key = fresh_key(sandbox, name)
    return store(console, keyring, key_credentials(key), email=f"{name}@example.com")


def _clear_db_message(exc: DatabaseUnavailable) -> str:
    message = str(exc)
    assert message.startswith("database unavailable: ") and "\n" not in message and len(message) < 300
    return message


def test_a_database_locked_before_the_retest_refuses_clearly_and_touches_nothing(
    venue_console: Console, keyring: MasterKeyring, sandbox: SandboxServer, tally: Recorder
) -> None:
    key = fresh_key(sandbox, "locked-before")
    key_id = store(venue_console, keyring, key_credentials(key), email="locked@example.com")
    before, record = row_counts(venue_console), key_record(venue_console, key_id)
    with _short_lock_waits(venue_console), _database_locked(venue_console):
        tally.scenario()
        tally.fault()
        with pytest.raises(DatabaseUnavailable) as down:
            run_retest(venue_console, key_id, actor=AGENT)
    assert "lock" in _clear_db_message(down.value)
    assert sandbox.requests_for(key.api_key) == []
    _assert_nothing_recorded(venue_console, key_id, before, record, tally)
    tally.scenario()
    assert run_retest(venue_console, key_id, actor=AGENT).diagnosis == "ok"


def test_a_database_locked_during_the_retest_records_nothing_half_written(
    venue_console: Console, keyring: MasterKeyring, sandbox: SandboxServer, tally: Recorder
) -> None:
    key_id = _healthy_key(venue_console, keyring, sandbox, "locked-during")
    before, record = row_counts(venue_console), key_record(venue_console, key_id)
    with _short_lock_waits(venue_console):
        lock = _database_locked(venue_console)

        def take_lock(event: ProgressEvent) -> None:
            if event.step == "key_info" and event.status == "running":
                lock.__enter__()

        tally.scenario()
        tally.fault()
        try:
            with pytest.raises(DatabaseUnavailable) as down:
                run_retest(venue_console, key_id, actor=AGENT, progress=take_lock)
        finally:
            lock.__exit__(None, None, None)
    _clear_db_message(down.value)
    _assert_nothing_recorded(venue_console, key_id, before, record, tally, stale_lease_allowed=True)
    _retest_after_the_outage(venue_console, key_id, tally)


def test_a_database_locked_briefly_while_the_result_is_written_loses_no_test(
    venue_console: Console, keyring: MasterKeyring, sandbox: SandboxServer, tally: Recorder
) -> None:
    """Another writer holds the lock a little longer than one lock wait: the venue was already asked, so
    the result is written on a later attempt instead of being thrown away."""
    key_id = _healthy_key(venue_console, keyring, sandbox, "locked-briefly")
    held, done = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with _database_locked(venue_console):
            held.set()
            time.sleep(0.6)
        done.set()

    def take_lock(event: ProgressEvent) -> None:
        if event.step == "key_info" and event.status == "running":
            threading.Thread(target=hold_the_lock, daemon=True).start()
            assert held.wait(5)

    with _short_lock_waits(venue_console):
        tally.scenario()
        tally.fault()
        result = run_retest(venue_console, key_id, actor=AGENT, progress=take_lock)
    assert done.wait(5)
    assert result.diagnosis == "ok" and result.test_id is not None
    record = key_record(venue_console, key_id)
    assert not tally.lost(inconsistencies(record) + int(record.tests != 1))
    assert row_counts(venue_console)["retest_leases"] == 0


def test_a_database_gone_during_the_retest_records_nothing_half_written(
    venue_console: Console, keyring: MasterKeyring, sandbox: SandboxServer, tmp_path: Any, tally: Recorder
) -> None:
    """The engine is pointed at a port nothing listens on (PostgreSQL) or a path that cannot exist
    (SQLite) once the venue probes start: the database is gone for the rest of the test."""
    key_id = _healthy_key(venue_console, keyring, sandbox, "db-gone")
    before, record = row_counts(venue_console), key_record(venue_console, key_id)
    real_engine = venue_console.engine
    unreachable = make_engine(_unreachable_url(venue_console, tmp_path))

    def pull_the_plug(event: ProgressEvent) -> None:
        if event.step == "balance" and event.status == "running":
            venue_console.engine = unreachable

    tally.scenario()
    tally.fault()
    try:
        with pytest.raises(DatabaseUnavailable) as down:
            run_retest(venue_console, key_id, actor=AGENT, progress=pull_the_plug)
    finally:
        venue_console.engine = real_engine
        unreachable.dispose()
    _clear_db_message(down.value)
    _assert_nothing_recorded(venue_console, key_id, before, record, tally, stale_lease_allowed=True)
    _retest_after_the_outage(venue_console, key_id, tally)


def _retest_after_the_outage(console: Console, key_id: int, tally: Recorder) -> None:
    """The lease the dead database could not release belongs to a test that is over: the next re-test
    takes it over at once (no misleading "already running"), tests and records normally."""
    tally.scenario()
    result = run_retest(console, key_id, actor=AGENT)
    assert result.diagnosis == "ok"
    record = key_record(console, key_id)
    assert not tally.lost(inconsistencies(record) + int(record.tests != 1))
    assert row_counts(console)["retest_leases"] == 0


@pytest.mark.parametrize("entry", ["retest", "lookup", "stats"])
def test_an_unreachable_database_is_one_clear_line_from_the_cli(
    venue_console: Console, use_env: UseEnv, tmp_path: Any, entry: str, tally: Recorder
) -> None:
    unreachable = _unreachable_url(venue_console, tmp_path)
    use_env(settings_env(venue_console.settings, NBSUPPORT_DATABASE_URL=unreachable))
    argv = {"retest": ["retest", "1"], "lookup": ["lookup", "ann@example.com"], "stats": ["stats"]}[entry]
    tally.scenario()
    tally.fault()
    done = cli_in_process(argv)
    assert not tally.shown(done.stdout, done.stderr)
    assert done.code == 2 and done.stderr.startswith("error: database unavailable: ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_locked_database_is_one_clear_line_from_the_retest_command(
    venue_console: Console,
    keyring: MasterKeyring,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    use_env: UseEnv,
    tally: Recorder,
) -> None:
    key_id = _healthy_key(venue_console, keyring, sandbox, "locked-cli")
    use_env(settings_env(venue_console.settings))
    real_make_engine = make_engine

    def quick_to_give_up(url: str) -> Engine:
        engine = real_make_engine(url)
        statement = "PRAGMA busy_timeout=300" if url.startswith("sqlite") else "SET lock_timeout = '300ms'"
        event.listen(engine, "connect", lambda conn, _r: conn.cursor().execute(statement))
        return engine

    monkeypatch.setattr("nbsupport.console.make_engine", quick_to_give_up)
    before = row_counts(venue_console)
    with _database_locked(venue_console):
        tally.scenario()
        tally.fault()
        done = cli_in_process(["retest", str(key_id), "--json"])
    assert not tally.shown(done.stdout, done.stderr)
    assert done.code == 2 and done.stderr.startswith("error: database unavailable: ") and done.stdout == ""
    assert not tally.lost(sum(row_counts(venue_console)[t] != n for t, n in before.items()))


def test_pages_show_a_clear_message_when_the_database_is_unreachable(
    venue_console: Console, monkeypatch: pytest.MonkeyPatch, use_env: UseEnv, tmp_path: Any, tally: Recorder
) -> None:
    from streamlit.testing.v1 import AppTest

    admin = "admin@prove.test"
    env = app_env(venue_console.settings, admin, {admin: "admin"})
    use_env({**env, "NBSUPPORT_DATABASE_URL": _unreachable_url(venue_console, tmp_path)})
    monkeypatch.setattr("nbsupport.ui.session.seed_demo", lambda console: None)
    for page, params in (
        ("pages/lookup.py", {"key": "1"}),
        ("pages/key_detail.py", {"key": "1"}),
        ("pages/audit_log.py", {}),
        ("pages/failure_stats.py", {}),
    ):
        at = AppTest.from_file(str(REPO_ROOT / page), default_timeout=60)
        at.query_params.update(params)
        tally.scenario()
        tally.fault()
        at.run()
        shown = "\n".join(str(e.value) for e in [*at.error, *at.exception])
        assert not tally.shown(shown, *(str(e.stack_trace) for e in at.exception))
        assert not at.exception, shown
        assert any("database is unavailable" in e.value for e in at.error), (page, shown)
