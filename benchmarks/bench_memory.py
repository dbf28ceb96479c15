"""Peak memory of the Streamlit console process after visiting every page (issue #7: < 400 MB on the big
demo database), side by side with the small one.

For each database it starts `streamlit run streamlit_app.py` headless on a free port (demo mode, signed in
as an admin so every page is in the navigation), drives headless Chromium (Playwright) through every page
with real inputs (a user found in the database by email, a key's deep link, backfill health for that user
and fleet-wide, the error guide with a pasted error, failure stats, the bulk re-test preview without
starting a run, the audit log), and samples the server's memory from /proc the whole time: RSS of the
process and its children every 50 ms, and the kernel's own high-water mark (VmHWM), which catches spikes
between samples.

    .venv/bin/python benchmarks/bench_memory.py                       # var/bench/demo-1000000 vs demo-10000
    .venv/bin/python benchmarks/bench_memory.py --rounds 3            # three visitors in a row (leaks)
    .venv/bin/python benchmarks/bench_memory.py --pages lookup,stats --skip-small
    .venv/bin/python benchmarks/bench_memory.py --database-url postgresql+psycopg://...?options=-csearch_path%3Dbench_u1000000

Exit status 1 when the big database's peak reaches the target. Viewing keys writes audit rows, as in
production; nothing else in the databases changes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nbsupport.keyring import read_or_create_key_file  # noqa: E402

BENCH_DIR = REPO / "var" / "bench"
BIG_USERS, SMALL_USERS = 1_000_000, 10_000
TARGET_MB = 400
ADMIN = "bench.memory@noonbarbari.local"
CHROMIUM = Path("/usr/bin/chromium")
# The flags this machine needs (see tests/browser/conftest.py): no sandbox as root, no GPU, no QUIC.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT_S = 90
PAGE_TIMEOUT_MS = 120_000
SAMPLE_EVERY_S = 0.05
PASTED_ERROR = 'kraken {"error":["EAPI:Invalid signature"]}'
MB = 1024 * 1024


def master_keys() -> str:
    return os.environ.get("NBSUPPORT_MASTER_KEYS") or read_or_create_key_file(BENCH_DIR / "master.key")


def sqlite_url(users: int) -> str:
    return f"sqlite:///{BENCH_DIR / f'demo-{users}.sqlite3'}"


def load() -> str:
    """The machine's 1-minute load average: on a shared 2-core box, render times stretch with it."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


# --- memory of a process tree, from /proc (no psutil in the venv, and /proc says all we need) ---------


def _status_kb(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                kids += [int(c) for c in children.read().split()]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return kids


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def tree_rss_bytes(pid: int) -> int:
    return sum(_status_kb(p, "VmRSS") for p in tree(pid)) * 1024


class MemorySampler:
    """Samples the tree's RSS in a thread; `mark()` starts a new interval whose peak is reported per page."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.interval_peak = 0
        self.children_peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = tree(self.pid)
            rss = sum(_status_kb(p, "VmRSS") for p in pids) * 1024
            children = sum(_status_kb(p, "VmRSS") for p in pids[1:]) * 1024
            with self._lock:
                self.peak = max(self.peak, rss)
                self.interval_peak = max(self.interval_peak, rss)
                self.children_peak = max(self.children_peak, children)
            self._stop.wait(SAMPLE_EVERY_S)

    def mark(self) -> int:
        """Peak since the previous mark (sampled), and start a new interval."""
        with self._lock:
            peak, self.interval_peak = self.interval_peak, tree_rss_bytes(self.pid)
        return peak

    def high_water(self) -> int:
        """The server process's kernel-kept peak RSS (VmHWM), plus its children's sampled peak."""
        return _status_kb(self.pid, "VmHWM") * 1024 + self.children_peak

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


# --- the console under test ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def streamlit_server(database_url: str, workdir: Path) -> Iterator[Server]:
    """`streamlit run` on a free port; terminated (then killed) on the way out, whatever happened."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBSUPPORT_")}
    env.update(
        NBSUPPORT_DATABASE_URL=database_url, NBSUPPORT_MASTER_KEYS=master_keys(), NBSUPPORT_DEMO="1",
        NBSUPPORT_DEMO_IDENTITY=ADMIN, NBSUPPORT_ROLES=json.dumps({ADMIN: "admin"}),
        NBSUPPORT_HOME=str(workdir), PYTHONPATH=str(REPO),
    )
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = workdir / "streamlit.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:  # noqa: S310
                    if reply.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit not healthy within {STARTUP_TIMEOUT_S} s") from None
                time.sleep(0.3)
        yield Server(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- the walk through the console ----------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Real rows of the database under test: a user with one key (found by email) and another key."""

    email: str
    user_key_id: int
    detail_key_id: int


def pick_subject(database_url: str) -> Subject:
    """A failed key past the middle of the id range (a typical customer, not the first rows built) whose
    user has only that key, so the lookup opens it in full; and the next failed key for the deep link."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT k.id, u.email FROM exchange_keys k JOIN users u ON u.id = k.user_id "
                "WHERE k.id >= (SELECT max(id) / 2 FROM exchange_keys) AND k.last_outcome = 'failed' "
                "AND NOT EXISTS (SELECT 1 FROM exchange_keys o WHERE o.user_id = k.user_id AND o.id <> k.id) "
                "ORDER BY k.id LIMIT 2")).all()
    finally:
        engine.dispose()
    if len(rows) < 2:
        raise RuntimeError(f"no suitable user in {database_url}: is it a demo database?")
    return Subject(email=str(rows[0][1]), user_key_id=int(rows[0][0]), detail_key_id=int(rows[1][0]))


