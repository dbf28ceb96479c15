"""`python -m nbsupport ...`: one module per command group, each exposing `register(subparsers)`.

A command's handler returns the process exit code. `CliError` becomes a one-line message on stderr and
exit code 2, so every bad input ends the same way and no traceback (which could carry a secret) is shown.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nbsupport.cli.common import CliError
from nbsupport.crypto import CryptoError
from nbsupport.db.engine import DatabaseUnavailable
from nbsupport.keys import KeyInputError
from nbsupport.lookup import LookupQueryError

# Errors whose message is written for the person at the terminal (and never carries a secret).
USER_ERRORS = (CliError, CryptoError, DatabaseUnavailable, KeyInputError, LookupQueryError)

# Each module registers its own subcommands; adding a command group means adding its name here.
COMMAND_MODULES: tuple[str, ...] = (
    "nbsupport.cli.keys_cmd",
    "nbsupport.cli.admin_cmd",
    "nbsupport.cli.guide_cmd",
    "nbsupport.cli.conntest_cmd",
    "nbsupport.cli.fleet_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nbsupport",
        description="Noon Barbari support console: keys, connection tests, error guide, fleet analytics.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
