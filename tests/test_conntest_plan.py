"""The probe plan's cost and manners: request counts and order, one request at a time per key, nothing
changed on the account, nonces that only go up, no ccxt rate-limiter pauses, nothing secret anywhere."""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import pytest
from test_conntest_support import make_key, paths, run_key, sandbox_settings

from nbsupport.conntest import KeyMeta, ProgressEvent, check_credentials
from nbsupport.credentials import Credentials
from nbsupport.diagnosis import STRATEGY_SCOPES, Scope
from nbsupport.sandbox import Fault, SandboxServer


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(timeout_fault_s=2.0) as server:
        yield server


def test_healthy_kraken_key_costs_one_balance_then_one_key_info_request(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "plan-healthy")
    result = run_key(sandbox, key)
    assert paths(sandbox, key) == ["Balance", "GetApiKeyInfo"]
    assert result.requests == 2


def test_without_key_info_each_scope_is_probed_once_and_nothing_changes(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "plan-probes", key_info_enabled=False)
    result = run_key(sandbox, key)
    assert result.diagnosis == "ok"
    assert paths(sandbox, key) == ["Balance", "GetApiKeyInfo", "OpenOrders", "ClosedOrders", "AddOrder",
                                   "CancelOrder", "WithdrawInfo"]
    assert result.requests == 7
    assert [e.step for e in result.steps] == [
        "preflight", "balance", "key_info", "scope:query_open_orders", "scope:query_closed_orders",
        "scope:create_orders", "scope:cancel_orders", "scope:withdraw"]
    assert sandbox.state_change_attempts == 0
    assert not any(e.state_change for e in sandbox.requests_for(key.api_key))


def test_only_the_scopes_the_key_needs_are_probed(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "plan-read-only", key_info_enabled=False)
    result = run_key(sandbox, key, meta={"required_scopes": ("query_funds", "query_closed_orders")})
    assert paths(sandbox, key) == ["Balance", "GetApiKeyInfo", "ClosedOrders", "WithdrawInfo"]
    assert set(result.permissions) == {"query_funds", "query_closed_orders", "withdraw"}


def test_failed_balance_stops_the_plan_for_transient_faults(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "plan-lockout", fault=Fault.LOCKOUT)
    result = run_key(sandbox, key)
    assert paths(sandbox, key) == ["Balance"]
    assert [e.status for e in result.steps] == ["ok", "failed"]


def test_progress_reports_each_step_running_then_its_result(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "plan-progress")
    seen: list[ProgressEvent] = []
    settings = sandbox_settings(sandbox)
    check_credentials("kraken", Credentials(key.api_key, key.secret), None, settings, seen.append)
    assert [(e.step, e.status) for e in seen] == [
        ("preflight", "running"), ("preflight", "ok"), ("balance", "running"), ("balance", "ok"),
        ("key_info", "running"), ("key_info", "ok")]


def test_one_test_sends_its_requests_strictly_one_after_another(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "plan-sequential", key_info_enabled=False)
    run_key(sandbox, key)
    entries = sandbox.requests_for(key.api_key)
    assert len(entries) == 7
    assert all(a.finished_at is not None and a.finished_at <= b.started_at for a, b in pairwise(entries))


def test_back_to_back_tests_of_one_key_always_use_increasing_nonces(sandbox: SandboxServer) -> None:
    # Five tests in a row fit Kraken's Starter budget of 15 (2 counted calls each); each builds a fresh
    # ccxt client, whose own nonce counter starts from scratch.
    key = make_key(sandbox, "plan-nonces")
    results = [run_key(sandbox, key) for _ in range(5)]
    assert [r.diagnosis for r in results] == ["ok"] * 5
    nonces = [e.nonce for e in sandbox.requests_for(key.api_key)]
    assert len(nonces) == 10 and all(a < b for a, b in pairwise(nonces))


def test_different_keys_are_tested_in_parallel_without_ccxt_rate_limit_pauses() -> None:
    # ccxt's default limiter would wait 3 s between Kraken private calls: 7 calls would take 18 s or more.
    with SandboxServer(latency_ms=50) as server:
        keys = [make_key(server, f"plan-speed-{i}", key_info_enabled=False) for i in range(6)]
        settings = sandbox_settings(server)
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda k: run_key(server, k, settings=settings), keys))
        assert server.max_overlap_per_key() == 1
    assert [r.diagnosis for r in results] == ["ok"] * 6
    # 7 round trips of ~50 ms each: well under a second per test even on a slow machine.
    assert max(r.duration_ms for r in results) < 2500


