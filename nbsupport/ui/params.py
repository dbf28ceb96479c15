"""Validating what arrives in a URL or a free-text box before it reaches the library."""

from __future__ import annotations

import re
from collections.abc import Iterable

_ID = re.compile(r"[0-9]{1,18}")


class ParamError(ValueError):
    """A URL parameter or field that is not what it should be; the message is fit for the page."""


def parse_id(name: str, value: str | Iterable[str] | None) -> int | None:
    """A positive integer id from a query parameter, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        values = list(value)
        if not values:
            return None
        if len(values) > 1:
            raise ParamError(f"?{name}= must be given once")
        value = values[0]
    value = value.strip()
    if value == "":
        return None
    if not _ID.fullmatch(value) or int(value) == 0:
        raise ParamError(f"?{name}= must be a positive whole number")
    return int(value)
