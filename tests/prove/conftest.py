"""Shared fixtures of the "prove it holds" suites: the figures recorder, a sandbox venue holding the demo
cast, a console pointed at it, the same for `python -m nbsupport` subprocesses, and the environment for
in-process entry points."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from nbsupport import config
from nbsupport.audit import Actor
from nbsupport.console import Console
from nbsupport.sandbox import SandboxServer
from tests.prove.support import REQUEST_TIMEOUT_MS, SANDBOX_TIMEOUT_FAULT_S, sandbox_settings
from tests.prove.tally import Recorder, plugin, suite_of
from tests.sandbox_fixtures import running_sandbox

AGENT = Actor("prove.agent@noonbarbari.test", "agent")


def pytest_configure(config: pytest.Config) -> None:
    plugin(config)


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Recorder:
    return Recorder(plugin(request.config).tally, suite_of(request.node.nodeid))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """One sandbox per module holding the demo cast; tests that set server-wide faults reset them."""
    with running_sandbox(timeout_fault_s=SANDBOX_TIMEOUT_FAULT_S) as server:
        yield server
        server.set_fault(None)


@pytest.fixture
def venue_console(console: Console, sandbox: SandboxServer) -> Console:
    """The test's console with ccxt pointed at the sandbox, fast timeouts and no cooldown."""
    console.settings = sandbox_settings(console.settings, sandbox)
    return console


@pytest.fixture
def venue_env(cli_env: dict[str, str], sandbox: SandboxServer) -> dict[str, str]:
    """`cli_env` plus the sandbox origin and the fast timeout, for `python -m nbsupport` subprocesses."""
    return {
        **cli_env,
        "NBSUPPORT_EXCHANGE_URLS": json.dumps({"kraken": sandbox.origin, "krakenfutures": sandbox.origin}),
        "NBSUPPORT_REQUEST_TIMEOUT_MS": str(REQUEST_TIMEOUT_MS),
        "NBSUPPORT_RETEST_COOLDOWN_S": "0",
    }


@pytest.fixture
def use_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, str]], None]]:
    """Set environment variables for in-process entry points (`cli.main`, AppTest) and drop the cached
    settings, so the next `Console.open()` reads them; everything is restored after the test."""

    def apply(env: dict[str, str]) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        config.get_settings.cache_clear()

    yield apply
    config.get_settings.cache_clear()
