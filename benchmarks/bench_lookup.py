"""Demo build time and lookup latency at 10 k and 1 M users, side by side (issue #2's targets).

For each size: build the demo database (or reuse it with --reuse), report the build (users/s, rows, phases),
then time a few hundred mixed lookups through `nbsupport.lookup.lookup`, one session per query as a page
request does: email, user id, key fragment (as stored and lower-cased), masked key, fingerprint prefix, the
whole pasted API key, ticket link, full name, surname, first name, the email's part before the @ and its
start, the domain, misses. Targets: p50 under 50 ms for every kind, and the 1 M database within 1.5x of
the 10 k one.

Databases follow benchmarks/bench_fleet.py, so both benchmarks can share them: `var/bench/demo-<N>.sqlite3`
(master key in `var/bench/master.key` or NBSUPPORT_MASTER_KEYS), or PostgreSQL schemas `bench_u<N>` on
--database-url. `--tag T` uses `demo-<N>-T.sqlite3` / `bench_u<N>_T` instead, leaving shared ones alone.

    .venv/bin/python benchmarks/bench_lookup.py                       # builds 10 k and 1 M (minutes)
    .venv/bin/python benchmarks/bench_lookup.py --reuse               # lookups only, on existing builds
    .venv/bin/python benchmarks/bench_lookup.py --database-url postgresql+psycopg://root@127.0.0.1:5432/test
    .venv/bin/python benchmarks/bench_lookup.py --index-compare 100000  # load with vs without indexes
    .venv/bin/python benchmarks/bench_lookup.py --at 10000=sqlite:////tmp/copy-10k.sqlite3 \
        --at 1000000=sqlite:////tmp/copy-1m.sqlite3                  # existing databases (migrated first)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nbsupport.config import Settings  # noqa: E402
from nbsupport.console import Console  # noqa: E402
from nbsupport.db.models import ExchangeKey, User  # noqa: E402
from nbsupport.demo import BuildReport, DemoSpec, build_demo  # noqa: E402
from nbsupport.keyring import read_or_create_key_file  # noqa: E402
from nbsupport.keys import open_credentials  # noqa: E402
from nbsupport.lookup import lookup  # noqa: E402

BENCH_DIR = REPO / "var" / "bench"
KINDS = ("email", "user_id", "fragment", "fragment_lower", "masked", "fingerprint", "api_key", "ticket",
         "full_name", "surname", "first_name", "email_local", "email_start", "domain", "miss")
MIX = (0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.1, 0.1, 0.05, 0.1, 0.05, 0.05, 0.1)


def master_keys() -> str:
    return os.environ.get("NBSUPPORT_MASTER_KEYS") or read_or_create_key_file(BENCH_DIR / "master.key")


def sqlite_path(users: int, tag: str) -> Path:
    return BENCH_DIR / (f"demo-{users}-{tag}.sqlite3" if tag else f"demo-{users}.sqlite3")


def database_url(server: str | None, users: int, tag: str) -> str:
    if not server:
        return f"sqlite:///{sqlite_path(users, tag)}"
    schema = f"bench_u{users}_{tag}" if tag else f"bench_u{users}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    return f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"


def open_console(url: str) -> Console:
    console = Console(Settings(database_url=url, home=BENCH_DIR, master_keys=master_keys()))
    console.migrate()
    return console


def demo_users(console: Console) -> int:
    with console.session() as s:
        query = select(func.count()).select_from(User).where(User.email.endswith(".example"))
        return int(s.scalar(query) or 0)


def build(console: Console, users: int, seed: int, **options: Any) -> BuildReport:
    def progress(done: int, total: int) -> None:
        if done % max(total // 10, 5_000) < 5_000 or done == total:
            print(f"    {done:,}/{total:,} users", file=sys.stderr, flush=True)

    return build_demo(console, DemoSpec(users=users, seed=seed), reset=True, force=True, progress=progress,
                      **options)


def print_build(users: int, report: BuildReport) -> None:
    phases = ", ".join(f"{k} {v:.1f}" for k, v in report.phases.items())
    print(f"  build {users:,} users: {report.seconds:.1f} s = {report.users_per_second:,.0f} users/s; "
          f"{report.keys:,} keys, {report.connection_tests:,} tests, {report.backfill_runs:,} backfill runs, "
          f"{report.placed_order_days:,} order days; workers={report.workers} "
          f"dropped_indexes={report.dropped_indexes}\n    phases (s): {phases}")


def make_queries(console: Console, count: int, seed: int) -> list[tuple[str, str]]:
    """A fixed mix of query kinds over randomly picked rows of this database."""
    rng = random.Random(seed)
    kinds = rng.choices(KINDS, weights=MIX, k=count)
    with console.session() as s:
        max_user = s.scalar(select(func.max(User.id))) or 1
        max_key = s.scalar(select(func.max(ExchangeKey.id))) or 1
        user_ids = [rng.randint(1, max_user) for _ in range(count)]
        key_ids = [rng.randint(1, max_key) for _ in range(count)]
        people = {u.id: u for u in s.execute(
            select(User.id, User.email, User.display_name).where(User.id.in_(user_ids))).all()}
        emails = {uid: u.email for uid, u in people.items()}
        keys = {k.id: k for k in s.execute(
            select(ExchangeKey.id, ExchangeKey.user_id, ExchangeKey.key_prefix, ExchangeKey.key_suffix,
                   ExchangeKey.fingerprint).where(ExchangeKey.id.in_(key_ids))).all()}
        # The whole pasted key: the benchmark opens a few demo keys with the build's master key.
        keyring = console.keyring()
        wanted = [k for kind, k in zip(kinds, key_ids, strict=True) if kind == "api_key" and k in keys]
        api_keys = {k: open_credentials(s, keyring, k).api_key for k in wanted}
    queries = []
    for kind, uid, kid in zip(kinds, user_ids, key_ids, strict=True):
        key = keys.get(kid)
        person = people.get(uid)
        name = person.display_name.split(" ", 1) if person and " " in person.display_name else None
        local, _, domain = emails.get(uid, "").partition("@")
        if kind == "email" and uid in emails:
            queries.append((kind, emails[uid]))
        elif kind == "fragment_lower" and key:
            queries.append((kind, (key.key_prefix if rng.random() < 0.5 else key.key_suffix).lower()))
        elif kind == "api_key" and kid in api_keys:
            queries.append((kind, api_keys[kid]))
        elif kind == "full_name" and name:
            queries.append((kind, person.display_name))
        elif kind == "surname" and name:
            queries.append((kind, name[1]))
        elif kind == "first_name" and name:
            queries.append((kind, name[0].lower()))
        elif kind == "email_local" and local:
            queries.append((kind, local))
        elif kind == "email_start" and local:
            queries.append((kind, local[: max(3, len(local) - 3)]))
        elif kind == "domain" and domain:
            queries.append((kind, domain if rng.random() < 0.5 else f"@{domain}"))
        elif kind == "user_id":
            queries.append((kind, f"user:{uid}" if rng.random() < 0.5 else str(uid)))
        elif kind == "fragment" and key:
            queries.append((kind, key.key_prefix if rng.random() < 0.5 else key.key_suffix))
        elif kind == "masked" and key:
            queries.append((kind, f"{key.key_prefix}…{key.key_suffix}"))
        elif kind == "fingerprint" and key:
            queries.append((kind, key.fingerprint[: rng.randint(8, 16)]))
        elif kind == "ticket" and key:
            queries.append((kind, f"https://support.noonbarbari.com/tickets/{rng.randint(100000, 999999)}"
                                  f"?user={key.user_id}&key={key.id}"))
        else:
            queries.append(("miss", rng.choice([f"nobody{rng.randint(1, 10**9)}@nowhere.example",
                                                 f"{rng.getrandbits(48):012x}"])))
    return queries


def time_lookups(workloads: dict[int, tuple[Console, list[tuple[str, str]]]],
                 rounds: int) -> dict[int, dict[str, list[float]]]:
    """Rounds alternate between the sizes, so a busy neighbour on the machine slows them alike."""
    for console, queries in workloads.values():
        for _, q in queries[:50]:  # warm the connection pool and the page cache a little
            with console.session() as s:
                lookup(s, q)
    times = {n: {k: [] for k in ("all", *KINDS)} for n in workloads}
    for _ in range(rounds):
        for users, (console, queries) in workloads.items():
            for kind, q in queries:
                started = time.perf_counter()
                with console.session() as s:
                    lookup(s, q)
                elapsed = (time.perf_counter() - started) * 1000
                times[users]["all"].append(elapsed)
                times[users][kind].append(elapsed)
    return times


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report_side_by_side(sizes: list[int], results: dict[int, dict[str, list[float]]]) -> bool:
    head = "".join(f"{f'{n:,} users':>28}" for n in sizes)
    print(f"\n  lookup latency, ms (p50 / p95 / p99){head}")
    for kind in ("all", *KINDS):
        cells = "".join(f"{pct(results[n][kind], 50):>10.2f}{pct(results[n][kind], 95):>9.2f}"
                        f"{pct(results[n][kind], 99):>9.2f}" for n in sizes)
        print(f"  {kind:<12} (n={len(results[sizes[0]][kind]):>4}){' ' * 16}{cells}")
    slowest = max((pct(results[n][k], 50), k, n) for n in sizes for k in KINDS if results[n][k])
    print(f"  slowest kind by p50: {slowest[1]} at {slowest[2]:,} users, {slowest[0]:.2f} ms "
          f"(target < 50 ms for every kind: {'met' if slowest[0] < 50 else 'NOT met'})")
    if len(sizes) < 2:
        return slowest[0] < 50
    small, big = results[min(sizes)]["all"], results[max(sizes)]["all"]
    ratios = {p: pct(big, p) / pct(small, p) for p in (50, 95, 99)}
    print(f"  ratio {max(sizes):,}/{min(sizes):,}: p50 {ratios[50]:.2f}x  p95 {ratios[95]:.2f}x  "
          f"p99 {ratios[99]:.2f}x  (mean {statistics.fmean(big):.2f} vs {statistics.fmean(small):.2f} ms)")
    ok = ratios[50] <= 1.5 and slowest[0] < 50
    print(f"  target (1M p50 within 1.5x of 10k, p50 < 50 ms): {'met' if ok else 'NOT met'}")
    return ok


def index_compare(users: int, seed: int, server: str | None) -> None:
    """The same build with the secondary indexes kept during the load and dropped/rebuilt around it."""
    print(f"index strategy at {users:,} users ({'PostgreSQL' if server else 'SQLite'}):")
    with tempfile.TemporaryDirectory(dir=BENCH_DIR) as scratch:
        for drop in (False, True):
            for workers in (0, 1):
                if server:
                    url = database_url(server, users, f"cmp{int(drop)}{workers}")
                else:
                    url = f"sqlite:///{Path(scratch) / f'cmp-{int(drop)}-{workers}.sqlite3'}"
                console = open_console(url)
                report = build(console, users, seed, drop_indexes=drop, workers=workers)
                print(f"  drop_indexes={drop!s:<5} workers={workers}: {report.seconds:6.1f} s  "
                      f"(load {report.phases['generate'] + report.phases['write']:.1f}, "
                      f"indexes {report.phases.get('indexes', 0):.1f})")
                console.close()
                if server:
                    _drop_schema(server, users, f"cmp{int(drop)}{workers}")
                else:
                    Path(url.removeprefix("sqlite:///")).unlink()


def _drop_schema(server: str, users: int, tag: str) -> None:
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "bench_u{users}_{tag}" CASCADE'))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated user counts")
    parser.add_argument("--reuse", action="store_true", help="keep an existing database of the right size")
    parser.add_argument("--database-url",
                        help="a PostgreSQL server URL (schemas bench_u<N>) instead of SQLite")
    parser.add_argument("--tag", default="", help="private database names: demo-<N>-TAG / bench_u<N>_TAG")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="times each query is timed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--at", action="append", default=[], metavar="USERS=URL",
                        help="time an existing database of USERS users at URL (no build); repeatable")
    parser.add_argument("--index-compare", type=int, metavar="USERS",
                        help="only compare load strategies (indexes kept/dropped, with/without a worker)")
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if args.index_compare:
        index_compare(args.index_compare, args.seed, args.database_url)
        return 0
    given = {int(n.replace("_", "")): url for n, _, url in (a.partition("=") for a in args.at)}
    sizes = sorted(given) or [int(s.replace("_", "")) for s in args.sizes.split(",")]
    on_postgres = args.database_url or any(u.startswith("postgresql") for u in given.values())
    backend = "PostgreSQL" if on_postgres else "SQLite"
    print(f"lookup benchmark on {backend}, {args.queries} queries x {args.rounds} rounds per size "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    workloads = {}
    for users in sizes:
        if users in given:
            started = time.perf_counter()
            console = open_console(given[users])  # migrates: the first run times migration 0004 too
            print(f"  {users:,} users at {given[users].split('?')[0]}: migrated in "
                  f"{time.perf_counter() - started:.1f} s")
            workloads[users] = (console, make_queries(console, args.queries, args.seed))
            continue
        path = sqlite_path(users, args.tag)
        if not args.database_url and not args.reuse:
            # A fresh file builds faster than clearing millions of rows, and leaves no free pages behind.
            for suffix in ("", "-journal", "-wal", "-shm", "-demo-lock"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
        console = open_console(database_url(args.database_url, users, args.tag))
        if args.reuse and demo_users(console) == users:
            print(f"  reusing the {users:,}-user database")
        else:
            print_build(users, build(console, users, args.seed))
        workloads[users] = (console, make_queries(console, args.queries, args.seed))
    print(f"  timing lookups (load average {os.getloadavg()[0]:.1f})")
    results = time_lookups(workloads, args.rounds)
    for console, _ in workloads.values():
        console.close()
    return 0 if report_side_by_side(sizes, results) else 1


if __name__ == "__main__":
    sys.exit(main())
