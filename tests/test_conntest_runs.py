"""Console re-test runs (nbsupport.conntest.runs): start, attach, follow, finish, refused, error, and a run
whose process died, against the sandbox venue through the real ccxt client."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from test_conntest_support import credentials_of, make_key, sandbox_settings

from nbsupport.audit import Action, Actor
from nbsupport.clock import utcnow
from nbsupport.conntest import runs
from nbsupport.conntest.locks import new_holder
from nbsupport.console import Console
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import AuditEvent, ConnectionTest, RetestLease, RetestRun
from nbsupport.keys import KeyInputError, add_key
from nbsupport.sandbox import Fault, SandboxServer

AGENT = Actor("agent@noonbarbari.test", "agent")
OTHER = Actor("other.agent@noonbarbari.test", "agent")
# The timeout fault hangs this long: long enough to start a second time while the first test runs.
HANG_S = 1.5
WAIT_S = 30


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(latency_ms=10, timeout_fault_s=HANG_S) as server:
        yield server


@pytest.fixture
def run_console(console: Console, sandbox: SandboxServer) -> Console:
    console.settings = console.settings.model_copy(update={
        "exchange_urls": sandbox_settings(sandbox).exchange_urls, "request_timeout_ms": 5000,
        "retest_cooldown_s": 60})
    return console


def store(
    console: Console, keyring: MasterKeyring, sandbox: SandboxServer, name: str, **settings: object
) -> int:
    key = make_key(sandbox, name, **settings)
    with console.session() as session:
        return add_key(session, keyring, user_email=f"{key.name}@example.com", exchange="kraken",
                       credentials=credentials_of(key)).id


def count(console: Console, model: type, *where: object) -> int:
    with console.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def retest_audit(console: Console, key_id: int) -> list[tuple[str, str, str]]:
    with console.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.subject_key_id == key_id,
                                                        AuditEvent.action == Action.KEY_RETEST)
                               .order_by(AuditEvent.id))
        return [(r.actor, r.ticket, r.result) for r in rows]


def test_a_started_run_records_its_steps_and_ends_done_with_the_tests_result(
    run_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(run_console, keyring, sandbox, "runs-healthy")
    started = runs.start(run_console, key_id, actor=AGENT, ticket="ZD-1")
    assert not started.attached and started.run.state in runs.LIVE
    followed = runs.follow(run_console, started.run.id)
    assert followed is not None and followed.id == started.run.id
    done = runs.wait(run_console, started.run.id, WAIT_S)
    assert done.state == runs.DONE and not done.live
    assert done.result is not None and (done.result.diagnosis, done.result.outcome) == ("ok", "ok")
    assert [(s.step, s.status) for s in done.steps][:2] == [("preflight", "ok"), ("balance", "ok")]
    assert all(s.status != "running" for s in done.steps)
    with run_console.session() as session:
        test = session.get(ConnectionTest, done.test_id)
        assert test is not None and (test.key_id, test.ticket, test.actor) == (key_id, "ZD-1", AGENT.email)
        row = session.get(RetestRun, done.id)
        assert row is not None and row.live_key_id is None and row.finished_at is not None
    # The engine audits the test with its row; the run adds nothing.
    assert retest_audit(run_console, key_id) == [(AGENT.email, "ZD-1", "ok")]
    assert runs.live_run(run_console, key_id) is None
    assert runs.latest_finished(run_console, key_id) == done
    assert count(run_console, RetestLease) == 0


def test_a_second_start_while_the_test_runs_attaches_to_it(
    run_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(run_console, keyring, sandbox, "runs-slow", fault=Fault.TIMEOUT)
    first = runs.start(run_console, key_id, actor=AGENT, ticket="ZD-2")
    second = runs.start(run_console, key_id, actor=OTHER, ticket="ZD-3")
    assert second.attached and second.run.id == first.run.id and second.run.ticket == "ZD-2"
    live = runs.live_run(run_console, key_id)
    assert live is not None and live.id == first.run.id
    done = runs.wait(run_console, first.run.id, WAIT_S)
    assert done.state == runs.DONE and done.result is not None
    assert done.result.diagnosis in ("network_error", "exchange_unavailable")
    assert count(run_console, ConnectionTest, ConnectionTest.key_id == key_id) == 1
    assert count(run_console, RetestRun, RetestRun.key_id == key_id) == 1
    assert [r[1] for r in retest_audit(run_console, key_id)] == ["ZD-2"]


def test_simultaneous_starts_from_many_threads_make_one_run(
    run_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(run_console, keyring, sandbox, "runs-stampede", fault=Fault.TIMEOUT)
    barrier = threading.Barrier(8)
    found: list[runs.Started] = []
    lock = threading.Lock()

    def go() -> None:
        barrier.wait()
        started = runs.start(run_console, key_id, actor=AGENT, ticket="ZD-4")
        with lock:
            found.append(started)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({s.run.id for s in found}) == 1 and sum(not s.attached for s in found) == 1
    runs.wait(run_console, found[0].run.id, WAIT_S)
    assert count(run_console, RetestRun, RetestRun.key_id == key_id) == 1
    assert count(run_console, ConnectionTest, ConnectionTest.key_id == key_id) == 1


def test_a_start_in_the_cooldown_is_refused_once_in_words_and_audited(
    run_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(run_console, keyring, sandbox, "runs-cooldown")
    runs.wait(run_console, runs.start(run_console, key_id, actor=AGENT, ticket="ZD-5").run.id, WAIT_S)
    again = runs.start(run_console, key_id, actor=AGENT, ticket="ZD-5")
    assert not again.attached  # the first one is over: this is a new attempt
    refused = runs.wait(run_console, again.run.id, WAIT_S)
    assert (refused.state, refused.reason) == (runs.REFUSED, "cooldown")
    assert refused.message.count("Try again in") == 1 and refused.retry_after_s
    assert retest_audit(run_console, key_id)[1:] == [(AGENT.email, "ZD-5", "refused: cooldown")]
    # The key's latest result is still the test that ran.
    latest = runs.latest_finished(run_console, key_id)
    assert latest is not None and latest.state == runs.DONE
    assert runs.live_run(run_console, key_id) is None


def test_a_missing_master_key_ends_the_run_as_an_error_without_a_test(
    run_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(run_console, keyring, sandbox, "runs-no-master")
    run_console.settings = run_console.settings.model_copy(update={"master_keys": ""})
    failed = runs.wait(run_console, runs.start(run_console, key_id, actor=AGENT, ticket="ZD-6").run.id,
                       WAIT_S)
    assert failed.state == runs.ERROR and "master key" in failed.message
    assert count(run_console, ConnectionTest) == 0
    audited = retest_audit(run_console, key_id)
    assert len(audited) == 1 and audited[0][2].startswith("error: no master key")
    assert runs.latest_finished(run_console, key_id) is None


def test_an_unknown_key_cannot_be_started(run_console: Console) -> None:
    with pytest.raises(KeyInputError, match="no exchange key with id 424242"):
        runs.start(run_console, 424242, actor=AGENT, ticket="ZD-7")
    assert count(run_console, RetestRun) == 0


def _dead_holder() -> str:
    """A holder in the lease's form whose process (on this host) has exited."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return f"{socket.gethostname()[:40]}:{int(done.stdout)}:1:deadbeef"


