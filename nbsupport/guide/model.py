"""The plain result objects of the error guide: fix rows, a loaded table, and matches."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from nbsupport.diagnosis import Diagnosis

# Rows of the generic guide apply to every ccxt venue that has no guide of its own.
GENERIC_VENUE = "*"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class GuideError(ValueError):
    """A help guide that does not follow the entry format; always names the file and the line."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}")


@dataclass(frozen=True)
class FixRow:
    """One troubleshooting entry of one guide, as support pastes it."""

    fix_id: str
    venue: str
    diagnosis: Diagnosis
    patterns: tuple[str, ...]
    exception_classes: tuple[str, ...]
    title: str
    cause: str
    steps: tuple[str, ...]
    customer_reply: str
    severity: Severity
    primary: bool
    anchor: str
    source_file: str
    source_line: int

    def as_fix_payload(self) -> dict[str, Any]:
        """The `Fix` shape the connection-test engine embeds in its JSON; keep the keys stable."""
        return {
            "id": self.fix_id,
            "title": self.title,
            "steps": list(self.steps),
            "customer_reply": self.customer_reply,
        }

    def as_record(self) -> dict[str, Any]:
        """Flat, JSON-safe view for tables and `--json` listings."""
        return {
            "fix_id": self.fix_id,
            "venue": self.venue,
            "diagnosis": self.diagnosis.value,
            "severity": self.severity.value,
            "primary": self.primary,
            "title": self.title,
            "errors": list(self.patterns),
            "exception_classes": list(self.exception_classes),
            "cause": self.cause,
            "steps": list(self.steps),
            "customer_reply": self.customer_reply,
            "anchor": self.anchor,
            "source_line": self.source_line,
        }


@dataclass(frozen=True)
class VenueGuide:
    """The header of one guide: which venue it speaks for and how that venue shows up in pasted text."""

    venue: str
    title: str
    aliases: tuple[str, ...]
    covers: tuple[str, ...]
    source_file: str


# eq=False: a table is identified by the object, so caches keyed on it hash in O(1).
@dataclass(frozen=True, eq=False)
class FixTable:
    rows: tuple[FixRow, ...]
    guides: tuple[VenueGuide, ...]
    _by_id: dict[str, FixRow] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {row.fix_id: row for row in self.rows})

    def by_id(self, fix_id: str) -> FixRow | None:
        return self._by_id.get(fix_id)

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(guide.venue for guide in self.guides)

    def has_venue(self, venue: str) -> bool:
        return any(guide.venue == venue for guide in self.guides)

    def primary(self, venue: str, diagnosis: Diagnosis) -> FixRow | None:
        for row in self.rows:
            if row.venue == venue and row.diagnosis == diagnosis and row.primary:
                return row
        return None


@dataclass(frozen=True)
class Match:
    """A fix whose error pattern occurs in pasted text; `span` indexes that text for highlighting."""

    row: FixRow
    score: float
    pattern: str
    matched_text: str
    span: tuple[int, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "fix": self.row.as_fix_payload(),
            "fix_id": self.row.fix_id,
            "venue": self.row.venue,
            "diagnosis": self.row.diagnosis.value,
            "severity": self.row.severity.value,
            "score": round(self.score, 2),
            "pattern": self.pattern,
            "matched_text": self.matched_text,
            "span": list(self.span),
        }
