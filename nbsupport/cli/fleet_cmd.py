"""`backfill-health`, `stats`, `bulk-retest`, `rebuild-rollups`: fleet analytics for analysts and admins."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nbsupport import audit
from nbsupport.audit import Action
from nbsupport.cli.common import (
    MAX_ID,
    CliError,
    Subparsers,
    cli_actor,
    int_between,
    open_console,
    print_json,
    record_id,
)
from nbsupport.cli.conntest_cmd import report_refused
from nbsupport.conntest import RetestRefused
from nbsupport.db.models import User
from nbsupport.fleet.backfill.health import backfill_health
from nbsupport.fleet.backfill.probe import closed_orders_summary, probe_closed_orders
from nbsupport.fleet.bulk.batch import bulk_retest
from nbsupport.fleet.bulk.models import RUNNING, BulkError, BulkProgress
from nbsupport.fleet.stats.figures import failure_stats
from nbsupport.fleet.stats.rollups import rebuild_rollups

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# How far back a period may reach: further would leave the calendar (and no data is that old).
MAX_DAYS = 3650
_days = int_between(1, MAX_DAYS)


def parse_duration(text: str) -> timedelta:
    """'90m', '24h', '2d', '1w' (a bare number means hours)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not found or float(found.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration like 24h, 90m or 2d: {text[:40]!r}")
    seconds = float(found.group(1)) * _UNITS[found.group(2) or "h"]
    if seconds > MAX_DAYS * 86400:
        raise argparse.ArgumentTypeError(f"at most {MAX_DAYS} days")
    return timedelta(seconds=seconds)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:20]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _processes(text: str) -> int | Literal["auto"]:
    return "auto" if text == "auto" else _positive(text)


def _user_id(session: Session, text: str) -> int:
    if re.fullmatch(r"[0-9]+", text.strip()):
        digits = text.strip().lstrip("0") or "0"
        if len(digits) > len(str(MAX_ID)) or int(digits) > MAX_ID:
            raise CliError("no user with that id")
        return int(digits)
    user_id = session.scalar(select(User.id).where(User.email == text.strip().lower()))
    if user_id is None:
        raise CliError("no user with that email")
    return int(user_id)


def _backfill_health(args: argparse.Namespace) -> int:
    console = open_console()
    if args.probe is not None:
        try:
            summary = closed_orders_summary(
                probe_closed_orders(console, args.probe, actor=cli_actor(), ticket=args.ticket))
        except RetestRefused as refused:
            # Same answer and exit code as `retest`: the key is being tested, or was just now.
            return report_refused(args.probe, refused, as_json=args.json)
        if args.json:
            print_json(summary)
        else:
            print(
                f"key {summary['key_id']}: Query Closed Orders & Trades {summary['closed_orders_scope']} "
                f"(test {summary['outcome']}/{summary['diagnosis']}, {summary['requests']} requests via "
                f"{summary['via']})"
            )
        return 0
    with console.session() as session:
        user_id = _user_id(session, args.user) if args.user else None
        findings = backfill_health(session, user_id=user_id, days=args.days,
                                   include_non_customer=args.include_non_customer)
        audit.record(
            session,
            cli_actor(),
            Action.FLEET_BACKFILL_HEALTH,
            ticket=args.ticket,
            subject_user_id=user_id,
            result=f"{len(findings)} flagged",
            detail={"days": args.days, "include_non_customer": args.include_non_customer},
        )
    if args.json:
        print_json([f.as_dict() for f in findings])
        return 0
    if not findings:
        print("no key with a backfill problem in that period")
        return 0
    for f in findings:
        print(
            f"key {f.key_id} user {f.user_id} {f.exchange}/{f.product}: {f.cause} ({f.confidence}) "
            f"- {f.summary}\n    fix: {f.fix.get('title', '')}"
        )
    return 0


def _stats(args: argparse.Namespace) -> int:
    console = open_console()
    with console.session() as session:
        stats = failure_stats(session, days=args.days, exchange=args.exchange,
                              include_non_customer=args.include_non_customer)
    if args.json:
        print_json(stats.as_dict())
        return 0
    t = stats.total
    print(f"{stats.first_day} .. {stats.last_day}: {t.tests} tests, {t.failed} failed ({t.rate:.1%})")
    for venue in stats.by_venue:
        print(f"  {venue.name:<18} {venue.tests:>9} tests  {venue.rate:6.1%} failed")
    print("top diagnoses: " + ", ".join(f"{d.diagnosis} {d.failed}" for d in stats.top_diagnoses))
    for incident in stats.incidents:
        print(
            f"incident: {incident.exchange} {incident.day} {incident.rate:.1%} "
            f"(baseline {incident.baseline_mean:.1%} ± {incident.baseline_sd:.1%})"
        )
    ttg = stats.time_to_green
    print(f"time to green: {ttg.episodes} episodes, median {ttg.median_hours} h, p90 {ttg.p90_hours} h")
    p = stats.posture
    print(
        f"posture: {p.keys} keys, {p.can_withdraw} can withdraw, {p.no_ip_whitelist} without IP "
        f"whitelist, {p.rotation_overdue} rotation overdue, {p.expiring_soon} expiring soon, "
        f"{p.shared} shared with another copy"
    )
    return 0


