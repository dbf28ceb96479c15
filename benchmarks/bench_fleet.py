"""Fleet analytics figures, side by side in one run (issue #7's targets):

* stats for the last 30 days over the big demo database (~20 M connection tests, 1 M users) vs the same
  query over a small one (~200 k tests, 10 k users): < 1 s, and within 2x of the small one;
* the backfill-health scan over all keys: < 2 s;
* a bulk re-test of 1,000 sandbox keys with 20 ms injected latency: < 15 s with no overlapping requests on
  any key (the sandbox's request log), next to the naive sequential time.

Databases: `var/bench/demo-<users>.sqlite3` (built with `python -m nbsupport demo --users N` when missing,
or in-process when that command is not available), or any URL given with --database-url /
--small-database-url (a PostgreSQL schema, e.g. `...?options=-csearch_path%3Dbench_1m`, built when empty).

    .venv/bin/python benchmarks/bench_fleet.py
    .venv/bin/python benchmarks/bench_fleet.py --pg   # the same on PostgreSQL schemas bench_u1000000/10000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nbsupport.audit import Actor  # noqa: E402
from nbsupport.config import Settings  # noqa: E402
from nbsupport.console import Console  # noqa: E402
from nbsupport.db.models import User  # noqa: E402
from nbsupport.db.rollup_models import DailyTestRollup  # noqa: E402
from nbsupport.fleet.backfill.health import backfill_health  # noqa: E402
from nbsupport.fleet.bulk.batch import bulk_retest  # noqa: E402
from nbsupport.fleet.bulk.models import VenueBudget  # noqa: E402
from nbsupport.fleet.stats.figures import failure_stats  # noqa: E402
from nbsupport.keyring import read_or_create_key_file  # noqa: E402

BENCH_DIR = REPO / "var" / "bench"
PG_SERVER = os.environ.get("NBSUPPORT_BENCH_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
BIG_USERS, SMALL_USERS = 1_000_000, 10_000
TESTS_PER_SECOND = 1000.0
ACTOR = Actor("bench@noonbarbari.local", "admin")


def master_keys() -> str:
    return os.environ.get("NBSUPPORT_MASTER_KEYS") or read_or_create_key_file(BENCH_DIR / "master.key")


def sqlite_url(users: int) -> str:
    return f"sqlite:///{BENCH_DIR / f'demo-{users}.sqlite3'}"


def pg_url(users: int) -> str:
    return pg_schema_url(f"bench_u{users}")


def pg_schema_url(schema: str) -> str:
    engine = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in PG_SERVER else "?"
    return f"{PG_SERVER}{sep}options=-csearch_path%3D{schema}"


def open_console(url: str, **settings: Any) -> Console:
    console = Console(Settings(database_url=url, home=BENCH_DIR, master_keys=master_keys(), **settings))
    console.migrate()
    return console


def _demo_command_exists() -> bool:
    from nbsupport.cli import build_parser

    return "demo" in build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]


def ensure_demo(url: str, users: int) -> Console:
    """The demo database at `url`, built with `users` users if it has none (reused otherwise)."""
    console = open_console(url)
    with console.session() as session:
        existing = int(session.scalar(select(func.count()).select_from(User)) or 0)
    if existing:
        return console
    print(f"building a {users:,}-user demo at {url.split('?')[0]} (takes a while once)...", file=sys.stderr)
    if _demo_command_exists():
        env = {
            **os.environ,
            "NBSUPPORT_DATABASE_URL": url,
            "NBSUPPORT_MASTER_KEYS": master_keys(),
            "PYTHONPATH": str(REPO),
        }
        subprocess.run(
            [sys.executable, "-m", "nbsupport", "demo", "--users", str(users)], env=env, check=True
        )
    else:
        from nbsupport.demo.build import DemoSpec, build_demo

        build_demo(console, DemoSpec(users=users))
    return console


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of `repeat` runs after one warm-up run (a cold page cache is not the figure)."""
    result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def load() -> str:
    """The machine's 1-minute load average: on a shared 2-core box, wall times stretch with it."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


def connection_test_rows(console: Console) -> int:
    with console.session() as session:
        return int(session.scalar(select(func.coalesce(func.sum(DailyTestRollup.n), 0))) or 0)


def bench_queries(big: Console, small: Console, repeat: int) -> list[tuple[str, str, str, str]]:
    rows = []
    figures: dict[str, dict[str, float]] = {}
    for name, console in (("big", big), ("small", small)):
        with console.session() as session:
            stats_s, stats = timed(lambda s=session: failure_stats(s, days=30), repeat)
            scan_s, findings = timed(lambda s=session: backfill_health(s, days=30), repeat)
        figures[name] = {
            "stats": stats_s,
            "scan": scan_s,
            "tests": connection_test_rows(console),
            "tests_30d": stats.total.tests,
            "findings": len(findings),
        }
    b, s = figures["big"], figures["small"]
    rows.append(
        (
            "connection tests (all / last 30 days)",
            f"{b['tests']:,.0f} / {b['tests_30d']:,.0f}",
            f"{s['tests']:,.0f} / {s['tests_30d']:,.0f}",
            "rollups",
        )
    )
    ratio = b["stats"] / s["stats"] if s["stats"] else float("inf")
    rows.append(
        (
            "stats, last 30 days",
            f"{b['stats'] * 1000:.0f} ms",
            f"{s['stats'] * 1000:.0f} ms",
            f"< 1 s and < 2x: {ratio:.2f}x {'OK' if b['stats'] < 1 and ratio < 2 else 'MISSED'}",
        )
    )
    rows.append(
        (
            "backfill-health scan, all keys",
            f"{b['scan'] * 1000:.0f} ms",
            f"{s['scan'] * 1000:.0f} ms",
            f"< 2 s {'OK' if b['scan'] < 2 else 'MISSED'}",
        )
    )
    rows.append(("  keys flagged", f"{b['findings']:,.0f}", f"{s['findings']:,.0f}", ""))
    return rows


def console_cpu_s() -> float:
    """CPU seconds of this process and of its finished children: the bulk re-test's worker processes
    (the sandbox process is still running, so it is not counted)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _sandbox_key(i: int) -> Any:
    from nbsupport.sandbox import SandboxKey
    from nbsupport.sandbox.cast import derived_api_key, derived_secret

    name = f"bench-fleet-{i}"
    return SandboxKey(api_key=derived_api_key(name), secret=derived_secret(name), name=name)


