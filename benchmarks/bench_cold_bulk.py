"""The bulk page's first cohort preview with nothing cached: run it right after restarting the database
server and dropping the OS page cache (as root: `sync; echo 3 > /proc/sys/vm/drop_caches`).

    pg_ctlcluster --skip-systemctl-redirect 15 main restart; sync; echo 3 > /proc/sys/vm/drop_caches
    .venv/bin/python benchmarks/bench_cold_bulk.py "postgres 1M=postgresql+psycopg://...bench_u1000000"

One new session, as bench_pages.py times it (the page opened untimed, then the timed preview and a rerun);
one measurement per cold start, so run it again after the next restart for another.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import bench_pages as bp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", metavar="NAME=URL")
    parser.add_argument("--master-key-file", default="/work/bench/master.key")
    args = parser.parse_args()
    name, url = args.db.split("=", 1)
    bp.prepare_process(Path(args.master_key_file))
    os.environ["NBSUPPORT_DATABASE_URL"] = url
    page, params, prepare = bp.cases(bp.sample_rows(url))["bulk (preview, 24 h)"]
    first, rerun = bp.measure(page, params, prepare, 1)
    print(f"{name}: first preview with nothing cached {first:.0f} ms, rerun {rerun:.0f} ms")


if __name__ == "__main__":
    main()
