"""`python -m nbsupport ...`: one module per command group, each exposing `register(subparsers)`.

A command's handler returns the process exit code. `CliError` becomes a one-line message on stderr and
exit code 2, so every bad input ends the same way and no traceback (which could carry a secret) is shown.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

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
    "nbsupport.cli.demo_cmd",
    "nbsupport.cli.triage_cmd",
)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, except that a usage error is one line on stderr (exit code 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        # An echoed argument could hold a newline or a terminal escape: show those escaped.
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.exit(2, f"error: {shown} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    # Sub-parsers inherit the class, so every command's usage errors are one line too.
    parser = _OneLineParser(
        prog="python -m nbsupport",
        description="Noon Barbari support console: keys, connection tests, error guide, fleet analytics.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


_NOT_UTF8 = "is not valid UTF-8 text (undecodable bytes)"


def _undecodable(text: str) -> bool:
    # Python hands undecodable argv/stdin bytes over as lone surrogates; no database or terminal takes them.
    return any("\ud800" <= c <= "\udfff" for c in text)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for position, arg in enumerate(argv, 1):
        if _undecodable(arg):
            print(f"error: argument {position} {_NOT_UTF8}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UnicodeError:
        # Undecodable bytes read from stdin: they can be neither stored nor printed.
        print(f"error: the input {_NOT_UTF8}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
