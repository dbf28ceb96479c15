"""Plain result objects -> JSON-ready values, the one shape the CLI's --json and the pages share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import date
from enum import Enum


def plain_dict(obj: object) -> dict[str, object]:
    """A dataclass instance (its fields) or a mapping as a JSON-ready dict: see `plain`."""
    if isinstance(obj, Mapping):
        return {_key(k): plain(v) for k, v in obj.items()}
    if not is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"not a dataclass instance or a mapping: {type(obj).__name__}")
    return {f.name: plain(getattr(obj, f.name)) for f in fields(obj)}


def plain(value: object) -> object:
    """JSON-ready, recursively: dataclasses as dicts of their fields, dates and datetimes as ISO 8601
    strings, enums as their values, tuples as lists, mapping keys as strings (JSON has no other keys)."""
    if isinstance(value, Mapping) or (is_dataclass(value) and not isinstance(value, type)):
        return plain_dict(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _key(key: object) -> str:
    return str(key.value if isinstance(key, Enum) else key)
