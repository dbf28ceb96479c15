"""Pasted error text -> ranked fixes.

The text is normalised first (`nbsupport.guide.normalize`: HTML pages, URLs, escaped JSON, stripped Kraken
prefixes); spans still index the pasted text. Ranking, best first:
1. rows of the venue the text is about (given, or detected from the text) beat every generic row;
   when no venue is known, a venue guide's own error string still beats a generic one, because
   strings like `EAPI:Invalid key` only ever come from that venue;
   the generic guide speaks for several venues whose bare codes clash (Binance -2015 is a rejected key,
   Bybit Spot -2015 an expired one): when the paste is about one of them (given, named, or its error
   envelope: `nbsupport.vocabulary.code_reader`), a generic code counts only for the entries that fit
   that venue's reading of it, and a code only another venue sends does not count;
2. then the longer (more specific) matched pattern: `EGeneral:Permission denied:expired` beats
   `EGeneral:Permission denied`;
3. a bare ccxt exception class name (`AuthenticationError`) scores below any real error string: it
   says which family of problem it is, never which cause;
4. an error several entries of one guide list (one error, several causes) ranks those entries in the
   order of `nbsupport.vocabulary.CAUSES_BY_KIND` for the connection test's reading of that error, so
   the first cause is the one a re-test starts from; each match says its rank among them;
5. ties go to the primary row, then to guide order.

A hint (a testnet host, `x-simulated-trading`) is no error: it ranks first only when the best match is a
rejected key, which it then explains (wrong environment); otherwise last. When the best match is an
order, balance or market error (not a key problem), key diagnoses are dropped from the answer.

Work is capped: the text is scanned in at most two windows (head and tail, where tracebacks and log
tails put the message), literal patterns are pre-checked with a plain substring test, and guide
regexes are vetted at parse time to be backtracking-safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from nbsupport.diagnosis import Diagnosis
from nbsupport.guide.model import GENERIC_VENUE, FixRow, FixTable, Match
from nbsupport.guide.normalize import normalize, source_span
from nbsupport.guide.patterns import CompiledPattern, PatternKind, compile_pattern, is_regex_form
from nbsupport.guide.table import load_table, normalize_venue
from nbsupport.venues.base import ErrorKind
from nbsupport.vocabulary import (
    GENERIC_READERS,
    KEY_DIAGNOSES,
    READER_NAMES,
    answers,
    code_reader,
    rank_of,
    reading,
)

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
    hint: bool = False


@dataclass
class _Found:
    score: float
    item: _RowPattern
    match: Match
    rank: int = 0


def match_error(
    text: str, exchange: str | None = None, limit: int = 5, *, table: FixTable | None = None
) -> list[Match]:
    """Fixes whose error patterns occur in `text`, best first, at most one match per fix."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if not text or not text.strip():
        return []
    table = table or load_table()
    windows = _normalized_windows(text)
    target = normalize_venue(exchange) or _detect(windows, table)
    reader = _reader(target, windows)
    found: dict[str, _Found] = {}
    hinted: dict[str, _Found] = {}
    for offset, chunk, index in windows:
        haystack = _WHITESPACE.sub(" ", chunk.lower())
        for item in _compiled(table):
            needle = item.pattern.needle
            if needle is not None and needle not in haystack:
                continue
            hit = item.pattern.regex.search(chunk)
            if hit is None or (reader is not None and not _counts(reader, item)):
                continue
            start, end = source_span(index, hit.start(), hit.end())
            span = (offset + start, offset + end)
            score = _score(item, hit, target)
            pool = hinted if item.hint else found
            kept = pool.get(item.row.fix_id)
            if kept is None or score > kept.score:
                match = Match(item.row, score, item.pattern.source, text[span[0] : span[1]], span)
                pool[item.row.fix_id] = _Found(score, item, match)
    ranked = _rank(list(found.values()), reader)
    ranked = _place_hints(ranked, list(hinted.values()))
    if ranked and not ranked[0].item.row.key_problem:
        ranked = [f for f in ranked if f.item.row.diagnosis not in KEY_DIAGNOSES]
    return [f.match for f in ranked[:limit]]


def causes_of_best(matches: list[Match]) -> list[Match]:
    """The best match and the other causes of the same error, ranked; just the best when it has one."""
    if not matches:
        return []
    best = matches[0]
    if best.cause_count < 2:
        return [best]
    return [m for m in matches if m.cause_count > 1 and m.matched_text == best.matched_text]


def detect_venue(text: str, table: FixTable | None = None) -> str | None:
    """The venue a paste is about, from a venue id or alias in it (`kraken {...}`, `futures.kraken.com`).

    Longest alias first, so `futures.kraken.com` is not read as plain `kraken`.
    """
    return _detect(_normalized_windows(text), table or load_table())


