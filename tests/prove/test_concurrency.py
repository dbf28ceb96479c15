"""Concurrency: many re-tests of one key at once (threads, and `retest` processes) run exactly one test and
never put two requests for that key in flight at the venue; hundreds of re-tests of different keys at once
each get their own, correct result and their own whole record."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nbsupport.conntest import ConnectionOutcome, RetestRefused, run_retest
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.diagnosis import STRATEGY_SCOPES, Scope
from nbsupport.sandbox import SandboxKey, SandboxServer
from nbsupport.sandbox.cast import FOREIGN_IP, derived_secret
from tests.prove.conftest import AGENT
from tests.prove.support import (
    REPO_ROOT,
    fresh_key,
    inconsistencies,
    key_credentials,
    key_record,
    row_counts,
    sandbox_settings,
    store,
)
from tests.prove.tally import Recorder
from tests.sandbox_fixtures import running_sandbox

# A process that has imported everything, then waits for the gate file: the start line is the same for all.
GATED_CLI = """
import os, sys, time
from nbsupport.cli import build_parser, main
import nbsupport.conntest
build_parser()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.002)
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Every request takes a little while, so a test of one key spans the others' attempts."""
    with running_sandbox(latency_ms=15, timeout_fault_s=2.0) as server:
        yield server


def _attempt(
    console: Console, key_id: int, start: threading.Barrier | None
) -> ConnectionOutcome | RetestRefused:
    if start is not None:
        start.wait()
    try:
        return run_retest(console, key_id, actor=AGENT, ticket="ZD-RACE")
    except RetestRefused as refused:
        return refused


def _refusal_is_clear(refused: RetestRefused) -> bool:
    text = str(refused)
    return (
        refused.reason in ("in_progress", "cooldown")
        and refused.retry_after_s >= 1
        and "Try again in" in text
        and "\n" not in text
    )


def test_twenty_threads_and_two_processes_retesting_one_key_run_exactly_one_test(
    venue_console: Console,
    keyring: MasterKeyring,
    sandbox: SandboxServer,
    venue_env: dict[str, str],
    tmp_path: Path,
    tally: Recorder,
) -> None:
    console = venue_console
    console.settings = sandbox_settings(console.settings, sandbox, retest_cooldown_s=60)
    key = fresh_key(sandbox, "stampede", key_info_enabled=False)  # the longest plan: 7 requests
    key_id = store(console, keyring, key_credentials(key), email="stampede@example.com")
    gate = tmp_path / "go"
    env = {**venue_env, "NBSUPPORT_RETEST_COOLDOWN_S": "60"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", GATED_CLI, str(gate), "retest", str(key_id), "--json"],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    start = threading.Barrier(21)
    tally.concurrent(22)
    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(_attempt, console, key_id, start) for _ in range(20)]
        start.wait()
        gate.touch()
        outcomes = [f.result() for f in futures]
    finished = [p.communicate(timeout=120) for p in processes]

    ran = [o for o in outcomes if isinstance(o, ConnectionOutcome)]
    refused = [o for o in outcomes if isinstance(o, RetestRefused)]
    answers = [json.loads(out) for out, _ in finished]
    for process, (out, err) in zip(processes, finished, strict=True):
        assert not tally.shown(out, err)
        assert process.returncode in (0, 3), err
    ran_in_processes = [a for a in answers if "refused" not in a]
    refused_in_processes = [a["refused"] for a in answers if "refused" in a]
    tally.scenario(22)
    assert len(ran) + len(ran_in_processes) == 1
    assert all(_refusal_is_clear(r) for r in refused) and len(refused) + len(refused_in_processes) == 21
    assert all(
        r["reason"] in ("in_progress", "cooldown") and "Try again in" in r["message"]
        for r in refused_in_processes
    )
    assert sandbox.log.max_overlap_per_key() <= 1 and len(sandbox.requests_for(key.api_key)) == 7
    record = key_record(console, key_id)
    assert not tally.lost(
        inconsistencies(record) + abs(record.tests - 1) + row_counts(console)["retest_leases"]
    )


def test_one_key_hammered_without_a_cooldown_never_has_two_requests_in_flight(
    venue_console: Console, keyring: MasterKeyring, sandbox: SandboxServer, tally: Recorder
) -> None:
    """Only the lease stands between the attempts: tests run one after another, each recorded whole."""
    console = venue_console
    key = fresh_key(sandbox, "hammer")
    key_id = store(console, keyring, key_credentials(key), email="hammer@example.com")
    sandbox.clear()
    start = threading.Barrier(20)

    def hammer(_: int) -> list[ConnectionOutcome | RetestRefused]:
        start.wait()
        return [_attempt(console, key_id, None) for _ in range(8)]

    tally.concurrent(160)
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = [o for batch in pool.map(hammer, range(20)) for o in batch]
    tally.scenario(len(outcomes))
    ran = [o for o in outcomes if isinstance(o, ConnectionOutcome)]
    refused = [o for o in outcomes if isinstance(o, RetestRefused)]
    # Back-to-back tests spend the key's own rate limit: the venue says so, and the console reports it.
    assert ran and {r.diagnosis for r in ran} <= {"ok", "rate_limited"}
    assert all(r.reason == "in_progress" and _refusal_is_clear(r) for r in refused)
    assert sandbox.log.max_overlap_per_key() == 1
    assert len(sandbox.requests_for(key.api_key)) == sum(r.requests for r in ran)
    record = key_record(console, key_id)
    assert not tally.lost(
        inconsistencies(record) + abs(record.tests - len(ran)) + row_counts(console)["retest_leases"]
    )