def _serve_sandbox(conn: Any, keys: int, latency_ms: float) -> None:
    """Child process: the venue runs on its own interpreter, as a real one would, so its request handling
    does not compete with the console for this process's GIL."""
    from nbsupport.sandbox import SandboxServer

    with SandboxServer(latency_ms=latency_ms) as server:
        server.add_keys(_sandbox_key(i) for i in range(keys))
        conn.send(server.origin)
        while True:
            command = conn.recv()
            if command == "clear":
                server.clear()
                conn.send(None)
            elif command == "stats":
                conn.send((server.max_overlap_per_key(), len(server.log), time.process_time()))
            else:
                conn.send(None)
                return


class SandboxProcess:
    def __init__(self, keys: int, latency_ms: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_sandbox, args=(child, keys, latency_ms), daemon=True)
        self._process.start()
        self.origin: str = self._conn.recv()

    def call(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.call("stop")
        self._process.join(timeout=10)


def _seed_sandbox_cohort(console: Console, n: int) -> None:
    """n sandbox Kraken keys stored as users' keys, each with a failed test an hour ago (the cohort)."""
    from nbsupport.clock import utcnow
    from nbsupport.credentials import Credentials
    from nbsupport.crypto import MasterKeyring
    from nbsupport.db.models import ConnectionTest
    from nbsupport.fleet.stats.rollups import record_test_in_rollups
    from nbsupport.keys import add_key

    keyring = MasterKeyring.parse(master_keys())
    failed_at = utcnow() - timedelta(hours=1)
    with console.session() as session:
        for i in range(n):
            key = _sandbox_key(i)
            row = add_key(
                session,
                keyring,
                user_email=f"bulk{i}@bench.example",
                exchange="kraken",
                credentials=Credentials(key.api_key, key.secret),
            )
            test = ConnectionTest(
                key_id=row.id,
                exchange="kraken",
                started_at=failed_at,
                trigger="scheduled",
                outcome="failed",
                diagnosis="exchange_unavailable",
            )
            session.add(test)
            session.flush()
            record_test_in_rollups(session, test)


def bench_bulk(
    url: str | None, keys: int, concurrency: int, processes: int, naive_sample: int
) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp, SandboxProcess(keys, 20) as server:
        db_url = url or f"sqlite:///{Path(tmp) / 'bulk.sqlite3'}"
        console = open_console(db_url, exchange_urls={"kraken": server.origin}, retest_cooldown_s=0)
        try:
            _seed_sandbox_cohort(console, keys)
            server.call("clear")
            venue_cpu = server.call("stats")[2]
            start, cpu = time.perf_counter(), console_cpu_s()
            report = bulk_retest(
                console, actor=ACTOR, ticket="BENCH", concurrency=concurrency, processes=processes,
                budgets={"kraken": VenueBudget(concurrency=concurrency, tests_per_second=TESTS_PER_SECOND)},
            )
            parallel_s, cpu_ms = time.perf_counter() - start, (console_cpu_s() - cpu) * 1000 / keys
            overlap, requests, venue_cpu_end = server.call("stats")
            if report.errors:
                print(f"errors: {dict(Counter(report.errors.values()))}", file=sys.stderr)
            venue_cpu_ms = (venue_cpu_end - venue_cpu) * 1000 / max(requests, 1)
            # The naive way: the same engine, one key after another, over a sample (then scaled).
            from nbsupport.conntest import run_retest

            with console.session() as session:
                sample = [
                    int(k)
                    for k in session.scalars(
                        text("SELECT id FROM exchange_keys ORDER BY id LIMIT :n"), {"n": naive_sample}
                    )
                ]
            start = time.perf_counter()
            for key_id in sample:
                run_retest(console, key_id, actor=ACTOR, trigger="retest", ignore_cooldown=True)
            naive_s = (time.perf_counter() - start) * keys / max(len(sample), 1)
        finally:
            console.close()
    label = f"bulk re-test, {keys:,} sandbox keys, 20 ms latency"
    ok = parallel_s < 15 and overlap <= 1 and report.tested == keys
    return [
        (
            label,
            f"{parallel_s:.1f} s (concurrency {concurrency}, {processes} processes)",
            f"naive sequential {naive_s:.1f} s"
            + ("" if naive_sample >= keys else f" (x{keys / naive_sample:g} of {naive_sample} keys)"),
            f"< 15 s {'OK' if ok else 'MISSED'}",
        ),
        (
            "  tested / refused / errors",
            f"{report.tested} / {len(report.refused)} / {len(report.errors)}",
            f"{requests:,} requests",
            f"console CPU {cpu_ms:.1f} ms per key, sandbox CPU {venue_cpu_ms:.1f} ms per request",
        ),
        ("  max requests in flight on one key", str(overlap), "", "must be 1 (no overlap)"),
    ]


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"\n{title}")
    for row in rows:
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", help="the big demo database (default var/bench/demo-1000000.sqlite3)"
    )
    parser.add_argument("--small-database-url", help="the ~200k-test database (default demo-10000)")
    parser.add_argument(
        "--pg",
        action="store_true",
        help="use PostgreSQL schemas bench_u<users> on NBSUPPORT_BENCH_PG (default the local test server)",
    )
    parser.add_argument("--big-users", type=int, default=BIG_USERS)
    parser.add_argument("--small-users", type=int, default=SMALL_USERS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bulk-keys", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="bulk re-test worker processes"
    )
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=100,
        help="keys re-tested one by one for the naive figure (scaled to --bulk-keys)",
    )
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--skip-queries", action="store_true", help="only the bulk re-test")
    args = parser.parse_args()

    make_url = pg_url if args.pg else sqlite_url
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    backend = "postgresql" if args.pg else "sqlite"
    rows = [("", f"big ({args.big_users:,} users)", f"small ({args.small_users:,} users)", "target")]
    if not args.skip_queries:
        big = ensure_demo(args.database_url or make_url(args.big_users), args.big_users)
        small = ensure_demo(args.small_database_url or make_url(args.small_users), args.small_users)
        backend = big.engine.dialect.name
        try:
            rows += bench_queries(big, small, args.repeat)
        finally:
            big.close()
            small.close()
    if not args.skip_bulk:
        bulk_url = None
        if args.pg:
            _reset_schema("bench_fleet_bulk")
            bulk_url = pg_schema_url("bench_fleet_bulk")
        rows += bench_bulk(bulk_url, args.bulk_keys, args.concurrency, args.processes, args.naive_sample)
    print_table(
        f"fleet analytics on {backend} ({os.cpu_count()} cores, load average {load()} at the end)", rows
    )
    return 0


def _reset_schema(schema: str) -> None:
    engine = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
