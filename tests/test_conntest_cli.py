"""`python -m nbsupport retest KEY_ID` in a subprocess, against the sandbox, as support would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from test_conntest_support import credentials_of, make_key

from nbsupport.console import Console
from nbsupport.crypto import MasterKeyring
from nbsupport.diagnosis import STRATEGY_SCOPES, Scope
from nbsupport.keys import add_key
from nbsupport.sandbox import SandboxKey, SandboxServer

CONTRACT_KEYS = {"key_id", "outcome", "diagnosis", "missing_permissions", "permissions", "exchange_error",
                 "requests", "duration_ms", "fix"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def store(console: Console, keyring: MasterKeyring, key: SandboxKey) -> int:
    with console.session() as session:
        return add_key(session, keyring, user_email="cli@example.com", exchange="kraken",
                       credentials=credentials_of(key)).id


def retest(cli_env: dict[str, str], sandbox: SandboxServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cli_env, "NBSUPPORT_EXCHANGE_URLS": json.dumps({"kraken": sandbox.origin,
                                                             "krakenfutures": sandbox.origin})}
    return subprocess.run([sys.executable, "-m", "nbsupport", "retest", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_retest_json_prints_the_contract_for_a_failing_key(
    console: Console, keyring: MasterKeyring, sandbox: SandboxServer, cli_env: dict[str, str]
) -> None:
    scopes = frozenset(STRATEGY_SCOPES) - {Scope.QUERY_CLOSED_ORDERS}
    key = make_key(sandbox, "cli-missing", permissions=scopes)
    key_id = store(console, keyring, key)
    done = retest(cli_env, sandbox, str(key_id), "--ticket", "ZD-77", "--json")
    assert done.returncode == 1, done.stderr
    payload = json.loads(done.stdout)
    assert set(payload) >= CONTRACT_KEYS
    assert (payload["key_id"], payload["outcome"], payload["diagnosis"]) == (key_id, "failed",
                                                                             "missing_permission")
    assert payload["missing_permissions"] == ["query_closed_orders"]
    assert set(payload["fix"]) == {"id", "title", "steps", "customer_reply"}
    assert payload["requests"] == 2 and payload["test_id"] is not None
    assert key.api_key not in done.stdout + done.stderr and key.secret not in done.stdout + done.stderr


def test_retest_of_a_healthy_key_exits_zero_and_then_is_refused_in_cooldown(
    console: Console, keyring: MasterKeyring, sandbox: SandboxServer, cli_env: dict[str, str]
) -> None:
    key_id = store(console, keyring, make_key(sandbox, "cli-healthy"))
    first = retest(cli_env, sandbox, str(key_id))
    assert first.returncode == 0, first.stderr
    assert f"key {key_id}: OK  diagnosis=ok" in first.stdout
    again = retest(cli_env, sandbox, str(key_id), "--json")
    assert again.returncode == 3
    assert json.loads(again.stdout)["refused"]["reason"] == "cooldown"
