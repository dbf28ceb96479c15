"""`demo`: fill the database with deterministic demo data (a few hundred users by default, up to millions)."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from nbsupport.cli.common import CliError, Subparsers, open_console, print_json
from nbsupport.demo import DEFAULT_USERS, DemoError, DemoSpec, build_demo, ensure_demo_data


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:20]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text[:40]!r}") from None


def _progress(done: int, total: int) -> None:
    # About twenty lines for a big build, none for the small default.
    step = max(total // 20, 50_000)
    if done % step < 5_000 or done == total:
        print(f"  {done:,} / {total:,} users", file=sys.stderr)


def _demo(args: argparse.Namespace) -> int:
    spec = DemoSpec(users=args.users, seed=args.seed, days=args.days, as_of=args.as_of)
    console = open_console()
    try:
        if args.if_empty:
            if not ensure_demo_data(console, spec):
                print("the database already has users; demo data left as it is")
                return 0
            print(f"built the demo: {spec.users:,} users (seed {spec.seed})")
            return 0
        report = build_demo(console, spec, reset=args.reset, force=args.force,
                            progress=_progress if spec.users >= 50_000 else None)
    except DemoError as exc:
        raise CliError(str(exc)) from None
    finally:
        console.close()
    if args.json:
        print_json(report.as_dict())
        return 0
    print(f"built {report.users:,} users, {report.keys:,} keys, {report.connection_tests:,} connection "
          f"tests, {report.backfill_runs:,} backfill runs, {report.placed_order_days:,} order days "
          f"in {report.seconds:.1f} s ({report.users_per_second:,.0f} users/s); "
          f"{report.practice_keys} practice keys")
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo", help="fill the database with deterministic demo users, keys and test history",
        description="Generates users with envelope keys and really encrypted exchange keys on several "
                    "venues, ~13 connection tests per key over --days days (failure mixes, a Kraken outage), "
                    "weekly backfill runs (some keys silently missing the closed-orders permission) and the "
                    "orders strategies placed, plus one practice key per sandbox failure mode. The same "
                    "--seed and --as-of day give the same rows. Refuses a database that already has users "
                    "unless --reset.")
    p.add_argument("--users", type=_positive, default=DEFAULT_USERS,
                   help=f"how many users (default {DEFAULT_USERS}; 1000000 builds in minutes)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--days", type=_positive, default=90, help="days of connection-test history (default 90)")
    p.add_argument("--as-of", type=_day, metavar="YYYY-MM-DD",
                   help="the day the history ends (default: today, UTC)")
    p.add_argument("--reset", action="store_true",
                   help="delete the existing users, keys and history first (the audit trail is kept)")
    p.add_argument("--force", action="store_true",
                   help="with --reset: also delete users that are not demo users")
    p.add_argument("--if-empty", action="store_true",
                   help="build only if the database has no users yet (first start); never resets")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    p.set_defaults(handler=_demo)
