"""Plain result objects -> JSON-ready dicts, the one shape the CLI's --json and the pages share."""

from __future__ import annotations

from datetime import datetime


def iso_fields(obj: object) -> dict[str, object]:
    """A dataclass instance's fields, with datetimes as ISO 8601 strings."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(obj).items()}
