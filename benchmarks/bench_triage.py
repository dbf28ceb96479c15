"""Ticket triage cost: parsing by paste size (linear, then flat past the scan cap) and a whole triage (parse,
one lookup per fact, latest test) on demo databases, read-only.

Tickets for the database runs are built from real rows: a random user's email, one of their keys in masked
form, and a Kraken error line, so every triage finds a user and a key and explains one line.

    .venv/bin/python benchmarks/bench_triage.py --parse-only
    .venv/bin/python benchmarks/bench_triage.py --database-url sqlite:////work/bench/demo-10000.sqlite3 \
        --database-url sqlite:////work/bench/demo-1000000.sqlite3
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nbsupport.config import Settings  # noqa: E402
from nbsupport.console import Console  # noqa: E402
from nbsupport.db.models import ExchangeKey, User  # noqa: E402
from nbsupport.guide import MAX_SCAN_CHARS, load_table  # noqa: E402
from nbsupport.triage import parse_ticket, triage  # noqa: E402

LOG_LINE = "2026-12-03T10:00:00Z INFO strategy=grid poll ok latency=12ms orders=3\n"
ERROR_LINE = 'ccxt.base.errors.PermissionDenied: kraken {"error":["EGeneral:Permission denied"]}\n'
PASTE_SIZES = (1_000, 16_000, 64_000, MAX_SCAN_CHARS, 1_000_000, 4_000_000)


def timed(work: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return times


def paste_of(size: int) -> str:
    head = "From: ann@example.com\nMy key Kx9f…xZ3a fails on Kraken.\n"
    body = LOG_LINE * max(0, (size - len(head) - len(ERROR_LINE)) // len(LOG_LINE))
    return head + body + ERROR_LINE


def bench_parse(rounds: int) -> None:
    load_table()
    print(f"parse_ticket by paste size (median of {rounds}; scan cap {MAX_SCAN_CHARS:,} chars; "
          f"load {os.getloadavg()[0]:.2f})")
    for size in PASTE_SIZES:
        text = paste_of(size)
        median = statistics.median(timed(lambda text=text: parse_ticket(text), rounds))
        print(f"  {len(text):>10,} chars  {median:8.1f} ms")


def sample_tickets(console: Console, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    with console.session() as session:
        top = int(session.scalar(select(func.max(User.id))) or 0)
        tickets: list[str] = []
        while len(tickets) < count:
            user = session.get(User, rng.randint(1, top))
            if user is None:
                continue
            key = session.scalar(select(ExchangeKey).where(ExchangeKey.user_id == user.id).limit(1))
            if key is not None:
                masked = f"{key.key_prefix}…{key.key_suffix}"
                tickets.append(f"From: {user.email}\nMy key {masked} stopped.\n{ERROR_LINE}")
    return tickets


def bench_triage(url: str, count: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        console = Console(Settings(home=Path(home), database_url=url,
                                   master_keys=os.environ.get("NBSUPPORT_MASTER_KEYS", "")))
        try:
            tickets = sample_tickets(console, count, seed)
            times = []
            found = 0
            for text in tickets:
                start = time.perf_counter()
                with console.session() as session:
                    result = triage(session, text)
                times.append((time.perf_counter() - start) * 1000)
                found += result.suggested is not None
        finally:
            console.close()
    q = statistics.quantiles(times, n=100)
    load = os.getloadavg()[0]
    print(f"{url}\n  triage of {len(times)} tickets: p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, "
          f"key found {found}/{len(times)}  (load {load:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", action="append", default=[], help="a demo database (read only)")
    parser.add_argument("--tickets", type=int, default=200, help="tickets triaged per database")
    parser.add_argument("--rounds", type=int, default=5, help="parse rounds per paste size")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--parse-only", action="store_true")
    args = parser.parse_args()
    bench_parse(args.rounds)
    if not args.parse_only:
        for url in args.database_url:
            bench_triage(url, args.tickets, args.seed)


if __name__ == "__main__":
    main()
