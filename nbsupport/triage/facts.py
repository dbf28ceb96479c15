"""A pasted ticket -> the facts support searches on: emails, user and key ids, key fragments, venues,
ticket references and the error lines with what each one means.

Deterministic and local: fixed regular expressions plus the error guide's matcher, no external service.
Work is linear in the paste: at most `MAX_SCAN_CHARS` are read (head and tail, where customers' prose and
log tails are), every pattern has bounded repeats, and each kind of fact is capped at `MAX_ITEMS`.

A whole API key (or secret) pasted into a ticket never leaves this module in clear: it becomes its
fingerprint, which is what `nbsupport.lookup` searches, and its masked `abcd…wxyz` form, which is what a
page may show. Error lines are returned with such tokens masked too.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal, TypeVar

from nbsupport.credentials import mask
from nbsupport.guide import GENERIC_VENUE, MAX_SCAN_CHARS, FixTable, Match, load_table, match_error
from nbsupport.keys import fingerprint
from nbsupport.plain import plain_dict

MAX_ITEMS = 20
MAX_ERROR_LINES = 20
MAX_CAUSES = 5
# Lines holding a matched error's text that are explained one by one, at most.
MAX_EXAMINED_LINES = 200
MAX_LINE_CHARS = 300
# Characters shown before a match when a long line is cut down to MAX_LINE_CHARS around it.
LINE_LEAD_CHARS = 100

FragmentKind = Literal["masked", "start", "end", "fingerprint", "pasted"]
H = TypeVar("H", bound=Hashable)

_KEY_CHARS = r"A-Za-z0-9+/=_-"
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.){1,8}[A-Za-z]{2,24}"
    r"(?![\w-])"
)
# A separator is required between the word and the number: `user12345@example.com` is an email, not an id.
_SEPARATOR = r"(?:[ \t]*(?:[:#=]|\bis\b)[ \t]*|[ \t]+)#?"
_USER_ID = re.compile(
    rf"\b(?:user|customer|client)(?:[ _-]?(?:id|no\.?|number))?{_SEPARATOR}(\d{{1,18}})\b", re.IGNORECASE
)
# `API key 1234` is more likely the start of a key than a key id: that one is left to the fragments.
_KEY_ID = re.compile(rf"\b(?<!api[ _-])key(?:[ _-]?id)?{_SEPARATOR}(\d{{1,18}})\b", re.IGNORECASE)
# `=` may precede a masked key (`apiKey=abcd…wxyz`): inside a key it is only ever trailing padding.
_MASKED = re.compile(
    rf"(?<![A-Za-z0-9+/_-])([{_KEY_CHARS}]{{4}})(?:…|\.{{2,3}})([{_KEY_CHARS}]{{4}})(?![{_KEY_CHARS}])"
)
_STARTS = re.compile(
    rf"\b(?:starts?|starting|begins?|beginning)\s+with\s+[\"'`]?([{_KEY_CHARS}]{{4}})(?![{_KEY_CHARS}])",
    re.IGNORECASE,
)
_ENDS = re.compile(
    rf"\b(?:ends?|ending)\s+(?:in|with)\s+[\"'`]?([{_KEY_CHARS}]{{4}})(?![{_KEY_CHARS}])", re.IGNORECASE
)
_FINGERPRINT = re.compile(r"\bfingerprint\s*[:=#]?\s*([0-9a-fA-F]{6,64})\b", re.IGNORECASE)
# A token long and mixed enough to be a whole API key or secret (Kraken 56, Binance 64, OKX a UUID).
_TOKEN = re.compile(rf"(?<![{_KEY_CHARS}])[{_KEY_CHARS}]{{16,256}}(?![{_KEY_CHARS}])")
_INNER_EQUALS = re.compile(r"=+(?=[^=])")
_URL = re.compile(r"https?://[^\s<>\"'`]{1,2000}", re.IGNORECASE)
_ZD = re.compile(r"\bZD[- ]?(\d{1,12})\b", re.IGNORECASE)
_ZENDESK_URL = re.compile(
    r"https?://[\w.-]{1,200}\.zendesk\.com/(?:agent/)?tickets/(\d{1,12})", re.IGNORECASE
)
_FRESHDESK_URL = re.compile(
    r"https?://[\w.-]{1,200}\.freshdesk\.com/(?:a/|helpdesk/)?tickets/(\d{1,12})", re.IGNORECASE
)
_HASH_REF = re.compile(r"(?<![\w&#])#(\d{3,12})\b")
# `user #1234` and `key #1234` are ids, not ticket numbers.
_ID_BEFORE_HASH = re.compile(r"\b(?:user|customer|client|key)(?:[ _-]?id)?[ \t]*$", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class KeyFragment:
    """Part of a key named in the ticket. `query` is what `nbsupport.lookup` is asked (a pasted key's
    fingerprint, never the key), `shown` what a page may display."""

    kind: FragmentKind
    query: str
    shown: str
    line: int


@dataclass(frozen=True)
class ErrorLine:
    """A line the error guide recognises; `matches` are every plausible cause, best first."""

    line: int
    text: str
    matches: tuple[Match, ...]

    @property
    def ambiguous(self) -> bool:
        return len({m.row.diagnosis for m in self.matches}) > 1

    def as_dict(self) -> dict[str, object]:
        return plain_dict({"line": self.line, "text": self.text, "ambiguous": self.ambiguous,
                           "matches": [m.as_dict() for m in self.matches]})


@dataclass(frozen=True)
class TicketFacts:
    emails: tuple[str, ...] = ()
    user_ids: tuple[int, ...] = ()
    key_ids: tuple[int, ...] = ()
    key_fragments: tuple[KeyFragment, ...] = ()
    venues: tuple[str, ...] = ()
    error_lines: tuple[ErrorLine, ...] = ()
    ticket_refs: tuple[str, ...] = ()
    lines: int = 0
    # Characters between the scanned head and tail of a paste longer than MAX_SCAN_CHARS.
    skipped_chars: int = 0

    @property
    def searchable(self) -> bool:
        """Anything that can find a user or a key."""
        return bool(self.emails or self.user_ids or self.key_ids or self.key_fragments)

    def with_pasted(self, pasted: tuple[KeyFragment, ...]) -> TicketFacts:
        """These facts with each masked key that stands for a whole key pasted earlier (`pasted_keys` of
        the paste before it was masked) searched by that key's fingerprint instead of its masked form."""
        whole = {f.shown: f for f in pasted if f.kind == "pasted"}
        fragments = (whole.get(f.shown, f) if f.kind == "masked" else f for f in self.key_fragments)
        return replace(self, key_fragments=tuple(dict.fromkeys(fragments)))

    @property
    def venue_hint(self) -> str | None:
        """The venue the ticket is about, when it names exactly one."""
        return self.venues[0] if len(self.venues) == 1 else None

    def as_dict(self) -> dict[str, object]:
        return plain_dict({
            "emails": self.emails, "user_ids": self.user_ids, "key_ids": self.key_ids,
            "key_fragments": [{"kind": f.kind, "shown": f.shown, "line": f.line} for f in self.key_fragments],
            "venues": self.venues, "ticket_refs": self.ticket_refs,
            "error_lines": [e.as_dict() for e in self.error_lines],
            "lines": self.lines, "skipped_chars": self.skipped_chars,
        })


