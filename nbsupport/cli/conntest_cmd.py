"""`retest KEY_ID`: run the connection test on a stored key and print what is wrong and how to fix it.

Exit codes: 0 the test ran and the key works (outcome ok or warning), 1 the test ran and the key fails,
3 the re-test was refused (already running or in cooldown), 2 bad input (see nbsupport.cli).
"""

from __future__ import annotations

import argparse
import sys

from nbsupport.cli.common import Subparsers, cli_actor, open_console, print_json, record_id
from nbsupport.conntest import ConnectionOutcome, ProgressEvent, RetestRefused, run_retest

EXIT_FAILED = 1
EXIT_REFUSED = 3


def _print_step(event: ProgressEvent) -> None:
    if event.status != "running":
        detail = f"  {event.detail}" if event.detail else ""
        print(f"  {event.step:<28} {event.status}{detail}", file=sys.stderr)


def _print_human(result: ConnectionOutcome) -> None:
    print(f"key {result.key_id}: {result.outcome.upper()}  diagnosis={result.diagnosis}")
    if result.missing_permissions:
        print(f"  missing permissions: {', '.join(result.missing_permissions)}")
    print("  permissions: " + ", ".join(f"{k}={v}" for k, v in result.permissions.items()))
    if result.error_source == "console":
        print(f"  our side: {result.error_text}")
    elif result.exchange_error:
        print(f"  exchange said: {result.exchange_error}")
    for warning in result.warnings:
        print(f"  warning: {warning}")
    route = f", left from {result.egress_ip}" if result.egress_ip else ""
    print(f"  {result.requests} requests in {result.duration_ms} ms{route} (test {result.test_id})")
    fix = result.fix
    print(f"  fix [{fix.get('id')}]: {fix.get('title')}")
    for number, step in enumerate(fix.get("steps", []), 1):
        print(f"    {number}. {step}")
    if fix.get("customer_reply"):
        print(f"  reply to customer:\n    {fix['customer_reply']}")


def report_refused(key_id: int, refused: RetestRefused, *, as_json: bool) -> int:
    """A refused test or probe: why, and when to try again; exit code EXIT_REFUSED."""
    if as_json:
        print_json({"key_id": key_id, "refused": {"reason": refused.reason,
                                                  "retry_after_s": refused.retry_after_s,
                                                  "message": str(refused)}})
    else:
        print(f"refused: {refused}", file=sys.stderr)
    return EXIT_REFUSED


def _retest(args: argparse.Namespace) -> int:
    console = open_console()
    try:
        result = run_retest(console, args.key_id, actor=cli_actor(), ticket=args.ticket,
                            progress=None if args.json else _print_step, ignore_cooldown=args.force)
    except RetestRefused as refused:
        return report_refused(args.key_id, refused, as_json=args.json)
    finally:
        console.close()
    if args.json:
        print_json(result.as_dict())
    else:
        _print_human(result)
    return EXIT_FAILED if result.outcome == "failed" else 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "retest", help="run the connection test on a stored key",
        description="Runs the probe plan on a stored key (master key needed), records the result and an "
                    "audit event, and prints the diagnosis and its fix. Exit code 0 = works, 1 = fails, "
                    "3 = refused.")
    p.add_argument("key_id", type=record_id, metavar="KEY_ID", help="the exchange key's id (see `lookup`)")
    p.add_argument("--ticket", default="", help="support ticket this re-test belongs to (audited)")
    p.add_argument("--force", action="store_true",
                   help="skip the per-key cooldown (never the one-test-at-a-time lease)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_retest)
