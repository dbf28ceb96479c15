"""`explain` (pasted error -> fix) and `guide` (list the fix table), both built on `nbsupport.guide`."""

from __future__ import annotations

import argparse
import sys

from nbsupport import guide
from nbsupport.cli.common import CliError, Subparsers, print_json

NO_MATCH_MESSAGE = (
    "no fix matches this text; paste the exchange's exact error message, or list the table with "
    "`guide` and escalate unknown errors to engineering"
)


def register(subparsers: Subparsers) -> None:
    explain = subparsers.add_parser(
        "explain",
        help="find the fix for a pasted error message",
        description="Match pasted error text (ticket, log line, ccxt exception) against the help guides.",
    )
    explain.add_argument("text", metavar="TEXT", help="the error text; '-' reads it from stdin")
    explain.add_argument("--exchange", metavar="ID", help="ccxt exchange id the error came from")
    explain.add_argument(
        "--json", action="store_true",
        help="print all matches as JSON (the causes of an ambiguous error carry cause_rank and tell_apart)",
    )
    explain.add_argument("--limit", type=int, default=5, metavar="N", help="at most N matches (default 5)")
    explain.set_defaults(handler=run_explain)

    listing = subparsers.add_parser(
        "guide",
        help="list the error-to-fix table",
        description="List the fixes of the help guides; a venue's listing includes the generic rows.",
    )
    listing.add_argument("--exchange", metavar="ID", help="only fixes that apply to this ccxt exchange")
    listing.add_argument(
        "--diagnosis", metavar="CODE", help="only fixes for this diagnosis code (or not_a_key_problem)"
    )
    listing.add_argument("--json", action="store_true", help="print the rows as JSON")
    listing.set_defaults(handler=run_guide)


def run_explain(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise CliError("TEXT is empty; paste the error message (or pass '-' to read stdin)")
    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    table = _load()
    matches = guide.match_error(text, exchange=args.exchange, limit=args.limit, table=table)
    if args.json:
        print_json([match.as_dict() for match in matches])
    if not matches:
        print(f"error: {NO_MATCH_MESSAGE}", file=sys.stderr)
        return 1
    if not args.json:
        _print_match_text(matches)
    return 0


def run_guide(args: argparse.Namespace) -> int:
    diagnosis = args.diagnosis.strip().lower() if args.diagnosis else None
    if diagnosis is not None and diagnosis not in guide.cause_codes():
        known = ", ".join(guide.cause_codes())
        raise CliError(f"unknown diagnosis code {args.diagnosis!r} (known: {known})")
    table = _load()
    rows = guide.search_rows(venue=args.exchange, diagnosis=diagnosis, include_generic=True, table=table)
    if args.json:
        print_json([row.as_record() for row in rows])
        return 0
    if not rows:
        print("no fixes match these filters")
        return 0
    width = max(len(row.fix_id) for row in rows)
    for record in guide.records(rows):
        mark = "*" if record["primary"] else " "
        print(
            f"{mark} {record['fix_id']:<{width}}  {record['venue']:<13}  {record['diagnosis']:<20}  "
            f"{record['severity']:<8}  {record['title']}"
        )
    print(f"\n{len(rows)} fixes; * = primary fix for its venue and diagnosis")
    return 0


def _load() -> guide.FixTable:
    try:
        return guide.load_table()
    except guide.GuideError as exc:
        raise CliError(f"help guide is malformed: {exc}") from None


def _print_match_text(matches: list[guide.Match]) -> None:
    best = matches[0]
    row = best.row
    print(f"{row.fix_id}: {row.title}")
    print(f"  venue: {row.venue}   diagnosis: {row.cause_code}   severity: {row.severity.value}")
    print(f"  matched: {best.matched_text!r} (pattern {best.pattern!r}, score {best.score:.1f})")
    print(f"  guide: {row.anchor}")
    if not row.key_problem:
        print(f"\nNot a key problem: the key works. Hand this to {row.team}.")
    causes = guide.causes_of_best(matches)
    if len(causes) > 1:
        print(f"\n{best.matched_text!r} has {len(causes)} possible causes, most likely first:")
        for cause in causes:
            print(f"  {cause.cause_rank}. {cause.row.cause_code} ({cause.row.fix_id}): {cause.row.title}")
            if cause.row.tell_apart:
                print(f"     tells apart: {cause.row.tell_apart}")
    print("\nCause:")
    print(f"  {row.cause}")
    print("\nFix:")
    for number, step in enumerate(row.steps, start=1):
        print(f"  {number}. {step}")
    print("\nCustomer reply:")
    for line in row.customer_reply.splitlines():
        print(f"  {line}" if line else "")
    others = [m for m in matches[1:] if m not in causes]
    if others:
        print("\nOther candidates:")
        for other in others:
            print(f"  {other.row.fix_id} ({other.row.cause_code}, score {other.score:.1f})")
