"""Pasted error text -> ranked fixes.

Ranking, best first:
1. rows of the venue the text is about (given, or detected from the text) beat every generic row;
   when no venue is known, a venue guide's own error string still beats a generic one, because
   strings like `EAPI:Invalid key` only ever come from that venue;
2. then the longer (more specific) matched pattern: `EGeneral:Permission denied:expired` beats
   `EGeneral:Permission denied`;
3. a bare ccxt exception class name (`AuthenticationError`) scores below any real error string: it
   says which family of problem it is, never which cause;
4. ties go to the primary row, then to guide order.

Work is capped: the text is scanned in at most two windows (head and tail, where tracebacks and log
tails put the message), literal patterns are pre-checked with a plain substring test, and guide
regexes are vetted at parse time to be backtracking-safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from nbsupport.guide.model import GENERIC_VENUE, FixRow, FixTable, Match
from nbsupport.guide.patterns import CompiledPattern, compile_pattern, is_regex_form
from nbsupport.guide.table import load_table, normalize_venue

MAX_SCAN_CHARS = 256 * 1024
_WINDOW_CHARS = MAX_SCAN_CHARS // 2
SPECIFICITY_CAP = 60.0
CLASS_SCORE = 3.0
VENUE_MATCH_BONUS = 100.0
VENUE_STRING_BONUS = 40.0
EXACT_CASE_BONUS = 0.5
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class _RowPattern:
    row: FixRow
    order: int
    pattern: CompiledPattern


def match_error(
    text: str, exchange: str | None = None, limit: int = 5, *, table: FixTable | None = None
) -> list[Match]:
    """Fixes whose error patterns occur in `text`, best first, at most one match per fix."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if not text or not text.strip():
        return []
    table = table or load_table()
    target = normalize_venue(exchange) or detect_venue(text, table)
    best: dict[str, tuple[float, int, Match]] = {}
    for offset, chunk in _windows(text):
        haystack = _WHITESPACE.sub(" ", chunk.lower())
        for item in _compiled(table):
            needle = item.pattern.needle
            if needle is not None and needle not in haystack:
                continue
            found = item.pattern.regex.search(chunk)
            if found is None:
                continue
            score = _score(item, found, target)
            kept = best.get(item.row.fix_id)
            if kept is None or score > kept[0]:
                span = (offset + found.start(), offset + found.end())
                match = Match(item.row, score, item.pattern.source, found.group(0), span)
                best[item.row.fix_id] = (score, item.order, match)
    ranked = sorted(best.values(), key=lambda entry: (-entry[0], not entry[2].row.primary, entry[1]))
    return [match for _, _, match in ranked[:limit]]


def detect_venue(text: str, table: FixTable | None = None) -> str | None:
    """The venue a paste is about, from a venue id or alias in it (`kraken {...}`, `futures.kraken.com`).

    Longest alias first, so `futures.kraken.com` is not read as plain `kraken`.
    """
    table = table or load_table()
    for _, chunk in _windows(text):
        for venue, alias in _aliases(table):
            if alias.search(chunk):
                return venue
    return None


def _score(item: _RowPattern, found: re.Match[str], target: str | None) -> float:
    source = item.pattern.source
    if item.pattern.kind == "class":
        score = CLASS_SCORE + min(len(source), 40) / 100
    else:
        length = len(found.group(0)) if item.pattern.kind == "regex" else len(item.pattern.needle or "")
        score = min(float(length), SPECIFICITY_CAP)
        if item.pattern.kind == "literal" and found.group(0) == source:
            score += EXACT_CASE_BONUS
    venue = item.row.venue
    if venue != GENERIC_VENUE:
        score += VENUE_MATCH_BONUS if venue == target else VENUE_STRING_BONUS if target is None else 0.0
    return score


def _windows(text: str) -> list[tuple[int, str]]:
    if len(text) <= MAX_SCAN_CHARS:
        return [(0, text)]
    tail_start = len(text) - _WINDOW_CHARS
    return [(0, text[:_WINDOW_CHARS]), (tail_start, text[tail_start:])]


@lru_cache(maxsize=8)
def _compiled(table: FixTable) -> tuple[_RowPattern, ...]:
    items: list[_RowPattern] = []
    for order, row in enumerate(table.rows):
        for source in row.patterns:
            kind = "regex" if is_regex_form(source) else "literal"
            items.append(_RowPattern(row, order, compile_pattern(source, kind)))
        for source in row.exception_classes:
            items.append(_RowPattern(row, order, compile_pattern(source, "class")))
    return tuple(items)


@lru_cache(maxsize=8)
def _aliases(table: FixTable) -> tuple[tuple[str, re.Pattern[str]], ...]:
    names = [
        (name, guide.venue)
        for guide in table.guides
        if guide.venue != GENERIC_VENUE
        for name in (guide.venue, *guide.aliases)
    ]
    names.sort(key=lambda pair: -len(pair[0]))
    return tuple((venue, compile_pattern(name, "literal").regex) for name, venue in names)