# Counts finished script runs in the page: the app root's data-test-script-state goes back to
# "notRunning" at the end of each. Waiting for the count to move is what makes a wait after a click
# reliable; waiting for the text alone would accept the previous run's elements, still on screen.
COUNT_RUNS_JS = """
window.__stRuns = 0;
new MutationObserver((changes) => {
  for (const change of changes) {
    const state = change.target.getAttribute('data-test-script-state');
    if (state === 'notRunning' && change.oldValue !== 'notRunning') window.__stRuns += 1;
  }
}).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                      attributeFilter: ['data-test-script-state']});
"""
SETTLED_JS = """(before) => window.__stRuns > before
  && document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]')
  && !document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSkeleton"]')"""
QUIET_MS = 300


class Clock:
    """When the last wait first saw the page settled: render times leave out the quiet period."""

    settled_at = 0.0


def runs(page: Any) -> int:
    return int(page.evaluate("window.__stRuns || 0"))


def settle(page: Any, before: int) -> None:
    """Until a script run after `before` has finished, nothing is running and every element is drawn (no
    status widget, no skeleton), and it stays so for QUIET_MS: a page that sets query parameters and
    reruns starts its second run right after the first."""
    while True:
        page.wait_for_function(SETTLED_JS, arg=before, timeout=PAGE_TIMEOUT_MS)
        Clock.settled_at = time.perf_counter()
        settled_at = runs(page)
        page.wait_for_timeout(QUIET_MS)
        if runs(page) == settled_at and page.evaluate(SETTLED_JS.join(["(", f")({before})"])):
            return
        before = settled_at


STARTED_JS = """(before) => window.__stRuns > before
  || document.querySelector('[data-testid="stApp"][data-test-script-state="running"]')"""
START_TIMEOUT_MS = 15_000