@pytest.mark.parametrize("case", ["healthy", "wrong-secret", "ip", "garbage", "malformed"])
def test_no_secret_or_full_api_key_in_results_or_logs(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("ccxt").setLevel(logging.DEBUG)  # as a careless operator might
    settings: dict[str, object] = {}
    if case == "ip":
        settings = {"ip_allowlist": ("203.0.113.7",)}
    if case == "garbage":
        settings = {"fault": Fault.GARBAGE}
    key = make_key(sandbox, f"leak-{case}", **settings)
    secret = {"wrong-secret": make_key(sandbox, "leak-other").secret, "malformed": key.secret[:-3]}.get(
        case, key.secret)
    result = check_credentials("kraken", Credentials(key.api_key, secret), KeyMeta(),
                              sandbox_settings(sandbox), lambda e: logging.getLogger("t").debug("%s", e))
    text = json.dumps(result.as_dict(), default=str) + repr(result) + caplog.text
    for needle in (key.api_key, key.secret, secret, key.secret[:20]):
        assert needle not in text
    assert logging.getLogger("ccxt").getEffectiveLevel() >= logging.WARNING


def test_required_scopes_come_from_the_key_meta(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "plan-scopes", permissions=frozenset(STRATEGY_SCOPES) - {Scope.CREATE_ORDERS})
    result = run_key(sandbox, key, meta={"required_scopes": ("query_funds", "query_open_orders")})
    assert (result.diagnosis, result.permissions) == (
        "ok", {"query_funds": "granted", "query_open_orders": "granted", "withdraw": "missing"})


def test_ccxt_session_is_closed_after_each_test(sandbox: SandboxServer) -> None:
    # An unclosed keep-alive connection parks one sandbox handler thread until the client is garbage
    # collected; with the collector off, only an explicit close() lets those threads finish.
    key = make_key(sandbox, "plan-close")
    run_key(sandbox, key)
    baseline = threading.active_count()
    gc.disable()
    try:
        for _ in range(4):
            run_key(sandbox, key)
        deadline = time.monotonic() + 3
        while threading.active_count() > baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= baseline, [t.name for t in threading.enumerate()]
    finally:
        gc.enable()


def test_a_threads_client_serves_key_after_key_and_keeps_nothing_of_the_last_one(
    sandbox: SandboxServer,
) -> None:
    from nbsupport.venues import client as venue_client
    from nbsupport.venues.registry import venue_for

    first, second = make_key(sandbox, "plan-reuse-a"), make_key(sandbox, "plan-reuse-b")
    shape = venue_client._shape("kraken", sandbox_settings(sandbox), venue_for("kraken"))
    assert run_key(sandbox, first).diagnosis == "ok"
    idle = venue_client._idle_clients()[shape]
    # The sandbox checks every signature: the reused client signed with the second key's secret.
    assert run_key(sandbox, second).diagnosis == "ok"
    assert venue_client._idle_clients()[shape] is idle
    kept = {name: getattr(idle, name) for name in ("apiKey", "secret", "password", "uid", "session",
                                                   "last_request_headers", "last_request_body",
                                                   "last_http_response", "last_json_response")}
    assert kept == dict.fromkeys(kept)
    assert "fetch" not in vars(idle) and idle.markets is None
    assert second.secret not in repr(vars(idle)) and second.api_key not in repr(vars(idle))


def test_clients_are_kept_per_thread_and_per_configuration(sandbox: SandboxServer) -> None:
    from nbsupport.venues import client as venue_client

    key = make_key(sandbox, "plan-reuse-shape")
    run_key(sandbox, key)
    run_key(sandbox, key, settings=sandbox_settings(sandbox, request_timeout_ms=900))
    timeouts = sorted(c.timeout for c in venue_client._idle_clients().values() if c.id == "kraken")
    assert 900 in timeouts and len(timeouts) >= 2
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(dict(venue_client._idle_clients())))
    worker.start()
    worker.join()
    assert seen == [{}]
