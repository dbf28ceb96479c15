"""Helpers every command group shares: errors, JSON output, the console, the CLI actor."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TypeAlias

from nbsupport.audit import Actor
from nbsupport.console import Console


class CliError(Exception):
    """A problem with the user's input or environment, reported as one line without a traceback."""


# The largest id either database can store (BIGINT); a bigger one would fail inside the driver.
MAX_ID = 2**63 - 1


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], or a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text[:20]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


# What each command group's `register` adds its commands to (`ArgumentParser.add_subparsers()`); a string,
# since argparse's class is generic only to the checker.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# A user or key id as the command line takes it.
record_id = int_between(1, MAX_ID)


def print_json(payload: object) -> None:
    json.dump(payload, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def open_console() -> Console:
    return Console.open()


def cli_actor() -> Actor:
    return Actor(f"cli:{getpass.getuser()}", "admin")


def parse_day(text: str) -> datetime:
    """YYYY-MM-DD as the end of that day in UTC."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise CliError(f"not a date in YYYY-MM-DD form: {text[:40]!r}") from None
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