@dataclass(frozen=True)
class _Window:
    text: str
    first_line: int
    newlines: list[int]

    def line_of(self, offset: int) -> int:
        return self.first_line + bisect_right(self.newlines, offset - 1)


def parse_ticket(text: str, exchange: str | None = None, *, table: FixTable | None = None) -> TicketFacts:
    """Everything searchable in a pasted ticket. `exchange` ranks the error explanations for that venue
    (by default the one venue the ticket names, if it names exactly one)."""
    text = text or ""
    table = table or load_table()
    windows, skipped = _windows(text)
    venues = _unique((venue for w in windows for venue in _venues(w.text, table)), MAX_ITEMS)
    facts = TicketFacts(
        emails=_unique((m.group(0).lower() for w in windows for m in _EMAIL.finditer(w.text)), MAX_ITEMS),
        user_ids=_ids(windows, _USER_ID),
        key_ids=_ids(windows, _KEY_ID),
        key_fragments=_fragments(windows),
        venues=venues,
        ticket_refs=_unique((ref for w in windows for ref in _ticket_refs(w.text)), MAX_ITEMS),
        lines=text.count("\n") + 1 if text else 0,
        skipped_chars=skipped,
    )
    return replace(facts, error_lines=_error_lines(windows, exchange or facts.venue_hint, table))


