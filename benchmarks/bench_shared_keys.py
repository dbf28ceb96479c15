"""Shared-key figures on a demo database: the posture's shared-key count (one pass over the fingerprint
index) next to the rest of the posture (rollup rows), and `keys.shared_with` for single keys.

Read-only: pass any database URL; a SQLite file can be opened read-only so a shared build is never written
(`sqlite:///file:/path/demo.sqlite3?mode=ro&uri=true`).

    .venv/bin/python benchmarks/bench_shared_keys.py --database-url 'sqlite:///file:/work/bench/demo-10000.sqlite3?mode=ro&uri=true'
    .venv/bin/python benchmarks/bench_shared_keys.py --database-url \
        'postgresql+psycopg://root@127.0.0.1:5432/bench?options=-csearch_path%3Dbench_u1000000'
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_fleet import timed  # noqa: E402 (median seconds after one warm-up run)

from nbsupport.db.models import ExchangeKey  # noqa: E402
from nbsupport.fleet.stats import _shared_keys, security_posture  # noqa: E402
from nbsupport.keys import shared_with  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    engine = create_engine(args.database_url)
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