def _detect(windows: list[tuple[int, str, list[int]]], table: FixTable) -> str | None:
    for _, chunk, _ in windows:
        for venue, alias in _aliases(table):
            if alias.search(chunk):
                return venue
    return None


def _normalized_windows(text: str) -> list[tuple[int, str, list[int]]]:
    return [(offset, *normalize(chunk)) for offset, chunk in _windows(text)]


def _reader(target: str | None, windows: list[tuple[int, str, list[int]]]) -> str | None:
    """The venue of `GENERIC_READERS` whose codes the paste carries: the given exchange's, or (no venue
    given nor a venue guide's detected) the one the paste names or shows the envelope of."""
    if target is not None:
        return READER_NAMES.get(target)
    readers = {code_reader(chunk) for _, chunk, _ in windows} - {None}
    return readers.pop() if len(readers) == 1 else None


def _counts(reader: str, item: _RowPattern) -> bool:
    """Whether a generic row's pattern, found in a paste about `reader`'s venue, speaks for that row: words
    always do; a code does when the venue's reading of it fits the row, or when the venue does not know it
    and no other venue sends it (the guide may know codes the reader does not)."""
    if item.row.venue != GENERIC_VENUE or item.pattern.kind != "literal":
        return True
    source = item.pattern.source
    kind = _reading(reader, source)
    if kind is None:
        return True
    if kind is not ErrorKind.OTHER:
        return answers(kind, item.row.diagnosis, item.row.key_problem)
    others = {_reading(venue, source) for venue in GENERIC_READERS if venue != reader}
    return not others - {None, ErrorKind.OTHER}


def _rank(found: list[_Found], reader: str | None) -> list[_Found]:
    """Best first; the causes of one error (several rows, one pattern) in the vocabulary's order."""
    groups: dict[tuple[str, str], list[_Found]] = {}
    for entry in found:
        if entry.item.pattern.kind != "class":
            groups.setdefault((entry.item.row.venue, entry.item.pattern.source.lower()), []).append(entry)
    for (venue, _), group in groups.items():
        if len(group) < 2:
            continue
        # The generic guide speaks for several venues whose codes can clash (Binance -2015 is a rejected
        # key, Bybit Spot -2015 an expired one): the venue the paste is about decides the reading.
        kind = _group_reading(reader if venue == GENERIC_VENUE and reader else venue, group)
        for entry in group:
            entry.rank = rank_of(kind, entry.item.row.diagnosis) if kind is not None else 0
        group.sort(key=lambda e: (e.rank, not e.item.row.primary, e.item.order))
        for number, entry in enumerate(group, start=1):
            entry.match = replace(entry.match, cause_rank=number, cause_count=len(group))
    return sorted(found, key=lambda e: (-e.score, e.rank, not e.item.row.primary, e.item.order))


def _group_reading(venue: str, group: list[_Found]) -> ErrorKind | None:
    """The classifier's reading of the error the group shares: the matched pattern, or else another error
    all its rows list (`Invalid API-key, IP, or permissions for action` rows also list `-2015`)."""
    shared = [p for p in group[0].item.row.patterns if all(p in e.item.row.patterns for e in group)]
    for source in dict.fromkeys([group[0].item.pattern.source, *shared]):
        kind = _reading(venue, source)
        if kind is not None:
            return kind
    return None


def _place_hints(ranked: list[_Found], hints: list[_Found]) -> list[_Found]:
    """A hint explains a rejected key (its row goes first), and is a weak candidate otherwise (last)."""
    if not hints:
        return ranked
    top = ranked[0] if ranked else None
    if top is not None and top.item.row.diagnosis is Diagnosis.CREDENTIALS_REJECTED:
        # A Kraken hint says nothing about a Binance rejection: the hint's guide must be the rejection's.
        venues = (top.item.row.venue, GENERIC_VENUE)
        explaining = {h.item.row.fix_id for h in hints if h.item.row.venue in venues}
        if explaining:
            first = [_with_score(h, top.score + 1) for h in hints if h.item.row.fix_id in explaining]
            return first + [f for f in ranked if f.item.row.fix_id not in explaining]
    found = {f.item.row.fix_id for f in ranked}
    return ranked + [_with_score(h, CLASS_SCORE - 1) for h in hints if h.item.row.fix_id not in found]


def _with_score(entry: _Found, score: float) -> _Found:
    return _Found(score, entry.item, replace(entry.match, score=score))


@lru_cache(maxsize=4096)
def _reading(venue: str, source: str) -> ErrorKind | None:
    return reading(venue, source)


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
            kind: PatternKind = "regex" if is_regex_form(source) else "literal"
            items.append(_RowPattern(row, order, compile_pattern(source, kind)))
        for source in row.exception_classes:
            items.append(_RowPattern(row, order, compile_pattern(source, "class")))
        for source in row.hints:
            kind = "regex" if is_regex_form(source) else "literal"
            items.append(_RowPattern(row, order, compile_pattern(source, kind), hint=True))
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
