"""Leak scan: run every connection-test scenario of the demo cast, every CLI command and every page as
every role, then look for every credential used - in every form `tests.prove.leaks.Needles` knows - in
the database (SQLite file, -wal, -shm; every row on PostgreSQL), the console's home directory (logs, the
sandbox log), captured stdout/stderr, every log record (the root logger at DEBUG), exception texts,
results and progress events, Streamlit's cache directories and everything a page rendered. Zero hits.

While credentials are loaded, ccxt must never be verbose and its loggers never below WARNING: every
request any ccxt client sends is observed at the moment it is sent, with the loggers deliberately set to
DEBUG beforehand (a careless deployment's logging config) so the console's guard has to act.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ccxt
import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from nbsupport.conntest import ProgressEvent, run_retest
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import generate_master_key
from nbsupport.db.models import ExchangeKey
from nbsupport.sandbox import EgressProxy, SandboxServer, demo_cast
from nbsupport.sandbox.cast import DEMO_EGRESS_IP, derived_api_key, derived_secret
from tests.prove.conftest import AGENT
from tests.prove.leaks import Needles, scan_database, scan_files
from tests.prove.support import (
    REPO_ROOT,
    REQUEST_TIMEOUT_MS,
    UseEnv,
    app_env,
    cli_in_process,
    credentials_of,
    run_cli,
    sandbox_settings,
    settings_env,
    store,
    store_member,
)
from tests.prove.tally import Recorder

# Lowered to DEBUG before every test here, as a careless logging config would; the console must raise them.
CCXT_LOGGERS = ("ccxt", "ccxt.base", "ccxt.base.exchange", "nbsupport.venues.ccxt")
# The loggers ccxt writes through (`ccxt.base.exchange` logs request headers, the API key, at DEBUG), and
# its root `ccxt`; the client's own `logger` attribute is checked too.
CHECKED_LOGGERS = ("ccxt", "ccxt.base.exchange")
# A venue that issues a passphrase, pointed at the sandbox like the others (it answers in Kraken's dialect).
PASSPHRASE_VENUE = "okx"
PASSPHRASE_CREDENTIALS = Credentials(
    derived_api_key("prove-okx"), derived_secret("prove-okx"), password="Okx-Passphrase-7f3a9c2e1b"
)


def cast_needles() -> Needles:
    needles = Needles()
    for member in demo_cast():
        needles.add(f"cast member {member.name} (stored)", credentials_of(member))
        if member.key is not None:
            needles.add(
                f"cast member {member.name} (venue)", Credentials(member.key.api_key, member.key.secret)
            )
    needles.add("the passphrase key", PASSPHRASE_CREDENTIALS)
    return needles


def streamlit_cache_dirs() -> list[Path]:
    return [Path.home() / ".streamlit", REPO_ROOT / ".streamlit" / "cache"]


@dataclass
class Watch:
    """Everything logged (root at DEBUG) and the ccxt state at every request sent."""

    records: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def unsafe_requests(self) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if r["verbose"] or min(*r["levels"].values(), r["client_level"]) < logging.WARNING
        ]


class _Keep(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.append(self.format(record))
        except Exception:  # a record that cannot format is itself worth seeing
            self.sink.append(f"{record.name} unformattable {record.msg!r} {record.args!r}")


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    seen = Watch()
    root = logging.getLogger()
    handler = _Keep(seen.records)
    saved = {name: logging.getLogger(name).level for name in ("", *CCXT_LOGGERS)}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in CCXT_LOGGERS:  # the worst logging config a deployment could bring
        logging.getLogger(name).setLevel(logging.DEBUG)
    real_fetch = ccxt.Exchange.fetch

    def observed_fetch(self: ccxt.Exchange, *args: Any, **kwargs: Any) -> Any:
        seen.requests.append(
            {
                "exchange": self.id,
                "verbose": bool(self.verbose),
                "levels": {name: logging.getLogger(name).getEffectiveLevel() for name in CHECKED_LOGGERS},
                "client_level": (self.logger or logging.getLogger("ccxt.base.exchange")).getEffectiveLevel(),
            }
        )
        return real_fetch(self, *args, **kwargs)

    monkeypatch.setattr(ccxt.Exchange, "fetch", observed_fetch)
    try:
        yield seen
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="module")
def proxy() -> Iterator[EgressProxy]:
    with EgressProxy(DEMO_EGRESS_IP) as egress:
        yield egress


def _assert_ccxt_was_quiet(watch: Watch, tally: Recorder) -> None:
    assert watch.requests, "no ccxt request was observed: the scan would prove nothing"
    unsafe = watch.unsafe_requests()
    # A verbose client or a DEBUG ccxt logger prints the API-Key header: count each such request as a leak.
    assert not tally.leaks([f"ccxt request while verbose/DEBUG: {r}" for r in unsafe])


# --- 1. every connection-test scenario through the engine ------------------------------------------------


def test_every_cast_scenario_through_run_retest_leaves_no_secret_anywhere(
    venue_console: Console,
    sandbox: SandboxServer,
    proxy: EgressProxy,
    watch: Watch,
    capfd: pytest.CaptureFixture[str],
    tally: Recorder,
) -> None:
    console = venue_console
    console.settings = sandbox_settings(
        console.settings,
        sandbox,
        egress_proxy=proxy.url,
        egress_ip=DEMO_EGRESS_IP,
        exchange_urls={
            "kraken": sandbox.origin,
            "krakenfutures": sandbox.origin,
            PASSPHRASE_VENUE: sandbox.origin,
        },
    )
    keyring = console.keyring()
    expected: dict[int, str] = {}
    for member in demo_cast():
        expected[store_member(console, keyring, member)] = member.expected_diagnosis
    passphrase_key = store(
        console, keyring, PASSPHRASE_CREDENTIALS, email="okx@example.com", exchange=PASSPHRASE_VENUE
    )
    artifacts: list[str] = []
    diagnoses: dict[int, str] = {}
    for key_id in [*expected, passphrase_key]:
        events: list[ProgressEvent] = []
        tally.scenario()
        try:
            result = run_retest(
                console, key_id, actor=AGENT, ticket="ZD-LEAK", progress=events.append, ignore_cooldown=True
            )
        except Exception as exc:  # every exception text is an artifact too (and a failure below)
            artifacts.append(f"{exc!s} {exc!r}")
            raise
        diagnoses[key_id] = result.diagnosis
        artifacts.append(json.dumps(result.as_dict(), default=str))
        artifacts.append(repr(result))
        artifacts.extend(f"{e!r} {e.as_dict()}" for e in events)
    assert {k: diagnoses[k] for k in expected} == expected

    needles = cast_needles()
    hits, _ = scan_database(needles, console)
    files, _ = scan_files(needles, [console.settings.home, *streamlit_cache_dirs()])
    hits += files
    out, err = capfd.readouterr()
    hits += needles.scan(out, "stdout") + needles.scan(err, "stderr")
    hits += needles.scan("\n".join(watch.records), "log records")
    hits += needles.scan("\n".join(artifacts), "results, progress events and exception texts")
    assert not tally.leaks(hits)
    assert not tally.shown(out, err, *artifacts)
    _assert_ccxt_was_quiet(watch, tally)


# --- 2. every CLI command, in this process and each in its own process -----------------------------------


@dataclass
class SandboxProcess:
    origin: str
    proxy_url: str
    process: subprocess.Popen[str]


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[SandboxProcess]:
    """`python -m nbsupport.sandbox` as scripts/run starts it, its stderr going to a log file we scan."""
    log = (tmp_path / "home").resolve()
    log.mkdir(parents=True, exist_ok=True)
    with (log / "sandbox.log").open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nbsupport.sandbox",
                "--port",
                "0",
                "--timeout-fault-s",
                "2",
                "--egress-ip",
                DEMO_EGRESS_IP,
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
        )
        try:
            assert proc.stdout is not None
            origin, proxy_url = proc.stdout.readline().strip(), proc.stdout.readline().strip()
            assert origin.startswith("http://") and proxy_url.startswith("http://"), "sandbox did not start"
            yield SandboxProcess(origin, proxy_url, proc)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()


Command = tuple[tuple[str, ...], str]  # argv, stdin


def _stages(key_ids: dict[str, int], okx_id: int, added: dict[str, Any]) -> list[list[Command]]:
    """The commands after the keys are stored, in stages; a stage's commands run side by side."""
    retests = [
        (("retest", str(key_ids[name]), *flags), "")
        for name, flags in (
            ("healthy-spot", ()),
            ("wrong-secret", ("--json",)),
            ("missing-closed-orders", ("--json",)),
            ("egress-allowlisted", ()),
            ("timeout", ("--json",)),
            ("clipboard-mangled-secret", ()),
            ("spot-key-saved-as-futures", ("--json",)),
            ("withdraw-enabled", ()),
        )
    ]
    masked, added_id = added["masked_key"], added["key_id"]
    return [
        [
            (("lookup", "leak@example.com"), ""),
            (("lookup", f"key:{okx_id}", "--json"), ""),
            (("lookup", masked, "--json"), ""),
            (("lookup", masked[:4]), ""),
            (("lookup", added["fingerprint"]), ""),
            (("lookup", f"https://help.noonbarbari.test/ticket/1?key={added_id}"), ""),
            (("triage", "--json", "--ticket", "ZD-CLI"), f"leak@example.com: key {masked} EAPI:Invalid key"),
        ],
        retests[:4],
        retests[4:],
        [(("retest", str(added_id), "--json", "--ticket", "ZD-CLI"), ""), (("retest", str(okx_id)), "")],
        [
            (("explain", "kraken {'error': ['EAPI:Invalid key']}"), ""),
            (
                ("explain", "-", "--json"),
                "ccxt.base.errors.AuthenticationError: kraken EGeneral:Permission denied",
            ),
            (("guide", "--exchange", "kraken"), ""),
            (("guide", "--json"), ""),
        ],
        [
            (("backfill-health", "--json"), ""),
            (("backfill-health", "--probe", str(key_ids["healthy-spot"])), ""),
            (("stats", "--json"), ""),
            (("stats",), ""),
        ],
        [(("bulk-retest", "--dry-run", "--exchange", "kraken", "--json"), "")],
        [
            (("bulk-retest", "--exchange", "kraken", "--since", "1h", "--concurrency", "2", "--json"), ""),
            (("rebuild-rollups",), ""),
        ],
        [(("generate-master-key", "v9"), ""), (("--help",), ""), (("retest", "--help"), "")],
    ]


