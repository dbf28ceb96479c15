"""The plain result objects of the error guide: fix rows, a loaded table, and matches."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NotRequired, TypedDict

from nbsupport.diagnosis import Diagnosis
from nbsupport.plain import plain_dict
from nbsupport.vocabulary import NOT_A_KEY_PROBLEM

# Rows of the generic guide apply to every ccxt venue that has no guide of its own.
GENERIC_VENUE = "*"


class FixPayload(TypedDict):
    """The `Fix` shape the connection-test engine embeds in its JSON; keep the keys stable. A stored test
    keeps only the id and the reply, not the guide's title and steps."""

    id: str
    title: NotRequired[str]
    steps: NotRequired[list[str]]
    customer_reply: str


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
    # What tells this cause apart from the other causes of the same error (ambiguous errors).
    tell_apart: str = ""
    # Text that is no error itself but, next to a rejected key, names the cause (testnet hosts).
    hints: tuple[str, ...] = ()
    # False for order, balance and market errors: answered as not a key problem, with `team` to ask.
    key_problem: bool = True
    team: str = ""

    @property
    def cause_code(self) -> str:
        """The diagnosis code, or `not_a_key_problem` for an error about orders, balances or markets."""
        return self.diagnosis.value if self.key_problem else NOT_A_KEY_PROBLEM

    def as_fix_payload(self) -> FixPayload:
        return {
            "id": self.fix_id,
            "title": self.title,
            "steps": list(self.steps),
            "customer_reply": self.customer_reply,
        }

    def as_record(self) -> dict[str, object]:
        """Flat, JSON-safe view for tables and `--json` listings."""
        return {
            "fix_id": self.fix_id,
            "venue": self.venue,
            "diagnosis": self.diagnosis.value,
            "cause_code": self.cause_code,
            "key_problem": self.key_problem,
            "team": self.team,
            "severity": self.severity.value,
            "primary": self.primary,
            "title": self.title,
            "errors": list(self.patterns),
            "hints": list(self.hints),
            "tell_apart": self.tell_apart,
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
            if row.venue == venue and row.diagnosis == diagnosis and row.primary and row.key_problem:
                return row
        return None


@dataclass(frozen=True)
class Match:
    """A fix whose error pattern occurs in pasted text; `span` indexes that text for highlighting.

    When several fixes list the same error (it has several causes), each match says its place among them:
    `cause_rank` 1 is the most likely for that venue, out of `cause_count`.
    """

    row: FixRow
    score: float
    pattern: str
    matched_text: str
    span: tuple[int, int]
    cause_rank: int = 1
    cause_count: int = 1

    def as_dict(self) -> dict[str, object]:
        return plain_dict({
            "fix": self.row.as_fix_payload(),
            "fix_id": self.row.fix_id,
            "venue": self.row.venue,
            "diagnosis": self.row.diagnosis,
            "cause_code": self.row.cause_code,
            "key_problem": self.row.key_problem,
            "team": self.row.team,
            "cause_rank": self.cause_rank,
            "cause_count": self.cause_count,
            "tell_apart": self.row.tell_apart,
            "severity": self.row.severity,
            "score": round(self.score, 2),
            "pattern": self.pattern,
            "matched_text": self.matched_text,
            "span": self.span,
        })
