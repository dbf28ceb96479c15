"""A real console for browser tests: the sandbox venue in-process, `streamlit run` in a subprocess on a
free port with a fresh demo database, and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nbsupport.sandbox import EgressProxy, SandboxServer
from tests.sandbox_fixtures import running_sandbox

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
ADMIN = "admin@nb.test"
ANALYST = "analyst@nb.test"
EGRESS_IP = "127.0.0.2"
STARTUP_TIMEOUT_S = 60


@dataclass(frozen=True)
class LiveApp:
    url: str
    home: Path
    database_url: str
    log: Path
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:  # noqa: S310 (loopback)
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit not healthy within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(timeout_fault_s=2.0) as server:
        yield server


def demo_env(home: Path, sandbox_origin: str, **settings: str) -> dict[str, str]:
    """The environment of a console in demo mode on its own SQLite database under `home`, whose Kraken
    spot and Futures requests reach the sandbox at `sandbox_origin`; `settings` (NBSUPPORT_* names) add
    to or override these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBSUPPORT_")}
    env.update(
        NBSUPPORT_HOME=str(home), NBSUPPORT_DATABASE_URL=f"sqlite:///{home / 'nbsupport.sqlite3'}",
        NBSUPPORT_DEMO="1",
        NBSUPPORT_EXCHANGE_URLS=json.dumps({"kraken": sandbox_origin, "krakenfutures": sandbox_origin}),
        NBSUPPORT_REQUEST_TIMEOUT_MS="3000", PYTHONPATH=str(REPO_ROOT),
    )
    env.update(settings)
    return env


@contextmanager
def streamlit_run(home: Path, env: dict[str, str], log_name: str) -> Iterator[LiveApp]:
    port = free_port()
    log = home / log_name
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield LiveApp(url, home, env["NBSUPPORT_DATABASE_URL"], log, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxServer) -> Iterator[LiveApp]:
    """The console every browser file shares, started as `scripts/run` starts it: demo mode, re-tests
    leave through an egress proxy on EGRESS_IP (also the configured NBSUPPORT_EGRESS_IP, so a hard-coded
    platform address on screen cannot pass for it), no cooldown (files re-test the same practice keys),
    signed in locally as an admin (every page visible)."""
    home = tmp_path_factory.mktemp("console-home")
    with EgressProxy(EGRESS_IP) as proxy:
        env = demo_env(home, sandbox.origin, NBSUPPORT_DEMO_IDENTITY=ADMIN,
                       NBSUPPORT_ROLES=json.dumps({ADMIN: "admin", ANALYST: "analyst"}),
                       NBSUPPORT_EGRESS_PROXY=proxy.url, NBSUPPORT_EGRESS_IP=EGRESS_IP,
                       NBSUPPORT_RETEST_COOLDOWN_S="0")
        with streamlit_run(home, env, "streamlit.log") as console:
            yield console


@pytest.fixture(scope="session")
def analyst_server(console_server: LiveApp) -> Iterator[LiveApp]:
    """A second server on the shared demo database whose local identity is an analyst."""
    env = {**console_server.env, "NBSUPPORT_DEMO_IDENTITY": ANALYST}
    with streamlit_run(console_server.home, env, "streamlit-analyst.log") as console:
        yield console


@pytest.fixture
def restarted_server(console_server: LiveApp) -> Iterator[LiveApp]:
    """A second server process on the same database that no request has reached yet, as after a deploy."""
    with streamlit_run(console_server.home, console_server.env, "streamlit-restarted.log") as console:
        yield console


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright; skips the test where it is not installed."""
    if not CHROMIUM.is_file() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium with apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    with launch_chromium() as chromium:
        yield chromium


@contextmanager
def new_visitor(browser: Any) -> Iterator[Any]:
    """A new visitor: a fresh browser context (no cookies, no session state)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser: object, console_server: LiveApp) -> Iterator[object]:
    """A new visitor of the shared console."""
    with new_visitor(browser) as visitor:
        yield visitor