Run = Callable[..., tuple[int, str, str]]  # (argv, stdin="", **env changes) -> (code, stdout, stderr)


def _cli_sweep(console: Console, run: Run, master_keys: str) -> list[str]:
    """Every command, against a database the `demo` command fills; returns everything they printed."""
    outputs: list[str] = []

    def ok(argv: tuple[str, ...], stdin: str = "", **env_changes: str) -> str:
        code, out, err = run(argv, stdin, **env_changes)
        outputs.extend((out, err))
        assert code in (0, 1), f"{argv} -> {code}: {err}"
        return out

    ok(("init-db",))
    built = json.loads(ok(("demo", "--users", "12", "--seed", "5", "--json")))
    assert built["practice_keys"] >= len(demo_cast()) - 1
    with console.session() as session:
        key_ids = dict(
            session.execute(
                select(ExchangeKey.label, ExchangeKey.id).where(
                    ExchangeKey.label.in_([m.name for m in demo_cast()])
                )
            ).all()
        )
    member = {m.name: m for m in demo_cast()}["withdraw-enabled"]
    added = json.loads(
        ok(
            (
                "keys",
                "add",
                "--user",
                "leak@example.com",
                "--exchange",
                "kraken",
                "--label",
                "cli",
                "--ip-whitelist",
                DEMO_EGRESS_IP,
                "--json",
            ),
            f"{member.api_key}\n{member.secret}\n",
        )
    )
    okx = PASSPHRASE_CREDENTIALS
    ok(
        ("keys", "add", "--user", "okx@example.com", "--exchange", PASSPHRASE_VENUE),
        f"{okx.api_key}\n{okx.secret}\n{okx.password}\n",
    )
    okx_id = json.loads(ok(("lookup", "okx@example.com", "--json")))["keys"][0]["id"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for stage in _stages(key_ids, okx_id, added):
            list(pool.map(lambda command: ok(*command), stage))
    rotated = ok(
        ("rotate-master-key", "--json"), NBSUPPORT_MASTER_KEYS=f"{generate_master_key('v2')},{master_keys}"
    )
    assert json.loads(rotated)["remaining_by_version"] == {}
    return outputs


def _scan_after_cli(console: Console, outputs: list[str], tally: Recorder) -> None:
    needles = cast_needles()
    hits, _ = scan_database(needles, console)
    files, _ = scan_files(needles, [console.settings.home, *streamlit_cache_dirs()])
    hits += files
    hits += needles.scan("\n".join(outputs), "CLI stdout/stderr")
    assert not tally.leaks(hits)
    assert not tally.shown(*outputs)


def test_every_cli_command_in_process_leaves_no_secret_in_output_or_database(
    venue_console: Console,
    proxy: EgressProxy,
    use_env: UseEnv,
    watch: Watch,
    capfd: pytest.CaptureFixture[str],
    tally: Recorder,
) -> None:
    """`nbsupport.cli.main` in this process: fast, and its log records and ccxt clients are observable."""
    venue_console.settings = venue_console.settings.model_copy(
        update={
            "exchange_urls": {
                **venue_console.settings.exchange_urls,
                PASSPHRASE_VENUE: venue_console.settings.exchange_urls["kraken"],
            },
            "egress_proxy": proxy.url,
            "egress_ip": DEMO_EGRESS_IP,
        }
    )
    settings = venue_console.settings
    env = settings_env(settings)
    use_env(env)
    lock = threading.Lock()  # the environment is process-wide: one command at a time in here

    def run(argv: tuple[str, ...], stdin: str = "", **env_changes: str) -> tuple[int, str, str]:
        tally.scenario()
        with lock:
            use_env({**env, **env_changes})
            try:
                done = cli_in_process(argv, stdin)
            except BaseException:
                tally.traceback()
                raise
            finally:
                use_env(env)
        return done.code, done.stdout, done.stderr

    outputs = _cli_sweep(venue_console, run, settings.master_keys)
    out, err = capfd.readouterr()
    outputs += [out, err, *watch.records]
    _scan_after_cli(venue_console, outputs, tally)
    _assert_ccxt_was_quiet(watch, tally)


@pytest.mark.slow
def test_every_cli_command_in_its_own_process_leaves_no_secret_in_output_logs_or_database(
    console: Console,
    cli_env: dict[str, str],
    sandbox_process: SandboxProcess,
    tally: Recorder,
) -> None:
    origins = {
        "kraken": sandbox_process.origin,
        "krakenfutures": sandbox_process.origin,
        PASSPHRASE_VENUE: sandbox_process.origin,
    }
    env = {
        **cli_env,
        "NBSUPPORT_EXCHANGE_URLS": json.dumps(origins),
        "NBSUPPORT_EGRESS_PROXY": sandbox_process.proxy_url,
        "NBSUPPORT_EGRESS_IP": DEMO_EGRESS_IP,
        "NBSUPPORT_REQUEST_TIMEOUT_MS": str(REQUEST_TIMEOUT_MS),
        "NBSUPPORT_RETEST_COOLDOWN_S": "0",
    }

    def run(argv: tuple[str, ...], stdin: str = "", **env_changes: str) -> tuple[int, str, str]:
        tally.scenario()
        done = run_cli({**env, **env_changes}, *argv, stdin=stdin)
        return done.returncode, done.stdout, done.stderr

    outputs = _cli_sweep(console, run, cli_env["NBSUPPORT_MASTER_KEYS"])
    assert (console.settings.home / "sandbox.log").is_file()
    _scan_after_cli(console, outputs, tally)


# --- 3. every page as every role ------------------------------------------------------------------------

PAGES = (
    "pages/triage.py",
    "pages/lookup.py",
    "pages/key_detail.py",
    "pages/backfill.py",
    "pages/error_guide.py",
    "pages/failure_stats.py",
    "pages/bulk_retest.py",
    "pages/audit_log.py",
)
ROLES = {"agent": "agent@prove.test", "analyst": "analyst@prove.test", "admin": "admin@prove.test"}


@pytest.fixture
def signed_in(
    monkeypatch: pytest.MonkeyPatch, use_env: UseEnv, venue_console: Console
) -> Callable[[str], None]:
    """The app in demo mode on this test's database and sandbox, signed in as the given role."""
    roles = {email: role for role, email in ROLES.items()}
    monkeypatch.setattr("nbsupport.ui.session.seed_demo", lambda console: None)

    def as_role(role: str) -> None:
        use_env(app_env(venue_console.settings, ROLES[role], roles))

    as_role("agent")
    return as_role


def _page(page: str, params: dict[str, str] | None = None) -> AppTest:
    """Through the router when the role's navigation has the page, else the page file on its own (as a
    hand-typed URL would reach it): either way, everything it renders is scanned."""
    at = AppTest.from_file(str(REPO_ROOT / "streamlit_app.py"), default_timeout=60)
    at.run()
    try:
        at.switch_page(page)
    except ValueError:
        at = AppTest.from_file(str(REPO_ROOT / page), default_timeout=60)
    at.query_params.clear()
    at.query_params.update(params or {})
    return at.run()


def _page_text(at: AppTest) -> str:
    from tests.pages.support import rendered

    return rendered(at) + "\n" + "\n".join(str(e.value) for e in at.exception)


def test_every_page_as_every_role_renders_no_secret(
    venue_console: Console,
    sandbox: SandboxServer,
    signed_in: Callable[[str], None],
    watch: Watch,
    capfd: pytest.CaptureFixture[str],
    tally: Recorder,
) -> None:
    console = venue_console
    keyring = console.keyring()
    members = {m.name: m for m in demo_cast()}
    ids = {
        name: store_member(console, keyring, members[name])
        for name in ("healthy-spot", "missing-closed-orders", "wrong-secret", "withdraw-enabled")
    }
    for key_id in ids.values():  # history, rollups and last_* for the key cards and the fleet pages
        run_retest(console, key_id, actor=AGENT, ticket="ZD-PAGES", trigger="save")
    from nbsupport.fleet.stats.rollups import rebuild_rollups

    rebuild_rollups(console)
    shown: list[str] = []
    for role in ROLES:
        signed_in(role)
        for page in PAGES:
            params = {"key": str(ids["missing-closed-orders"])} if page == "pages/key_detail.py" else {}
            tally.scenario()
            at = _page(page, params)
            shown.append(_page_text(at))
            if page == "pages/lookup.py" and role != "analyst":
                at.text_input(key="lookup_query").set_value("missing-closed-orders@cast.example.com").run()
                tally.scenario()
                shown.append(_page_text(at))
            if page == "pages/triage.py" and role != "analyst":
                at.text_area(key="triage_paste").input(
                    "missing-closed-orders@cast.example.com: EGeneral:Permission denied")
                next(b for b in at.button if b.label == "Triage").click().run()
                tally.scenario()
                shown.append(_page_text(at))
    # A real re-test from the key page, through the engine and the sandbox, for every stored key.
    from tests.pages.support import finish_retests, set_ticket

    signed_in("agent")
    for name, key_id in ids.items():
        at = _page("pages/key_detail.py", {"key": str(key_id)})
        set_ticket(at, "ZD-4321")
        next(b for b in at.button if b.label == "Re-test").click()
        at.run(timeout=60)
        finish_retests(console, at)
        tally.scenario()
        text = _page_text(at)
        shown.append(text)
        assert members[name].expected_diagnosis in text, f"{name}: the page did not show its diagnosis"

    needles = cast_needles()
    hits = needles.scan("\n".join(shown), "rendered pages")
    db_hits, _ = scan_database(needles, console)
    file_hits, _ = scan_files(needles, [console.settings.home, *streamlit_cache_dirs()])
    out, err = capfd.readouterr()
    hits += db_hits + file_hits + needles.scan(out + err, "stdout/stderr")
    hits += needles.scan("\n".join(watch.records), "log records")
    assert not tally.leaks(hits)
    assert not tally.shown(*shown, out, err)
    _assert_ccxt_was_quiet(watch, tally)


# --- the scan itself ------------------------------------------------------------------------------------


def test_the_scan_finds_a_planted_secret_in_every_kind_of_artifact(console: Console) -> None:
    """The zero above means something: the same scan finds each form of a credential where it is planted."""
    member = next(m for m in demo_cast() if m.name == "healthy-spot")
    creds = credentials_of(member)
    needles = Needles()
    needles.add("planted", creds)
    key_id = store(console, console.keyring(), creds, email="planted@example.com")
    home = console.settings.home
    home.mkdir(parents=True, exist_ok=True)  # only the embedded SQLite default creates it
    assert scan_database(needles, console)[0] == [] and scan_files(needles, [home])[0] == []

    with console.session() as session:
        session.execute(
            update(ExchangeKey).where(ExchangeKey.id == key_id).values(label=creds.api_key[10:33])
        )
    assert any("(16-character window) in database rows" in hit for hit in scan_database(needles, console)[0])
    (home / "console.log").write_text(f"retrying with secret={quote(creds.secret, safe='')}\n")
    (home / "cache.bin").write_bytes(b"\x00" * 7 + base64.b64decode(creds.secret) + b"\x01")
    found = scan_files(needles, [home])[0]
    assert any("(url-quoted) in" in hit and "console.log" in hit for hit in found)
    assert any("(base64-decoded bytes) in" in hit and "cache.bin" in hit for hit in found)
    assert needles.scan(f"key {creds.api_key[4:-4]} seen", "stdout") != []
    assert needles.scan(json.dumps({"k": creds.secret}), "a JSON log line") != []


# --- 4. the page source a real browser receives ---------------------------------------------------------

SIDEBAR_PAGES = (
    "Ticket triage",
    "Key lookup",
    "Key detail",
    "Backfill health",
    "Error guide",
    "Failure stats",
    "Bulk re-test",
    "Audit log",
)
SETTLED_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright, as tests/browser drives it."""
    from tests.browser.conftest import launch_chromium

    with launch_chromium() as browser:
        yield browser


def _settle(page: Any) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function(SETTLED_JS, timeout=60_000)
    page.wait_for_load_state("networkidle")


@pytest.mark.slow
@pytest.mark.browser
def test_every_page_source_in_a_real_browser_holds_no_secret(
    chromium: Any, sandbox: SandboxServer, tmp_path: Path, tally: Recorder
) -> None:
    """`streamlit run` on a fresh demo database (its practice keys hold the cast's credentials), every page
    from the sidebar and a re-test in headless Chromium: the HTML it was sent, the console's log and home."""
    from nbsupport.demo import practice_email
    from tests.browser.conftest import streamlit_run

    home = tmp_path / "browser-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBSUPPORT_")}
    env.update(
        NBSUPPORT_HOME=str(home),
        NBSUPPORT_DATABASE_URL=f"sqlite:///{home / 'nbsupport.sqlite3'}",
        NBSUPPORT_DEMO="1",
        NBSUPPORT_DEMO_IDENTITY="admin@prove.test",
        NBSUPPORT_ROLES=json.dumps({"admin@prove.test": "admin"}),
        NBSUPPORT_EXCHANGE_URLS=json.dumps({"kraken": sandbox.origin, "krakenfutures": sandbox.origin}),
        NBSUPPORT_REQUEST_TIMEOUT_MS="3000",
        PYTHONPATH=str(REPO_ROOT),
    )
    sources: list[str] = []
    with streamlit_run(home, env, "streamlit.log") as server:
        context = chromium.new_context(viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            page.goto(server.url)
            page.get_by_role("heading", name="Ticket triage", exact=True).first.wait_for()
            _settle(page)
            for title in SIDEBAR_PAGES:
                page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
                page.get_by_role("heading", name=title, exact=True).first.wait_for()
                _settle(page)
                tally.scenario()
                sources.append(page.content())
            for case in ("missing-closed-orders", "withdraw-enabled", "wrong-secret"):
                page.locator('[data-testid="stSidebarNav"]').get_by_text("Key lookup", exact=True).click()
                search = page.get_by_role("textbox", name="Search")
                search.fill(practice_email(case))
                search.press("Enter")
                page.get_by_text(f"Practice case {case}").first.wait_for()
                _settle(page)
                sidebar = page.locator('[data-testid="stSidebar"]')
                ticket = sidebar.get_by_role("textbox", name="Ticket reference")
                ticket.fill("ZD-4322")
                ticket.press("Enter")
                _settle(page)
                page.get_by_role("button", name="Re-test").click()
                page.get_by_text(re.compile("^(Green|Amber|Red): ")).first.wait_for()
                _settle(page)
                tally.scenario()
                sources.append(page.content())
                assert case.split("-")[0] in page.content()  # the practice key's own page, not an empty one
        finally:
            context.close()
    needles = cast_needles()
    hits = needles.scan("\n".join(sources), "page source in Chromium")
    file_hits, _ = scan_files(needles, [home, *streamlit_cache_dirs()])
    assert not tally.leaks(hits + file_hits)
    assert not tally.shown(*sources, (home / "streamlit.log").read_text(errors="replace"))
