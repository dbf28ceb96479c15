"""Server time of every console page (issue #13's budget: p95 ≤ 300 ms on the 1 M-user database), as
Streamlit's AppTest runs the page script: one table, page × backend × first/warm, 10 k beside 1 M.

* first: the first script run of a new session (a person opening the page; the bulk page's first
  preview included);
* warm: a rerun of the same session (a widget changed, the page redrawn).

Before timing, one untimed pass over every page pays the process's one-time imports (altair, pandas'
IO, the pages' modules), as a running server has.

Databases: the demo builds at the latest schema (`python -m nbsupport init-db`, then
`python -m nbsupport demo --users N` on each URL; pages write audit rows into them):

    /work/bench/demo-10000.sqlite3, /work/bench/demo-1000000.sqlite3
    PostgreSQL database `bench`, schemas bench_u10000 / bench_u1000000
    .venv/bin/python benchmarks/bench_pages.py --runs 7

Each database is given as NAME=URL with --db (defaults: the builds above). The master key comes from
NBSUPPORT_MASTER_KEYS or --master-key-file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, select  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from nbsupport import config  # noqa: E402
from nbsupport.db.models import ExchangeKey, User  # noqa: E402
from nbsupport.keyring import read_or_create_key_file  # noqa: E402
from nbsupport.ui.pages_mode import start_out_of_pages_directory_mode  # noqa: E402

APP = REPO / "streamlit_app.py"
BUDGET_MS = 300
PG = "postgresql+psycopg://root@127.0.0.1:5432/bench?options=-csearch_path%3D"
DEFAULT_DBS = {
    "sqlite 10k": "sqlite:////work/bench/demo-10000.sqlite3",
    "sqlite 1M": "sqlite:////work/bench/demo-1000000.sqlite3",
    "postgres 10k": PG + "bench_u10000",
    "postgres 1M": PG + "bench_u1000000",
}
ADMIN = "bench.admin@noonbarbari.com"
Prepare = Callable[[AppTest], None]


def sample_rows(url: str) -> dict[str, str]:
    """A user, a key and a ticket to open, from the middle of the database."""
    engine = create_engine(url)
    with engine.connect() as conn:
        top = conn.scalar(select(User.id).order_by(User.id.desc()).limit(1)) or 1
        user_id, email = conn.execute(select(User.id, User.email).where(User.id >= top // 2)
                                      .order_by(User.id).limit(1)).one()
        key_id = conn.scalar(select(ExchangeKey.id).where(ExchangeKey.user_id == user_id).limit(1))
    engine.dispose()
    return {"user": str(user_id), "email": email, "key": str(key_id or 1)}


def _field(at: AppTest, label: str) -> object:
    return next(w for w in at.text_input if w.label == label)


def cases(sample: dict[str, str]) -> dict[str, tuple[str, dict[str, str], Prepare | None]]:
    """page name -> (page file, query params, what the person does before the timed run)."""

    def search(at: AppTest) -> None:
        at.session_state["lookup_query"] = sample["email"]

    def backfill_user(at: AppTest) -> None:
        _field(at, "User").set_value(f"user:{sample['user']}")  # type: ignore[attr-defined]

    def audit_ticket(at: AppTest) -> None:
        _field(at, "Ticket starts with").set_value("https://support")  # type: ignore[attr-defined]

    def bulk_preview(at: AppTest) -> None:
        next(b for b in at.button if b.label == "Preview cohort").click()

    def paste_ticket(at: AppTest) -> None:
        at.text_area(key="triage_paste").set_value(
            f"Hi, I am {sample['email']} (user {sample['user']}). Since this morning the bot says "
            "EAPI:Invalid nonce and then EGeneral:Permission denied. Can you help?")
        next(b for b in at.button if b.label == "Triage").click()

    def paste_error(at: AppTest) -> None:
        at.text_area(key="pasted_error").set_value("kraken {\"error\":[\"EGeneral:Permission denied\"]}")

    return {
        "triage (pasted ticket)": ("pages/triage.py", {}, paste_ticket),
        "lookup (search by email)": ("pages/lookup.py", {}, search),
        "key detail": ("pages/key_detail.py", {"key": sample["key"]}, None),
        "backfill (one user)": ("pages/backfill.py", {"user": sample["user"]}, backfill_user),
        "failure stats": ("pages/failure_stats.py", {}, None),
        "error guide": ("pages/error_guide.py", {}, None),
        "error guide (pasted error)": ("pages/error_guide.py", {}, paste_error),
        "bulk (preview, 24 h)": ("pages/bulk_retest.py", {}, bulk_preview),
        "audit log": ("pages/audit_log.py", {}, None),
        "audit log (ticket search)": ("pages/audit_log.py", {}, audit_ticket),
    }


def _timed_run(at: AppTest) -> float:
    started = time.perf_counter()
    at.run(timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    if at.exception:
        raise RuntimeError(f"page raised: {[e.value for e in at.exception][:1]}")
    return elapsed


def measure(page: str, params: dict[str, str], prepare: Prepare | None, runs: int) -> tuple[float, float]:
    """(first p95, warm p95) in ms over `runs` new sessions, each timed on its first run of the page
    (after the action) and on one rerun."""
    first, warm = [], []
    for _ in range(runs):
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        at.switch_page(page)
        at.query_params.update(params)
        if prepare is not None:
            at.run()  # the page as the person sees it before acting (untimed)
            prepare(at)
        first.append(_timed_run(at))
        warm.append(_timed_run(at))
    return p95(first), p95(warm)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def prepare_process(master_key_file: Path) -> None:
    """This process as a console server signed in as an admin, in demo mode but never building a demo."""
    os.environ.setdefault("NBSUPPORT_MASTER_KEYS", read_or_create_key_file(master_key_file))
    os.environ.update({"NBSUPPORT_DEMO": "1", "NBSUPPORT_DEMO_IDENTITY": ADMIN,
                       "NBSUPPORT_ROLES": json.dumps({ADMIN: "admin"}),
                       "NBSUPPORT_HOME": str(REPO / "var" / "bench-pages")})
    start_out_of_pages_directory_mode()  # as tests/pages do: see nbsupport.ui.pages_mode
    import nbsupport.ui.session as session_module

    session_module.seed_demo = lambda console: None  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", default=[], metavar="NAME=URL")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--master-key-file", default="/work/bench/master.key")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    dbs = dict(d.split("=", 1) for d in args.db) or DEFAULT_DBS
    prepare_process(Path(args.master_key_file))
    results: dict[str, dict[str, tuple[float, float]]] = {}
    warmed = False
    for name, url in dbs.items():
        os.environ["NBSUPPORT_DATABASE_URL"] = url
        config.get_settings.cache_clear()
        import streamlit as st

        st.cache_resource.clear()
        sample = sample_rows(url)
        if not warmed:
            # The server process imports altair, pandas' IO and the pages' modules once, on the first visit
            # of each page after it starts: a start-up cost, not a page's. One untimed pass pays it.
            for page, params, prepare in cases(sample).values():
                measure(page, params, prepare, 1)
            warmed = True
        for page_name, (page, params, prepare) in cases(sample).items():
            results.setdefault(page_name, {})[name] = measure(page, params, prepare, args.runs)
            print(f"  {name:<13} {page_name:<26} first {results[page_name][name][0]:7.0f} ms  "
                  f"warm {results[page_name][name][1]:7.0f} ms", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    load = os.getloadavg()
    header = " | ".join(f"{n} first | {n} warm" for n in dbs)
    print(f"p95 of {args.runs} sessions, ms (budget {BUDGET_MS}); load average {load[0]:.1f} {load[1]:.1f}\n")
    print(f"| page | {header} |")
    print("| --- |" + " ---: |" * (2 * len(dbs)))
    for page_name, per_db in results.items():
        cells = " | ".join(f"{per_db[n][0]:.0f} | {per_db[n][1]:.0f}" for n in dbs)
        print(f"| {page_name} | {cells} |")


if __name__ == "__main__":
    main()
