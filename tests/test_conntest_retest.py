"""run_retest end to end: the database records, the lease and cooldown, the master key, no secret stored."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from test_conntest_support import credentials_of, make_key, sandbox_settings

from nbsupport.audit import Action, Actor
from nbsupport.clock import utcnow
from nbsupport.conntest import (
    ConnectionOutcome,
    ProgressEvent,
    RetestRefused,
    locks,
    recorded_tests,
    run_retest,
)
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import CryptoError, MasterKeyring
from nbsupport.db.models import AuditEvent, ConnectionTest, ExchangeKey, RetestLease
from nbsupport.diagnosis import STRATEGY_SCOPES, Scope
from nbsupport.keys import KeyInputError, add_key
from nbsupport.sandbox import SandboxKey, SandboxServer

AGENT = Actor("agent@noonbarbari.test", "agent")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(latency_ms=20) as server:
        yield server


@pytest.fixture
def retest_console(console: Console, sandbox: SandboxServer) -> Console:
    console.settings = console.settings.model_copy(
        update={"exchange_urls": sandbox_settings(sandbox).exchange_urls, "request_timeout_ms": 2000,
                "retest_cooldown_s": 60}
    )
    return console


def store(console: Console, keyring: MasterKeyring, key: SandboxKey, *, exchange: str = "kraken",
          credentials: Credentials | None = None) -> int:
    with console.session() as session:
        row = add_key(session, keyring, user_email="trader@example.com", exchange=exchange,
                      credentials=credentials or credentials_of(key), label="kraken-spot")
        return row.id


def count(console: Console, model: type) -> int:
    with console.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_retest_records_one_test_row_the_keys_last_fields_and_one_audit_event(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    scopes = frozenset(STRATEGY_SCOPES) - {Scope.QUERY_CLOSED_ORDERS}
    key = make_key(sandbox, "db-missing", permissions=scopes)
    key_id = store(retest_console, keyring, key)
    steps: list[ProgressEvent] = []
    result = run_retest(retest_console, key_id, actor=AGENT, ticket="ZD-1234", progress=steps.append)
    assert result.as_dict()["diagnosis"] == "missing_permission"
    assert result.test_id is not None and result.key_id == key_id
    assert ("balance", "ok") in [(e.step, e.status) for e in steps]
    with retest_console.session() as session:
        test = session.get(ConnectionTest, result.test_id)
        assert test is not None
        assert (test.diagnosis, test.outcome, test.missing_permissions) == ("missing_permission", "failed",
                                                                       ["query_closed_orders"])
        assert (test.actor, test.ticket, test.trigger, test.requests) == (AGENT.email, "ZD-1234", "retest", 2)
        assert test.egress_ip == "direct"
        row = session.get(ExchangeKey, key_id)
        assert row is not None
        assert (row.last_outcome, row.last_diagnosis) == ("failed", "missing_permission")
        assert row.last_test_at == result.started_at
        assert row.last_permissions["query_closed_orders"] == "missing"
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == Action.KEY_RETEST)).all()
        assert [(e.actor, e.ticket, e.result, e.subject_key_id) for e in events] == [
            (AGENT.email, "ZD-1234", "missing_permission", key_id)]
        assert events[0].detail["test_id"] == result.test_id
        history = recorded_tests(session, key_id)
    assert [(h.id, h.result.diagnosis, h.result.missing_permissions) for h in history] == [
        (result.test_id, "missing_permission", ["query_closed_orders"])]
    assert count(retest_console, RetestLease) == 0


def test_missing_master_key_fails_clearly_and_records_nothing(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "db-no-master")
    key_id = store(retest_console, keyring, key)
    retest_console.settings = retest_console.settings.model_copy(update={"master_keys": ""})
    with pytest.raises(CryptoError, match="master key"):
        run_retest(retest_console, key_id, actor=AGENT)
    assert (count(retest_console, ConnectionTest), count(retest_console, AuditEvent),
            count(retest_console, RetestLease)) == (0, 0, 0)
    assert sandbox.requests_for(key.api_key) == []


def test_unknown_key_id_is_a_key_input_error(retest_console: Console) -> None:
    with pytest.raises(KeyInputError, match="no exchange key with id 987654"):
        run_retest(retest_console, 987654, actor=AGENT)


def test_twenty_simultaneous_retests_of_one_key_run_exactly_once(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "db-stampede", key_info_enabled=False)
    key_id = store(retest_console, keyring, key)
    start = threading.Barrier(20)

    def attempt(_: int) -> ConnectionOutcome | RetestRefused:
        start.wait()
        try:
            return run_retest(retest_console, key_id, actor=AGENT)
        except RetestRefused as refused:
            return refused

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    ran = [o for o in outcomes if isinstance(o, ConnectionOutcome)]
    refused = [o for o in outcomes if isinstance(o, RetestRefused)]
    assert len(ran) == 1 and ran[0].diagnosis == "ok"
    assert len(refused) == 19
    assert {r.reason for r in refused} <= {"in_progress", "cooldown"}
    assert all(r.retry_after_s >= 1 and str(r) for r in refused)
    assert count(retest_console, ConnectionTest) == 1
    assert len(sandbox.requests_for(key.api_key)) == 7
    assert sandbox.max_overlap_per_key() == 1


def test_retest_within_the_cooldown_is_refused_unless_forced(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(retest_console, keyring, make_key(sandbox, "db-cooldown"))
    run_retest(retest_console, key_id, actor=AGENT)
    with pytest.raises(RetestRefused) as refused:
        run_retest(retest_console, key_id, actor=AGENT)
    assert refused.value.reason == "cooldown"
    assert 1 <= refused.value.retry_after_s <= 60
    assert "Try again in" in str(refused.value)
    forced = run_retest(retest_console, key_id, actor=AGENT, ignore_cooldown=True, trigger="bulk")
    assert forced.diagnosis == "ok"
    with retest_console.session() as session:
        assert [h.trigger for h in recorded_tests(session, key_id)] == ["bulk", "retest"]


def _leave_lease(console: Console, key_id: int, holder: str) -> None:
    now = utcnow()
    with console.session() as session:
        session.add(RetestLease(key_id=key_id, holder=holder, acquired_at=now,
                                expires_at=now + timedelta(seconds=90)))


def test_running_lease_refuses_and_an_expired_one_is_taken_over(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(retest_console, keyring, make_key(sandbox, "db-lease"))
    _leave_lease(retest_console, key_id, "other-host:1")
    with pytest.raises(RetestRefused) as refused:
        run_retest(retest_console, key_id, actor=AGENT)
    assert refused.value.reason == "in_progress"
    with retest_console.session() as session:
        lease = session.get(RetestLease, key_id)
        assert lease is not None
        lease.expires_at = utcnow() - timedelta(seconds=1)
    assert run_retest(retest_console, key_id, actor=AGENT).diagnosis == "ok"
    assert count(retest_console, RetestLease) == 0


def test_a_lease_left_by_a_finished_test_of_this_process_is_taken_over_at_once(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    """What a database failure before the release leaves behind: the holder's test is over."""
    key_id = store(retest_console, keyring, make_key(sandbox, "db-orphan"))
    _leave_lease(retest_console, key_id, locks.new_holder())
    assert run_retest(retest_console, key_id, actor=AGENT).diagnosis == "ok"
    assert count(retest_console, RetestLease) == 0