def explain_errors(
    text: str, exchange: str | None, *, table: FixTable | None = None
) -> tuple[ErrorLine, ...]:
    """The error lines of a paste, ranked for `exchange` (the venue of the key the ticket turned out to be
    about, when the ticket itself names none)."""
    return _error_lines(_windows(text or "")[0], exchange, table or load_table())


def _windows(text: str) -> tuple[list[_Window], int]:
    """The head and the tail of a long paste, cut at line ends, with their line numbers."""
    if len(text) <= MAX_SCAN_CHARS:
        return [_window(text, 1)], 0
    half = MAX_SCAN_CHARS // 2
    head_end = text.rfind("\n", 0, half) + 1 or half
    tail_start = text.find("\n", len(text) - half) + 1 or len(text) - half
    tail_start = max(tail_start, head_end)
    first_tail_line = text.count("\n", 0, tail_start) + 1
    return [_window(text[:head_end], 1), _window(text[tail_start:], first_tail_line)], tail_start - head_end


def _window(text: str, first_line: int) -> _Window:
    return _Window(text, first_line, [m.start() for m in re.finditer("\n", text)])


def _unique(items: Iterator[H], limit: int) -> tuple[H, ...]:
    seen: dict[H, None] = {}
    for item in items:
        seen.setdefault(item, None)
        if len(seen) >= limit:
            break
    return tuple(seen)


def _ids(windows: list[_Window], pattern: re.Pattern[str]) -> tuple[int, ...]:
    found = (int(m.group(1)) for w in windows for m in pattern.finditer(w.text))
    return _unique((n for n in found if n > 0), MAX_ITEMS)


def _fragments(windows: list[_Window]) -> tuple[KeyFragment, ...]:
    """Each fragment once, where it first appears: the same key quoted on three lines is one search."""
    first: dict[tuple[str, str], KeyFragment] = {}
    for fragment in (f for w in windows for f in _window_fragments(w)):
        first.setdefault((fragment.kind, fragment.query), fragment)
        if len(first) >= MAX_ITEMS:
            break
    return tuple(first.values())


def _window_fragments(w: _Window) -> Iterator[KeyFragment]:
    for m in _MASKED.finditer(w.text):
        prefix, suffix = m.group(1), m.group(2)
        yield KeyFragment("masked", f"{prefix}…{suffix}", f"{prefix}…{suffix}", w.line_of(m.start()))
    ends: tuple[tuple[FragmentKind, re.Pattern[str]], ...] = (("start", _STARTS), ("end", _ENDS))
    for kind, pattern in ends:
        for m in pattern.finditer(w.text):
            shown = f"{m.group(1)}…" if kind == "start" else f"…{m.group(1)}"
            yield KeyFragment(kind, m.group(1), shown, w.line_of(m.start(1)))
    for m in _FINGERPRINT.finditer(w.text):
        digits = m.group(1).lower()
        yield KeyFragment("fingerprint", digits, digits[:16], w.line_of(m.start(1)))
    # URLs hold long path and query tokens that are not keys: blank them out, keeping offsets.
    without_urls = _URL.sub(lambda m: " " * len(m.group(0)), w.text)
    for start, token in _key_tokens(without_urls):
        yield KeyFragment("pasted", fingerprint(token), mask(token), w.line_of(start))


def _looks_like_key(token: str) -> bool:
    if "//" in token or token.startswith("/") or re.fullmatch(r"[0-9a-fA-F]{64}", token):
        return False  # a path, or a fingerprint someone pasted (the fingerprint rule has it)
    digits = sum(c.isdigit() for c in token)
    letters = sum(c.isalpha() for c in token)
    return digits >= 2 and letters >= 4


def _key_tokens(text: str) -> Iterator[tuple[int, str]]:
    """(offset, token) of what may be a whole key or secret. `=` is a key character (base64 padding)
    only at the end: `apiKey=abc…` is a name and a key."""
    for m in _TOKEN.finditer(text):
        offset = m.start()
        for part in _INNER_EQUALS.split(m.group(0)):
            if _looks_like_key(part):
                yield offset, part
            offset += len(part) + 1


