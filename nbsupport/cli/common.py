"""Helpers every command group shares: errors, JSON output, the console handle, the CLI actor."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, date, datetime
from typing import Any

from nbsupport.audit import Actor
from nbsupport.console import Console


class CliError(Exception):
    """A problem with the user's input or environment, reported as one line without a traceback."""


def print_json(payload: Any) -> None:
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