def act(page: Any, action: Callable[[], object], retry: Callable[[], object] | None = None) -> None:
    """Do `action` and wait for the script run it triggers. If none starts (a key press that reached the
    widget before it was ready, seen once in ~40 visits), `retry` gets the value committed another way."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    before = runs(page)
    action()
    try:
        page.wait_for_function(STARTED_JS, arg=before, timeout=START_TIMEOUT_MS)
    except PlaywrightTimeout:
        if retry is None:
            raise
        print("  no script run after the action; retrying it", file=sys.stderr)
        retry()
    settle(page, before)


def goto(page: Any, url: str) -> None:
    page.goto(url)
    settle(page, 0)  # a new document counts from zero


def sidebar(page: Any, title: str) -> None:
    link = page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True)
    act(page, link.click, retry=link.click)
    page.get_by_role("heading", name=title, exact=True).first.wait_for()


def visit_home(page: Any, base: str, who: Subject) -> None:
    goto(page, base)
    page.get_by_role("heading", name="Ticket triage", exact=True).first.wait_for()


def visit_lookup(page: Any, base: str, who: Subject) -> None:
    sidebar(page, "Key lookup")
    search = page.get_by_role("textbox", name="Search")
    search.fill(who.email)
    act(page, lambda: search.press("Enter"), retry=search.blur)
    # A user with one key: the lookup opens it in full (card, diagnosis, history chart).
    page.get_by_text("Latest diagnosis").first.wait_for()


def visit_key_detail(page: Any, base: str, who: Subject) -> None:
    goto(page, f"{base}/key_detail?key={who.detail_key_id}")
    page.get_by_role("heading", name="Key detail", exact=True).first.wait_for()
    page.get_by_text("Test history").first.wait_for()


BACKFILL_DONE = re.compile(r"flagged key\(s\)|No flagged backfills")


def visit_backfill_user(page: Any, base: str, who: Subject) -> None:
    sidebar(page, "Backfill health")
    box = page.get_by_role("textbox", name="User")
    box.fill(who.email)
    act(page, lambda: box.press("Enter"), retry=box.blur)
    page.get_by_text(BACKFILL_DONE).first.wait_for()


def visit_backfill_fleet(page: Any, base: str, who: Subject) -> None:
    act(page, page.get_by_text("Fleet-wide", exact=True).click)
    page.get_by_text(BACKFILL_DONE).first.wait_for()


def visit_error_guide(page: Any, base: str, who: Subject) -> None:
    sidebar(page, "Error guide")
    box = page.get_by_role("textbox", name=re.compile("Paste the error"))
    box.fill(PASTED_ERROR)
    act(page, lambda: box.press("Control+Enter"), retry=box.blur)
    page.get_by_role("heading", name="Key or signature rejected").first.wait_for()


def visit_stats(page: Any, base: str, who: Subject) -> None:
    sidebar(page, "Failure stats")
    page.get_by_text("Security posture of keys in use").first.wait_for()


def visit_bulk(page: Any, base: str, who: Subject) -> None:
    sidebar(page, "Bulk re-test")
    # The preview only counts the cohort; the start button is never pressed.
    act(page, page.get_by_role("button", name="Preview cohort").click)
    page.get_by_text(re.compile(r"Cohort: [\d,]+ key\(s\)")).first.wait_for()


def visit_audit(page: Any, base: str, who: Subject) -> None:
    sidebar(page, "Audit log")
    page.get_by_text(re.compile(r"\d+ event\(s\), newest first|No audit events")).first.wait_for()


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    visit: Callable[[Any, str, Subject], None]


# "home" always runs first: every other step starts from a loaded console.
HOME = Step("home", "open the console (empty lookup)", visit_home)
STEPS = [
    HOME,
    Step("lookup", "lookup by email (key opens)", visit_lookup),
    Step("key", "key detail deep link", visit_key_detail),
    Step("backfill", "backfill health, one user", visit_backfill_user),
    Step("fleet", "backfill health, fleet-wide", visit_backfill_fleet),
    Step("guide", "error guide, pasted error", visit_error_guide),
    Step("stats", "failure stats, 30 days", visit_stats),
    Step("bulk", "bulk re-test preview", visit_bulk),
    Step("audit", "audit log", visit_audit),
]


@dataclass
class PageFigure:
    seconds: float
    rss_after: int
    peak_during: int
    error: str = ""


@dataclass
class Run:
    database: str
    subject: Subject | None = None
    rss_start: int = 0
    rss_end: int = 0
    peak: int = 0
    peak_sampled: int = 0
    pages: dict[tuple[int, str], PageFigure] = field(default_factory=dict)
    error: str = ""


def walk(database_url: str, steps: list[Step], rounds: int, idle_s: float) -> Run:
    run = Run(database_url.split("?")[0])
    run.subject = who = pick_subject(database_url)
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        streamlit_server(database_url, Path(tmp)) as server,
        MemorySampler(server.process.pid) as sampler,
    ):
        time.sleep(1)  # the server is up; let its startup settle before the "before" figure
        run.rss_start = tree_rss_bytes(server.process.pid)
        try:
            with chromium() as browser:
                for round_no in range(1, rounds + 1):
                    # Each round is a new visitor: a fresh context, so a fresh Streamlit session.
                    context = browser.new_context(viewport={"width": 1440, "height": 1000})
                    context.add_init_script(COUNT_RUNS_JS)
                    page = context.new_page()
                    page.set_default_timeout(PAGE_TIMEOUT_MS)
                    try:
                        for step in steps:
                            sampler.mark()
                            start = time.perf_counter()
                            error = ""
                            try:
                                step.visit(page, server.url, who)
                            except Exception as exc:  # a page that fails is a figure too
                                error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
                            end = time.perf_counter() if error else max(Clock.settled_at, start)
                            seconds = end - start
                            boxes = page.locator('[data-testid="stException"]')
                            if not error and boxes.count():
                                error = "exception: " + boxes.first.inner_text().splitlines()[0][:80]
                            run.pages[(round_no, step.name)] = PageFigure(
                                seconds, tree_rss_bytes(server.process.pid), sampler.mark(), error)
                            if error:
                                shot = BENCH_DIR / f"bench-memory-failed-{step.name}.png"
                                page.screenshot(path=str(shot))
                                print(f"  {step.name}: {error} (screenshot {shot})", file=sys.stderr)
                    finally:
                        context.close()
            # Sessions are dropped once their browser has gone; the end figure is what stays resident.
            time.sleep(idle_s)
        except Exception as exc:  # still report what was measured
            run.error = f"{type(exc).__name__}: {exc}"
            print(f"  walk failed: {run.error}\n{server.log.read_text()[-2000:]}", file=sys.stderr)
        run.rss_end = tree_rss_bytes(server.process.pid)
        run.peak = sampler.high_water()
        run.peak_sampled = sampler.peak
    return run


# --- the table -----------------------------------------------------------------------------------------


def mb(n: int) -> str:
    return f"{n / MB:,.0f} MB"


def page_cell(figure: PageFigure | None) -> str:
    if figure is None:
        return "-"
    if figure.error:
        return f"FAILED after {figure.seconds:.1f} s ({figure.error})"
    return f"{figure.seconds:5.1f} s  {mb(figure.rss_after):>7} (peak {mb(figure.peak_during)})"


def verdict(run: Run | None, target_mb: float) -> str:
    if run is None:
        return ""
    if run.error or any(figure.error for figure in run.pages.values()):
        return "MISSED (a page failed: incomplete)"
    return "OK" if run.peak < target_mb * MB else "MISSED"


def table(runs: list[Run | None], labels: list[str], steps: list[Step], rounds: int,
          target_mb: float) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("", *labels, "target")]
    big = runs[0]
    rows.append(("user looked up / deep-linked key",
                 *(f"{r.subject.email} / key {r.subject.detail_key_id}" if r and r.subject else "-"
                   for r in runs), ""))
    rows.append(("RSS before the first page", *(mb(r.rss_start) if r else "-" for r in runs), ""))
    for round_no in range(1, rounds + 1):
        for step in steps:
            name = step.label if rounds == 1 else f"round {round_no}: {step.label}"
            rows.append((name, *(page_cell(r.pages.get((round_no, step.name))) if r else "-" for r in runs),
                         "render time, RSS after (peak during)" if (round_no, step) == (1, steps[0]) else ""))
    rows.append(("RSS at the end (browser gone)", *(mb(r.rss_end) if r else "-" for r in runs), ""))
    rows.append(("peak RSS (VmHWM + children)", *(mb(r.peak) if r else "-" for r in runs),
                 f"< {target_mb:g} MB on the big database: {verdict(big, target_mb)}"))
    rows.append(("  peak RSS sampled every 50 ms", *(mb(r.peak_sampled) if r else "-" for r in runs), ""))
    return rows


def print_table(title: str, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"\n{title}")
    for row in rows:
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def short(url: str) -> str:
    """The database file or schema of a URL, without credentials."""
    schema = re.search(r"search_path%3D(\w+)", url)
    return schema.group(1) if schema else url.split("?")[0].rsplit("/", 1)[-1]


def target(name: str, url: str | None, users: int) -> tuple[str, str]:
    return (url, f"{name} ({short(url)})") if url else (sqlite_url(users), f"{name} ({users:,} users)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url",
                        help="the big demo database (default var/bench/demo-1000000.sqlite3)")
    parser.add_argument("--small-database-url", help="the small one (default var/bench/demo-10000.sqlite3)")
    parser.add_argument("--skip-small", action="store_true", help="only the big database")
    parser.add_argument("--pages", default=",".join(s.name for s in STEPS[1:]),
                        help=f"comma-separated steps, in this order: {', '.join(s.name for s in STEPS[1:])} "
                             "('fleet' follows 'backfill'; the console's home page is always opened first)")
    parser.add_argument("--rounds", type=int, default=2, help="visitors in a row, each a fresh session")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds after the last page before 'end'")
    parser.add_argument("--target-mb", type=float, default=TARGET_MB)
    args = parser.parse_args()

    if not CHROMIUM.is_file():
        parser.error(f"{CHROMIUM} is not installed (apt-get install chromium)")
    wanted = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = set(wanted) - {s.name for s in STEPS[1:]}
    if unknown:
        parser.error(f"unknown page(s): {', '.join(sorted(unknown))}")
    steps = [s for s in STEPS if s.name in wanted or s is HOME]
    if "fleet" in wanted and "backfill" not in wanted:
        steps.insert(steps.index(next(s for s in steps if s.name == "fleet")),
                     next(s for s in STEPS if s.name == "backfill"))

    # A given URL is labelled by its database name, not by a user count it may not have.
    targets = [target("big", args.database_url, BIG_USERS)]
    if not args.skip_small:
        targets.append(target("small", args.small_database_url, SMALL_USERS))
    loads = [load()]
    runs: list[Run | None] = []
    for url, label in targets:
        print(f"{label}: {url.split('?')[0]} (load average {load()})...", file=sys.stderr)
        runs.append(walk(url, steps, args.rounds, args.idle))
        loads.append(load())
    print_table(
        f"Streamlit server memory after every page ({os.cpu_count()} cores, load average "
        f"{' -> '.join(loads)}, {time.strftime('%Y-%m-%d %H:%M')})",
        table(runs, [label for _, label in targets], steps, args.rounds, args.target_mb),
    )
    return 0 if verdict(runs[0], args.target_mb) == "OK" else 1


if __name__ == "__main__":
    raise SystemExit(main())