def pasted_keys(text: str) -> tuple[KeyFragment, ...]:
    """Every whole key or secret in the text as its fingerprint and masked form, never in clear: what a
    page keeps when it masks the paste, so the masked text still finds the key (`TicketFacts.with_pasted`)."""
    return tuple(f for f in _fragments(_windows(text or "")[0]) if f.kind == "pasted")


def mask_keys(text: str) -> tuple[str, int]:
    """The text with every token that may be a whole key or secret replaced by its `abcd…wxyz` form
    (which `parse_ticket` still reads as a masked key), and how many were replaced."""
    masked, last, count = [], 0, 0
    for start, token in _key_tokens(text):
        masked += [text[last:start], mask(token)]
        last, count = start + len(token), count + 1
    return "".join([*masked, text[last:]]), count


def _ticket_refs(text: str) -> Iterator[str]:
    """Zendesk (`ZD-1234`, `ZD 1234`, a zendesk.com ticket URL) as `ZD-1234`; Freshdesk URLs and `#1234`
    as `#1234`; in the order the paste gives them."""
    found = [(m.start(), f"ZD-{int(m.group(1))}") for p in (_ZENDESK_URL, _ZD) for m in p.finditer(text)]
    found += [(m.start(), f"#{int(m.group(1))}") for m in _FRESHDESK_URL.finditer(text)]
    found += [
        (m.start(), f"#{int(m.group(1))}") for m in _HASH_REF.finditer(text)
        if not _ID_BEFORE_HASH.search(text, max(0, m.start() - 20), m.start())
    ]
    return (ref for _, ref in sorted(found))


@lru_cache(maxsize=8)
def _venue_names(table: FixTable) -> tuple[re.Pattern[str], dict[str, str]]:
    """One alternation of every venue id and alias the guides list, longest first, so
    `futures.kraken.com` and `Kraken Futures` are read as Kraken Futures, not Kraken."""
    names: dict[str, str] = {}
    for guide in table.guides:
        members = guide.covers if guide.venue == GENERIC_VENUE else (guide.venue, *guide.aliases)
        for name in members:
            venue = name if guide.venue == GENERIC_VENUE else guide.venue
            names.setdefault(_flat(name), venue)
    ordered = sorted(names, key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(word) for word in name.split()) for name in ordered)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE), names


def _venues(text: str, table: FixTable) -> Iterator[str]:
    pattern, names = _venue_names(table)
    for m in pattern.finditer(text):
        yield names[_flat(m.group(0))]


def _flat(text: str) -> str:
    return _WHITESPACE.sub(" ", text.lower()).strip()


def _error_lines(windows: list[_Window], exchange: str | None, table: FixTable) -> tuple[ErrorLine, ...]:
    """One matcher pass over each window says which errors occur at all; only lines holding one of those
    are then explained on their own (at most MAX_EXAMINED_LINES), so a long paste costs a few passes."""
    found: list[ErrorLine] = []
    seen: set[str] = set()
    for w in windows:
        matched = match_error(w.text, exchange, limit=len(table.rows), table=table)
        needles = {_flat(m.matched_text) for m in matched}
        if not needles:
            continue
        for number, line in enumerate(w.text.split("\n"), start=w.first_line):
            flat = _flat(line)
            if flat in seen or not any(needle in flat for needle in needles):
                continue
            seen.add(flat)
            causes = match_error(line, exchange, limit=MAX_CAUSES, table=table)
            if causes:
                found.append(ErrorLine(number, _shown_line(line, causes[0].span[0]), tuple(causes)))
            if len(found) >= MAX_ERROR_LINES or len(seen) >= MAX_EXAMINED_LINES:
                return tuple(found)
    return tuple(found)


def _shown_line(line: str, at: int) -> str:
    """The line as a page may show it: whole keys masked first (so no cut leaves part of one), control
    characters replaced, a long line cut around the error."""
    masked = mask_keys(line)[0]
    at = len(mask_keys(line[:at])[0])
    start = max(0, at - LINE_LEAD_CHARS) if len(masked) > MAX_LINE_CHARS else 0
    cut = masked[start : start + MAX_LINE_CHARS]
    cut = ("…" if start else "") + cut + ("…" if start + MAX_LINE_CHARS < len(masked) else "")
    return "".join(
        "\ufffd" if unicodedata.category(c) in ("Cc", "Cf", "Cs") and c != "\t" else c for c in cut
    ).strip()
