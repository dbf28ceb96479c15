"""`python -m tests.prove`: run the "prove it holds" suites and print what they tried and found.

It lives with the suites it runs, which the installed package does not carry. It runs `pytest tests/prove`
(leak scan, crypto tampering, fault injection, fuzzing, concurrency; the slow suites too unless `--quick`)
with the suites' tally plugin writing its figures to a JSON file, then prints a table per suite and the
totals: scenarios run, faults injected, fuzz examples tried, concurrent tests, leaks found, lost or
corrupted records, tracebacks shown to a user. Every figure is counted by the tests that ran; none is a
constant.

Exit status: 0 when every suite passed and leaks, lost records and tracebacks are all zero; 1 otherwise
(2 for arguments it does not take).

The database is the test suite's: a fresh SQLite file per test by default, a fresh PostgreSQL schema per
test when NBSUPPORT_DATABASE_URL=postgresql+psycopg://... is set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from tests.prove.tally import FIGURES, MUST_BE_ZERO, TALLY_ENV

SUITES_DIR = Path(__file__).resolve().parent
REPO_ROOT = SUITES_DIR.parent.parent
SUITE_ORDER = ("leak_scan", "crypto_tampering", "fault_injection", "fuzzing", "concurrency")


def database_label() -> str:
    url = os.environ.get("NBSUPPORT_DATABASE_URL", "")
    if not url:
        return "SQLite (a fresh database file per test)"
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL: the suites will say so; never echo it (it may hold a password)
        shown = "(unparseable URL)"
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    return (
        f"{backend} ({shown}; a fresh schema per test)" if backend == "PostgreSQL" else f"{backend} ({shown})"
    )


def pytest_command(quick: bool, extra: Sequence[str]) -> list[str]:
    command = [sys.executable, "-m", "pytest", str(SUITES_DIR.relative_to(REPO_ROOT)), "-q"]
    if not quick:
        command.append("--run-slow")
    return [*command, *extra]


def _suite_rows(report: dict[str, Any]) -> list[str]:
    suites: dict[str, Any] = report.get("suites", {})
    names = [s for s in SUITE_ORDER if s in suites] + sorted(set(suites) - set(SUITE_ORDER))
    short = {
        "scenarios": "scen",
        "faults": "faults",
        "fuzz_examples": "fuzz",
        "concurrent_tests": "conc",
        "leaks": "leaks",
        "lost_records": "lost",
        "tracebacks": "tb",
    }
    header = f"{'suite':<18} {'passed':>6} {'failed':>6} {'skipped':>7}  " + " ".join(
        f"{short[f]:>7}" for f in FIGURES
    )
    rows = [header, "-" * len(header)]
    for name in names:
        outcomes = suites[name].get("outcomes", {})
        figures = suites[name].get("figures", {})
        rows.append(
            f"{name:<18} {outcomes.get('passed', 0):>6} {outcomes.get('failed', 0):>6} "
            f"{outcomes.get('skipped', 0):>7}  " + " ".join(f"{figures.get(f, 0):>7,}" for f in FIGURES)
        )
    return rows


def summary(report: dict[str, Any], pytest_status: int, seconds: float, quick: bool) -> tuple[str, list[str]]:
    """The printed summary and the reasons the proof does not hold (empty when it holds)."""
    figures: dict[str, int] = report.get("figures", {})
    reasons: list[str] = []
    if pytest_status != 0:
        failed = report.get("failed_tests", [])
        reasons.append(
            f"pytest exited with status {pytest_status}"
            + (f"; failed: {', '.join(failed[:10])}" + (" …" if len(failed) > 10 else "") if failed else "")
        )
    reasons.extend(f"{FIGURES[f]}: {figures.get(f, 0)}" for f in MUST_BE_ZERO if figures.get(f, 0) != 0)
    if not figures.get("scenarios", 0):
        reasons.append("no scenario ran")
    width = max(len(label) for label in FIGURES.values())
    lines = [
        "",
        "=" * 78,
        f"Prove it holds: {database_label()}",
        f"suites in {SUITES_DIR.relative_to(REPO_ROOT)}/, "
        f"{'quick (slow suites skipped)' if quick else 'all suites'}, {seconds:.0f} s",
        "=" * 78,
        *_suite_rows(report),
        "",
        f"{'figure':<{width}}  {'value':>9}",
        f"{'-' * width}  {'-' * 9}",
    ]
    for figure, label in FIGURES.items():
        mark = "  (must be 0)" if figure in MUST_BE_ZERO else ""
        lines.append(f"{label:<{width}}  {figures.get(figure, 0):>9,}{mark}")
    lines.append("")
    lines.append("verdict: HOLDS" if not reasons else "verdict: DOES NOT HOLD")
    lines.extend(f"  - {reason}" for reason in reasons)
    return "\n".join(lines), reasons


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.prove",
        description="Run the leak-scan, crypto-tampering, fault-injection, fuzzing and concurrency suites "
        "and print the figures they measured. Exit 0 only if every suite passed with zero "
        "leaks, zero lost or corrupted records and zero tracebacks shown to a user.",
        epilog="Arguments after `--` go to pytest (e.g. -- -k leak). Set NBSUPPORT_DATABASE_URL to run on "
        "PostgreSQL.",
    )
    parser.add_argument("--quick", action="store_true", help="skip the suites marked slow")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nbsupport-prove-") as scratch:
        tally_file = Path(scratch) / "tally.json"
        env = {**os.environ, TALLY_ENV: str(tally_file)}
        started = time.monotonic()
        # Our own interpreter running pytest on our own suites; the extra arguments are the caller's.
        status = subprocess.call(pytest_command(args.quick, extra), cwd=REPO_ROOT, env=env)
        seconds = time.monotonic() - started
        report: dict[str, Any] = json.loads(tally_file.read_text()) if tally_file.is_file() else {}
    if not report:
        print("error: the suites wrote no figures (did pytest start? see its output above)", file=sys.stderr)
        return 1
    text, reasons = summary(report, status, seconds, args.quick)
    print(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps({**report, "holds": not reasons, "reasons": reasons}, indent=2, sort_keys=True)
        )
    return 0 if not reasons else 1
