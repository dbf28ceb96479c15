"""Shared-key figures on a demo database: the posture's shared-key count (fingerprint counts kept by
triggers, partial index on n > 1) next to the whole posture, and `keys.shared_with` for single keys.

Pass any database at migration 0006 or later. A shared SQLite build at an older migration is measured
without copying or writing it: `--attach-readonly FILE` opens it read-only behind a scratch database
(`var/bench/shared-keys-scratch.sqlite3`) that holds only `key_fingerprint_counts`, filled from it as the
migration fills it (that fill time is printed too); unqualified table names resolve to the attached file.

    .venv/bin/python benchmarks/bench_shared_keys.py --attach-readonly /work/bench/demo-1000000.sqlite3
    .venv/bin/python benchmarks/bench_shared_keys.py --database-url sqlite:///var/bench/demo-10000.sqlite3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_fleet import timed  # noqa: E402 (median seconds after one warm-up run)

from nbsupport.db.models import ExchangeKey  # noqa: E402
from nbsupport.fleet.stats.figures import _shared_keys, security_posture  # noqa: E402
from nbsupport.keys import shared_with  # noqa: E402


def scratch_over(shared: Path) -> Engine:
    """A scratch SQLite database with `shared` attached read-only, and the fingerprint counts built."""
    scratch = REPO / "var" / "bench" / "shared-keys-scratch.sqlite3"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{scratch}")

    @event.listens_for(engine, "connect")
    def attach(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"ATTACH DATABASE 'file:{shared}?mode=ro' AS shared")

    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE main.key_fingerprint_counts (fingerprint VARCHAR(64) "
                                "PRIMARY KEY, n INTEGER NOT NULL)"))
        connection.execute(text("CREATE INDEX main.ix_key_fingerprint_counts_shared "
                                "ON key_fingerprint_counts (n) WHERE n > 1"))
        started = time.perf_counter()
        connection.execute(text("INSERT INTO main.key_fingerprint_counts (fingerprint, n) "
                                "SELECT fingerprint, count(*) FROM shared.exchange_keys "
                                "WHERE status NOT IN ('revoked', 'deleted') GROUP BY fingerprint"))
        print(f"fingerprint counts filled from {shared.name} in {time.perf_counter() - started:.1f} s "
              "(what migration 0006 does once)")
    return engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--attach-readonly", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.attach_readonly is not None:
        engine = scratch_over(args.attach_readonly)
    elif args.database_url:
        engine = create_engine(args.database_url)
    else:
        parser.error("give --database-url or --attach-readonly")
    today = datetime.now(UTC).date()
    with Session(engine) as session:
        keys = int(session.scalar(select(func.count()).select_from(ExchangeKey)) or 0)
        some_ids = list(session.scalars(select(ExchangeKey.id).order_by(ExchangeKey.id).limit(200)))
        posture_s, posture = timed(lambda: security_posture(session, today), args.rounds)
        shared_s, shared = timed(lambda: _shared_keys(session, None), args.rounds)
        venue_s, _ = timed(lambda: _shared_keys(session, "kraken"), args.rounds)
        all_s, _ = timed(lambda: [shared_with(session, i) for i in some_ids], 1)
    print(f"{engine.dialect.name}, {keys:,} keys, load average {os.getloadavg()[0]:.1f}")
    print(f"  security_posture (all figures)      {posture_s * 1000:8.1f} ms  -> {posture}")
    print(f"  of which the shared-key count       {shared_s * 1000:8.1f} ms  -> {shared}")
    print(f"  shared-key count, one venue         {venue_s * 1000:8.1f} ms")
    print(f"  keys.shared_with, per key           {all_s * 1000 / max(len(some_ids), 1):8.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