def test_a_lease_of_an_exited_process_on_this_host_is_taken_over_at_once(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(retest_console, keyring, make_key(sandbox, "db-dead-pid"))
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its pid names no process now
    holder = locks.new_holder().split(":")
    holder[1] = str(child.pid)
    _leave_lease(retest_console, key_id, ":".join(holder))
    assert run_retest(retest_console, key_id, actor=AGENT).diagnosis == "ok"


def test_a_lease_of_a_running_test_or_another_host_still_refuses(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(retest_console, keyring, make_key(sandbox, "db-live-lease"))
    with locks.running(locks.new_holder()) as live:
        _leave_lease(retest_console, key_id, live)
        with pytest.raises(RetestRefused) as refused:
            run_retest(retest_console, key_id, actor=AGENT)
        assert refused.value.reason == "in_progress"
    with retest_console.session() as session:
        lease = session.get(RetestLease, key_id)
        assert lease is not None
        lease.holder = "another-host:1:2:abcdef12"
    with pytest.raises(RetestRefused):
        run_retest(retest_console, key_id, actor=AGENT)


def test_failed_test_keeps_the_last_scopes_seen(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "db-keep-scopes")
    key_id = store(retest_console, keyring, key)
    run_retest(retest_console, key_id, actor=AGENT)
    sandbox.remove_key("spot", key.api_key)
    result = run_retest(retest_console, key_id, actor=AGENT, ignore_cooldown=True)
    assert result.diagnosis == "credentials_rejected"
    with retest_console.session() as session:
        row = session.get(ExchangeKey, key_id)
        assert row is not None and row.last_diagnosis == "credentials_rejected"
        assert row.last_permissions["query_funds"] == "granted"


def test_no_secret_or_full_api_key_reaches_the_database(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    keys = [make_key(sandbox, "db-leak-ok"), make_key(sandbox, "db-leak-ip", ip_allowlist=("203.0.113.7",)),
            make_key(sandbox, "db-leak-window", key_info_enabled=False)]
    wrong = make_key(sandbox, "db-leak-wrong")
    ids = [store(retest_console, keyring, k) for k in keys]
    ids.append(store(retest_console, keyring, wrong, credentials=Credentials(wrong.api_key, keys[0].secret)))
    for key_id in ids:
        run_retest(retest_console, key_id, actor=AGENT)
    with pytest.raises(RetestRefused) as refused:
        run_retest(retest_console, ids[0], actor=AGENT)
    needles = {k.api_key for k in [*keys, wrong]} | {k.secret for k in [*keys, wrong]}
    assert not any(n in f"{refused.value!s} {refused.value!r}" for n in needles)
    with retest_console.session() as session:
        dumped = " ".join(
            str(row) for table in ("connection_tests", "audit_events", "retest_leases")
            for row in session.execute(text(f"SELECT * FROM {table}"))
        )
        dumped += " ".join(str(r) for r in session.execute(
            select(ExchangeKey.key_prefix, ExchangeKey.key_suffix, ExchangeKey.last_permissions,
                   ExchangeKey.label)))
    assert dumped and not any(n in dumped for n in needles)
    database = Path(retest_console.settings.effective_database_url.removeprefix("sqlite:///"))
    if retest_console.settings.is_sqlite:
        raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
        assert not any(n.encode() in raw for n in needles)


def test_a_retest_shows_up_in_fleet_statistics_without_a_rollup_rebuild(
    retest_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    from nbsupport.fleet.stats.figures import failure_stats

    scopes = frozenset(STRATEGY_SCOPES) - {Scope.QUERY_CLOSED_ORDERS}
    key_id = store(retest_console, keyring, make_key(sandbox, "stats-missing", permissions=scopes))
    run_retest(retest_console, key_id, actor=AGENT, ticket="ZD-7")
    with retest_console.session() as session:
        stats = failure_stats(session, days=1)
    assert (stats.total.tests, stats.total.failed) == (1, 1)
    assert [(d.diagnosis, d.failed) for d in stats.by_diagnosis] == [("missing_permission", 1)]