# --- many keys at once ----------------------------------------------------------------------------------

STRATEGY = frozenset(STRATEGY_SCOPES)
# (expected diagnosis, sandbox key settings, stored exchange, secret the user stored differs)
PROFILES: list[tuple[str, dict[str, object], str, bool]] = [
    ("ok", {}, "kraken", False),
    ("ok", {"product": "futures"}, "krakenfutures", False),
    ("missing_permission", {"permissions": STRATEGY - {Scope.QUERY_CLOSED_ORDERS}}, "kraken", False),
    ("withdraw_enabled", {"permissions": STRATEGY | {Scope.WITHDRAW}}, "kraken", False),
    ("credentials_rejected", {}, "kraken", True),
    ("ip_not_allowed", {"ip_allowlist": (FOREIGN_IP,)}, "kraken", False),
    ("wrong_product", {}, "krakenfutures", False),
    ("ok", {"key_info_enabled": False}, "kraken", False),
]


def _many_keys(
    console: Console, keyring: MasterKeyring, sandbox: SandboxServer, count: int
) -> dict[int, tuple[str, SandboxKey]]:
    keys: dict[int, tuple[str, SandboxKey]] = {}
    for n in range(count):
        expected, settings, exchange, wrong_secret = PROFILES[n % len(PROFILES)]
        key = fresh_key(sandbox, f"crowd-{n}", **settings)
        secret = derived_secret(f"{key.name}/typo") if wrong_secret else key.secret
        key_id = store(
            console,
            keyring,
            Credentials(key.api_key, secret),
            email=f"crowd{n % 37}@example.com",
            exchange=exchange,
        )
        keys[key_id] = (expected, key)
    return keys


def _crowd(
    console: Console, keyring: MasterKeyring, sandbox: SandboxServer, count: int, tally: Recorder
) -> None:
    keys = _many_keys(console, keyring, sandbox, count)
    sandbox.clear()
    before = row_counts(console)
    start = threading.Barrier(count)
    tally.concurrent(count)
    failures: dict[int, str] = {}

    def attempt(key_id: int) -> ConnectionOutcome | RetestRefused | None:
        try:
            return _attempt(console, key_id, start)
        except Exception as exc:  # reported with where it came from, for every key it happened to
            failures[key_id] = "".join(traceback.format_exception(exc, limit=-4))
            return None

    with ThreadPoolExecutor(max_workers=count) as pool:
        outcomes = dict(zip(keys, pool.map(attempt, keys), strict=True))
    tally.scenario(count)
    assert not failures, f"{len(failures)} of {count} failed; first: {next(iter(failures.values()))}"
    assert not [o for o in outcomes.values() if isinstance(o, RetestRefused)]
    wrong = {
        k: (o.diagnosis, keys[k][0])
        for k, o in outcomes.items()
        if isinstance(o, ConnectionOutcome) and (o.diagnosis != keys[k][0] or o.key_id != k)
    }
    assert not wrong, wrong
    # Every key's record is its own: one test row with its own diagnosis, last_* equal to it.
    lost = 0
    for key_id, (expected, key) in keys.items():
        record = key_record(console, key_id)
        lost += inconsistencies(record) + abs(record.tests - 1)
        lost += int(record.newest is None or record.newest[2] != expected)
        result = outcomes[key_id]
        assert isinstance(result, ConnectionOutcome)
        # Its requests at the venue are its own (the sibling check of the other product included).
        lost += int(len(sandbox.requests_for(key.api_key)) != result.requests)
    after = row_counts(console)
    lost += abs(after["connection_tests"] - before["connection_tests"] - count)
    lost += abs(after["audit_events"] - before["audit_events"] - count) + after["retest_leases"]
    assert not tally.lost(lost)
    assert sandbox.log.max_overlap_per_key() <= 1


def test_thirty_keys_retested_at_once_each_get_their_own_result(
    venue_console: Console, keyring: MasterKeyring, sandbox: SandboxServer, tally: Recorder
) -> None:
    venue_console.settings = sandbox_settings(venue_console.settings, sandbox, request_timeout_ms=10_000)
    _crowd(venue_console, keyring, sandbox, 32, tally)


@pytest.mark.slow
def test_two_hundred_keys_retested_at_once_each_get_their_own_result(
    venue_console: Console, keyring: MasterKeyring, sandbox: SandboxServer, tally: Recorder
) -> None:
    venue_console.settings = sandbox_settings(venue_console.settings, sandbox, request_timeout_ms=10_000)
    _crowd(venue_console, keyring, sandbox, 200, tally)