def _live_row(console: Console, key_id: int, holder: str, *, expires_in_s: int = 600) -> int:
    now = utcnow()
    with console.session() as session:
        row = RetestRun(key_id=key_id, live_key_id=key_id, actor=AGENT.email, role=AGENT.role, ticket="ZD-8",
                        state=runs.RUNNING, holder=holder, steps=[{"step": "balance", "status": "running",
                                                                   "detail": ""}],
                        reason="", message="", created_at=now, started_at=now,
                        expires_at=now + timedelta(seconds=expires_in_s))
        session.add(row)
        session.flush()
        return row.id


@pytest.mark.parametrize(
    ("holder", "expires_in_s"),
    [
        ("dead-process", 600),  # the console process that ran it exited
        ("this-process", 600),  # a holder of this process whose worker is no longer running
        ("elsewhere:1:1:cafe", -1),  # another host: trusted until the run outlived any plan
    ],
)
def test_a_run_whose_worker_died_is_never_shown_running_forever(
    run_console: Console, keyring: MasterKeyring, sandbox: SandboxServer, holder: str, expires_in_s: int
) -> None:
    key_id = store(run_console, keyring, sandbox, "runs-dead")
    holder = {"dead-process": _dead_holder(), "this-process": new_holder()}.get(holder, holder)
    run_id = _live_row(run_console, key_id, holder, expires_in_s=expires_in_s)
    assert runs.live_run(run_console, key_id) is None
    ended = runs.follow(run_console, run_id)
    assert ended is not None and ended.state == runs.ERROR and ended.message == runs.DIED
    assert retest_audit(run_console, key_id) == [(AGENT.email, "ZD-8", "error: died")]
    # The key is free again: a new start runs a new test.
    fresh = runs.start(run_console, key_id, actor=AGENT, ticket="ZD-9")
    assert not fresh.attached and fresh.run.id != run_id
    assert runs.wait(run_console, fresh.run.id, WAIT_S).state == runs.DONE


def test_a_live_run_on_another_host_is_trusted_until_it_expires(
    run_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(run_console, keyring, sandbox, "runs-elsewhere")
    run_id = _live_row(run_console, key_id, "elsewhere:1:1:cafe")
    live = runs.live_run(run_console, key_id)
    assert live is not None and live.id == run_id and live.state == runs.RUNNING
    attached = runs.start(run_console, key_id, actor=OTHER, ticket="ZD-10")
    assert attached.attached and attached.run.id == run_id
