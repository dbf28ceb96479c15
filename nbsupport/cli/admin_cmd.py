"""`rotate-master-key`, `generate-master-key`: keyring operations for ops."""

from __future__ import annotations

import argparse
import sys

from nbsupport.cli.common import Subparsers, int_between, open_console, print_json
from nbsupport.crypto import generate_master_key
from nbsupport.rotation import rotate_master_key


def _rotate(args: argparse.Namespace) -> int:
    console = open_console()
    report = rotate_master_key(console, batch_size=args.batch_size,
                               on_batch=lambda n: print(f"rewrapped {n}", file=sys.stderr))
    if args.json:
        print_json(report.__dict__)
    else:
        print(f"rewrapped {report.rewrapped} data keys under {report.primary}")
        if report.remaining_by_version:
            print(f"still wrapped by older keys: {report.remaining_by_version}; run again")
            return 1
        print("no data key needs an older master key any more; older keys can be removed")
    return 0


def _generate(args: argparse.Namespace) -> int:
    print(generate_master_key(args.version))
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "rotate-master-key", help="rewrap every user's data key under the primary master key",
        description="Put the new key first in NBSUPPORT_MASTER_KEYS and keep the old one after it, then run "
                    "this. Resumable: an interrupted run continues where it stopped. Credential rows are "
                    "not touched.")
    p.add_argument("--batch-size", type=int_between(1, 100_000), default=500,
                   help="data keys per transaction")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_rotate)

    p = sub.add_parser("generate-master-key", help="print a new random master key entry 'vN:<base64>'")
    p.add_argument("version", help="the version label, e.g. v2")
    p.set_defaults(handler=_generate)