class _ProgressBar:
    """A one-line bar on stderr (redrawn on a terminal, a line per tenth otherwise)."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = 0.0
        self._tenth = -1

    def __call__(self, p: BulkProgress) -> None:
        if p.outcome == RUNNING:
            return
        if self._tty:
            now = time.monotonic()
            if now - self._last < 0.1 and p.done < p.total:
                return
            self._last = now
            width = 30
            filled = int(width * p.done / p.total) if p.total else width
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total}")
            if p.done >= p.total:
                sys.stderr.write("\n")
        elif (tenth := p.done * 10 // max(p.total, 1)) > self._tenth:
            self._tenth = tenth
            sys.stderr.write(f"{p.done}/{p.total} keys re-tested\n")
        sys.stderr.flush()


def _bulk_retest(args: argparse.Namespace) -> int:
    console = open_console()
    try:
        report = bulk_retest(
            console,
            exchange=args.exchange,
            diagnosis=args.diagnosis,
            since=args.since,
            concurrency=args.concurrency,
            processes=args.processes,
            dry_run=args.dry_run,
            actor=cli_actor(),
            ticket=args.ticket,
            progress=None if args.json else _ProgressBar(),
            batch_id=args.resume,
            include_non_customer=args.include_non_customer,
        )
    except BulkError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(report.as_dict())
    elif report.dry_run:
        print(f"dry run: {report.cohort} keys would be re-tested {report.by_venue}")
    else:
        print(
            f"batch {report.batch_id}: {report.tested} re-tested, {report.already_done} already done, "
            f"{len(report.refused)} refused, {len(report.errors)} errors; outcomes {report.outcomes}"
        )
    if report.interrupted:
        print(f"interrupted: resume with --resume {report.batch_id}", file=sys.stderr)
        return 130
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    console = open_console()
    rebuild_rollups(console)
    print("fleet rollups rebuilt")
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "backfill-health",
        help="keys whose fill-history backfills are empty or denied",
        description="Flags keys whose backfills return zero closed orders/trades while the "
        "platform placed orders, or fail with permission errors, with cause, "
        "confidence, evidence and fix. Idle keys are not flagged.",
    )
    p.add_argument("--user", help="only this user (id or email)")
    p.add_argument("--days", type=_days, default=30, help="backfill runs started in the last N days")
    p.add_argument(
        "--probe",
        type=record_id,
        metavar="KEY",
        help="instead of scanning, re-check one key's "
        "Query Closed Orders & Trades scope through the connection-test engine",
    )
    p.add_argument("--include-non-customer", action="store_true",
                   help="count practice and internal keys too (default: customers' keys only)")
    p.add_argument("--ticket", default="", help="support ticket for the audit trail")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_backfill_health)

    p = sub.add_parser("stats", help="fleet failure statistics, incidents, time-to-green, security posture")
    p.add_argument("--days", type=_days, default=30, help="the last N UTC days, today included")
    p.add_argument("--exchange", help="one venue (ccxt id)")
    p.add_argument("--include-non-customer", action="store_true",
                   help="count practice and internal keys too (default: customers' keys only)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_stats)

    p = sub.add_parser(
        "bulk-retest",
        help="re-test every key that failed recently (resumable)",
        description="Selects keys with a failed test (or a test with --diagnosis) in the "
        "period and re-tests them in parallel, one test per key, within per-venue "
        "budgets. Ctrl-C stops after the running tests; --resume continues.",
    )
    p.add_argument("--exchange", help="one venue (ccxt id)")
    p.add_argument("--diagnosis", help="keys with a test of this diagnosis instead of any failure")
    p.add_argument("--since", type=parse_duration, default=timedelta(hours=24), help="e.g. 24h, 90m, 2d")
    p.add_argument("--concurrency", type=_positive, default=8, help="parallel tests across keys")
    p.add_argument(
        "--processes",
        type=_processes,
        default="auto",
        help="worker processes (default auto: one per core, at most 4, for 200+ keys)",
    )
    p.add_argument("--dry-run", action="store_true", help="only show the cohort")
    p.add_argument("--resume", metavar="BATCH", help="continue an interrupted batch (its filters apply)")
    p.add_argument("--include-non-customer", action="store_true",
                   help="count practice and internal keys too (default: customers' keys only)")
    p.add_argument("--ticket", default="", help="support ticket for the audit trail")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_bulk_retest)

    p = sub.add_parser("rebuild-rollups", help="recompute the fleet statistics rollups from raw rows")
    p.set_defaults(handler=_rebuild)
