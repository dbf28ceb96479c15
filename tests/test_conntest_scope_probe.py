"""probe_scope end to end: one request for one scope through the real ccxt client, a re-test's guarantees
(preflight, lease, cooldown, audit), and nothing recorded that a connection test would record."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from test_conntest_support import TIMEOUT_FAULT_S, TIMEOUT_MS, credentials_of, make_key, paths

from nbsupport import config
from nbsupport.audit import Action, Actor
from nbsupport.cli import main
from nbsupport.clock import utcnow
from nbsupport.conntest import RetestRefused, ScopeAnswer, probe_scope, run_retest
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import AuditEvent, ConnectionTest, ExchangeKey, RetestLease
from nbsupport.diagnosis import STRATEGY_SCOPES, Scope
from nbsupport.fleet.backfill.probe import closed_orders_summary, probe_closed_orders
from nbsupport.fleet.stats.figures import failure_stats
from nbsupport.keys import KeyInputError, add_key
from nbsupport.sandbox import Fault, SandboxKey, SandboxServer

AGENT = Actor("agent@noonbarbari.test", "agent")
CLOSED = Scope.QUERY_CLOSED_ORDERS.value
WITHOUT_CLOSED = frozenset(STRATEGY_SCOPES) - {Scope.QUERY_CLOSED_ORDERS}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(timeout_fault_s=TIMEOUT_FAULT_S) as server:
        yield server


@pytest.fixture
def probe_console(console: Console, sandbox: SandboxServer) -> Console:
    console.settings = console.settings.model_copy(update={
        "exchange_urls": {"kraken": sandbox.origin, "krakenfutures": sandbox.origin},
        "request_timeout_ms": TIMEOUT_MS, "retest_cooldown_s": 60})
    return console


def store(console: Console, keyring: MasterKeyring, key: SandboxKey, *, exchange: str | None = None,
          credentials: Credentials | None = None) -> int:
    exchange = exchange or ("kraken" if key.product == "spot" else "krakenfutures")
    with console.session() as session:
        return add_key(session, keyring, user_email="trader@example.com", exchange=exchange,
                       credentials=credentials or credentials_of(key)).id


def count(console: Console, model: type) -> int:
    with console.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def probe_events(console: Console) -> list[AuditEvent]:
    with console.session() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == Action.KEY_PROBE)))
        session.expunge_all()
    return events


def probe(console: Console, key_id: int, **options: object) -> ScopeAnswer:
    return probe_scope(console, key_id, CLOSED, actor=AGENT, ticket="ZD-9", **options)  # type: ignore[arg-type]


def test_key_without_closed_orders_is_missing_after_one_closed_orders_request_and_nothing_else_recorded(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "probe-missing", permissions=WITHOUT_CLOSED)
    key_id = store(probe_console, keyring, key)
    answer = probe(probe_console, key_id)
    found = answer.result
    assert (answer.state, found.outcome, found.diagnosis) == ("missing", "failed", "missing_permission")
    assert (found.permissions, found.missing_permissions) == ({CLOSED: "missing"}, [CLOSED])
    assert (found.exchange_error, found.requests, answer.via) == ("EGeneral:Permission denied", 1, "probe")
    assert found.fix["id"] == "kraken-missing-permission"
    assert paths(sandbox, key) == ["ClosedOrders"]
    assert not any(entry.state_change for entry in sandbox.requests_for(key.api_key))
    # A one-scope answer is not a connection test: no test row, no last_* fields, no statistics.
    assert count(probe_console, ConnectionTest) == 0
    with probe_console.session() as session:
        row = session.get(ExchangeKey, key_id)
        assert row is not None
        assert (row.last_test_at, row.last_outcome, row.last_diagnosis, row.last_permissions) == (
            None, None, None, {})
        assert failure_stats(session, days=1).total.tests == 0
    assert count(probe_console, RetestLease) == 0


def test_a_probe_writes_one_audit_row_without_any_secret(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "probe-audit", permissions=WITHOUT_CLOSED)
    key_id = store(probe_console, keyring, key)
    answer = probe(probe_console, key_id)
    events = probe_events(probe_console)
    assert [(e.actor, e.ticket, e.subject_key_id, e.result) for e in events] == [
        (AGENT.email, "ZD-9", key_id, "missing_permission")]
    assert {k: events[0].detail[k] for k in ("scope", "state", "requests")} == {
        "scope": CLOSED, "state": "missing", "requests": 1}
    with probe_console.session() as session:
        dumped = " ".join(str(r) for r in session.execute(text("SELECT * FROM audit_events")))
    shown = dumped + json.dumps(answer.as_dict(), default=str) + repr(answer)
    assert key.api_key not in shown and key.secret not in shown and key.secret[:20] not in shown


def test_healthy_key_is_granted_with_one_request(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "probe-healthy")
    answer = probe(probe_console, store(probe_console, keyring, key))
    found = answer.result
    assert (answer.state, found.outcome, found.diagnosis, found.requests) == ("granted", "ok", "ok", 1)
    assert answer.result.missing_permissions == [] and answer.result.exchange_error == ""
    assert paths(sandbox, key) == ["ClosedOrders"]


def test_malformed_secret_is_diagnosed_without_a_request(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "probe-mangled")
    mangled = Credentials(key.api_key, key.secret[:10] + key.secret[11:])
    answer = probe(probe_console, store(probe_console, keyring, key, credentials=mangled))
    found = answer.result
    assert (found.diagnosis, answer.state, found.requests) == ("secret_malformed", "unknown", 0)
    assert sandbox.requests_for(key.api_key) == []
    assert len(probe_events(probe_console)) == 1


def test_rejected_key_is_credentials_rejected_and_says_the_sibling_was_not_tried(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "probe-rejected")
    key_id = store(probe_console, keyring, key)
    sandbox.remove_key("spot", key.api_key)
    answer = probe(probe_console, key_id)
    assert (answer.result.diagnosis, answer.state, answer.result.exchange_error) == (
        "credentials_rejected", "unknown", "EAPI:Invalid key")
    assert answer.result.requests == 1
    assert any("not tried on krakenfutures" in w for w in answer.result.warnings)
    assert answer.result.fix["id"] == "kraken-credentials-rejected"


@pytest.mark.parametrize("fault", [Fault.SERVICE_UNAVAILABLE, Fault.HTML_502])
def test_exchange_outage_is_exchange_unavailable(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer, fault: Fault
) -> None:
    key = make_key(sandbox, f"probe-{fault.value}", fault=fault)
    answer = probe(probe_console, store(probe_console, keyring, key))
    found = answer.result
    assert (found.diagnosis, answer.state, found.requests) == ("exchange_unavailable", "unknown", 1)
    assert count(probe_console, ConnectionTest) == 0


def test_futures_key_is_probed_with_one_fills_request(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "probe-futures", product="futures")
    answer = probe(probe_console, store(probe_console, keyring, key))
    assert (answer.state, answer.result.diagnosis, answer.result.requests) == ("granted", "ok", 1)
    assert paths(sandbox, key) == ["fills"]


def test_futures_refusal_is_not_called_a_missing_scope(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    # Kraken Futures answers a key without access exactly as it answers an unknown key.
    key = make_key(sandbox, "probe-futures-none", product="futures", permissions=frozenset())
    answer = probe(probe_console, store(probe_console, keyring, key))
    assert (answer.state, answer.result.diagnosis, answer.result.requests) == ("unknown", "unknown", 1)
    assert answer.result.missing_permissions == []
    assert any("cannot tell them apart" in w for w in answer.result.warnings)


def test_running_lease_refuses_a_probe_without_a_request(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "probe-leased")
    key_id = store(probe_console, keyring, key)
    now = utcnow()
    with probe_console.session() as session:
        session.add(RetestLease(key_id=key_id, holder="other-host:1", acquired_at=now,
                                expires_at=now + timedelta(seconds=90)))
    with pytest.raises(RetestRefused) as refused:
        probe(probe_console, key_id)
    assert refused.value.reason == "in_progress"
    assert sandbox.requests_for(key.api_key) == [] and probe_events(probe_console) == []


def test_simultaneous_probes_of_one_key_run_once(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "probe-stampede")
    key_id = store(probe_console, keyring, key)
    start = threading.Barrier(8)

    def attempt(_: int) -> ScopeAnswer | RetestRefused:
        start.wait()
        try:
            return probe(probe_console, key_id)
        except RetestRefused as refused:
            return refused

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert len([o for o in outcomes if isinstance(o, ScopeAnswer)]) == 1
    assert {o.reason for o in outcomes if isinstance(o, RetestRefused)} <= {"in_progress", "cooldown"}
    assert len(sandbox.requests_for(key.api_key)) == 1


def test_probes_of_one_key_keep_the_cooldown_unless_forced(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "probe-cooldown")
    key_id = store(probe_console, keyring, key)
    probe(probe_console, key_id)
    with pytest.raises(RetestRefused) as refused:
        probe(probe_console, key_id)
    assert refused.value.reason == "cooldown" and 1 <= refused.value.retry_after_s <= 60
    assert probe(probe_console, key_id, ignore_cooldown=True).state == "granted"
    assert len(sandbox.requests_for(key.api_key)) == 2


def test_a_probe_right_after_a_retest_is_refused_by_the_cooldown(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key_id = store(probe_console, keyring, make_key(sandbox, "probe-after-retest"))
    run_retest(probe_console, key_id, actor=AGENT)
    with pytest.raises(RetestRefused) as refused:
        probe(probe_console, key_id)
    assert refused.value.reason == "cooldown"


def test_a_retest_right_after_a_probe_is_refused_by_the_cooldown(
    probe_console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    key = make_key(sandbox, "retest-after-probe")
    key_id = store(probe_console, keyring, key)
    probe(probe_console, key_id)
    with pytest.raises(RetestRefused) as refused:
        run_retest(probe_console, key_id, actor=AGENT)
    assert refused.value.reason == "cooldown" and 1 <= refused.value.retry_after_s <= 60
    assert len(sandbox.requests_for(key.api_key)) == 1


def test_venue_without_a_probe_falls_back_to_the_full_test_and_says_so(
    probe_console: Console, keyring: MasterKeyring
) -> None:
    # A whitespace-mangled secret keeps the full test offline (preflight), whatever the venue.
    with probe_console.session() as session:
        key_id = add_key(session, keyring, user_email="b@example.com", exchange="binance",
                         credentials=Credentials("binance-key-0001", "secret with a space")).id
    answer = probe(probe_console, key_id)
    assert (answer.via, answer.result.diagnosis, answer.result.requests) == ("retest", "secret_malformed", 0)
    assert "binance cannot check query_closed_orders with one request" in answer.fallback_reason
    assert answer.result.test_id is not None and count(probe_console, ConnectionTest) == 1
    confirmed = closed_orders_summary(probe_closed_orders(probe_console, key_id, actor=AGENT,
                                                          ignore_cooldown=True))
    assert (confirmed["via"], confirmed["requests"]) == ("run_retest", 0)


def test_unknown_scope_and_unknown_key_are_input_errors(probe_console: Console) -> None:
    with pytest.raises(KeyInputError, match="unknown scope"):
        probe_scope(probe_console, 1, "read_minds", actor=AGENT)
    with pytest.raises(KeyInputError, match="no exchange key with id 987654"):
        probe_scope(probe_console, 987654, CLOSED, actor=AGENT)


@pytest.fixture
def cli(probe_console: Console, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Console:
    """The CLI, in this process, pointed at the test database, the master key and the sandbox."""
    settings = probe_console.settings
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("NBSUPPORT_MASTER_KEYS", settings.master_keys)
    monkeypatch.setenv("NBSUPPORT_EXCHANGE_URLS", json.dumps(settings.exchange_urls))
    monkeypatch.setenv("NBSUPPORT_REQUEST_TIMEOUT_MS", str(TIMEOUT_MS))
    config.get_settings.cache_clear()
    return probe_console


def test_backfill_health_probe_json_answers_with_one_request_then_is_refused_in_cooldown(
    cli: Console, keyring: MasterKeyring, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    key = make_key(sandbox, "probe-cli", permissions=WITHOUT_CLOSED)
    key_id = store(cli, keyring, key)
    assert main(["backfill-health", "--probe", str(key_id), "--ticket", "ZD-5", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {k: payload[k] for k in ("key_id", "closed_orders_scope", "diagnosis", "requests", "via")} == {
        "key_id": key_id, "closed_orders_scope": "missing", "diagnosis": "missing_permission", "requests": 1,
        "via": "probe_scope"}
    assert paths(sandbox, key) == ["ClosedOrders"]
    assert main(["backfill-health", "--probe", str(key_id), "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["refused"]["reason"] == "cooldown"
    assert count(cli, ConnectionTest) == 0
