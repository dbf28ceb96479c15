"""Strict parser: one Markdown help guide -> header + fix rows. The format is in the package docstring.

Everything that is not a well-formed entry inside `## Troubleshooting` is prose and ignored, except
that in-page links `](#id)` anywhere in a guide must point at a fix id of that guide, so the
"Common pitfalls" list cannot silently link to an entry that was renamed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from nbsupport.diagnosis import Diagnosis
from nbsupport.guide.model import GENERIC_VENUE, FixRow, FixTable, GuideError, Severity, VenueGuide
from nbsupport.guide.patterns import PatternKind, UnsafePattern, compile_pattern, is_regex_form
from nbsupport.vocabulary import NOT_A_KEY_PROBLEM

TROUBLESHOOTING = "troubleshooting"
ENTRY_FIELDS = ("errors", "ccxt classes", "hints", "diagnosis", "severity", "primary", "cause", "tell apart",
                "team", "fix", "reply")
REQUIRED_FIELDS = ("errors", "diagnosis", "severity", "cause", "fix", "reply")
HEADER_FIELDS = ("venue", "aliases", "covers")

_FIELD = re.compile(r"^- \*\*(?P<name>[^*]+?):\*\*(?:[ \t]+(?P<value>.*?))?[ \t]*$")
_HEADING = re.compile(r"^(?P<level>#{1,6})[ \t]+(?P<text>.*?)[ \t]*$")
_ENTRY_HEADING = re.compile(r"^(?P<title>.*?)[ \t]*\{#(?P<id>[^}]*)\}$")
_FIX_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_VENUE_ID = re.compile(r"[a-z0-9]+")
_STEP = re.compile(r"^(?P<num>\d+)[.)][ \t]+(?P<text>.+)$")
_CODE_SPAN = re.compile(r"`([^`]+)`")
_LOCAL_LINK = re.compile(r"\]\(#(?P<id>[^)\s]*)\)")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass
class _Field:
    name: str
    value: str
    line: int
    body: list[tuple[int, str]] = field(default_factory=list)

    def text(self) -> str:
        return " ".join([self.value, *(text for _, text in self.body)]).strip()


@dataclass
class _Entry:
    title: str
    fix_id: str
    line: int
    fields: dict[str, _Field] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedGuide:
    guide: VenueGuide
    rows: tuple[FixRow, ...]
    venue_line: int


def parse_guide(path: str | Path, text: str) -> ParsedGuide:
    return _GuideParser(Path(path), text).parse()


def build_table(guides: Sequence[ParsedGuide]) -> FixTable:
    """Cross-guide checks: one guide per venue, fix ids unique across all guides (they are deep links)."""
    venues: dict[str, ParsedGuide] = {}
    seen: dict[str, FixRow] = {}
    for parsed in guides:
        first = venues.setdefault(parsed.guide.venue, parsed)
        if first is not parsed:
            raise GuideError(
                parsed.guide.source_file,
                parsed.venue_line,
                f"venue {parsed.guide.venue!r} already has a guide: {first.guide.source_file}",
            )
        for row in parsed.rows:
            other = seen.setdefault(row.fix_id, row)
            if other is not row:
                raise GuideError(
                    row.source_file,
                    row.source_line,
                    f"duplicate fix id {row.fix_id!r} "
                    f"(first defined at {other.source_file}:{other.source_line})",
                )
    return FixTable(
        rows=tuple(row for parsed in guides for row in parsed.rows),
        guides=tuple(parsed.guide for parsed in guides),
    )


class _GuideParser:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _blank_comments(path, text).splitlines()
        self.title: str | None = None
        self.header: dict[str, _Field] = {}
        self.section: str | None = None
        self.seen_troubleshooting = False
        self.entries: list[_Entry] = []
        self.entry: _Entry | None = None
        self.current_field: _Field | None = None
        self.links: list[tuple[int, str]] = []

    def fail(self, line: int, message: str) -> GuideError:
        return GuideError(self.path, line, message)

    def parse(self) -> ParsedGuide:
        in_fence = False
        for number, line in enumerate(self.lines, start=1):
            if _FENCE.match(line):
                if self.entry is not None:
                    raise self.fail(number, "code blocks are not allowed inside a troubleshooting entry")
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            self.links.extend((number, m.group("id")) for m in _LOCAL_LINK.finditer(line))
            heading = _HEADING.match(line)
            if heading:
                self._heading(number, len(heading.group("level")), heading.group("text"))
            elif self.entry is not None:
                self._entry_line(number, line)
            elif self.section is None:
                self._header_line(number, line)
            elif self.section == TROUBLESHOOTING and _FIELD.match(line):
                raise self.fail(number, "field outside an entry; start the entry with '### Title {#fix-id}'")
        if in_fence:
            raise self.fail(len(self.lines), "unterminated code block")
        return self._finish()

    def _heading(self, number: int, level: int, text: str) -> None:
        self.entry = None
        self.current_field = None
        if level == 1:
            if self.title is not None:
                raise self.fail(number, "a guide has exactly one '# ' title")
            self.title = text
        elif level == 2:
            self.section = text.strip().lower()
            if self.section == TROUBLESHOOTING:
                if self.seen_troubleshooting:
                    raise self.fail(number, "second '## Troubleshooting' section")
                self.seen_troubleshooting = True
        elif level == 3 and self.section == TROUBLESHOOTING:
            match = _ENTRY_HEADING.match(text)
            if not match or not match.group("title"):
                raise self.fail(number, "entry heading needs a title and an id: '### Title {#fix-id}'")
            fix_id = match.group("id")
            if not _FIX_ID.fullmatch(fix_id):
                raise self.fail(number, f"fix id {fix_id!r} must be lowercase words joined by '-'")
            self.entry = _Entry(match.group("title"), fix_id, number)
            self.entries.append(self.entry)
        elif self.section == TROUBLESHOOTING:
            raise self.fail(number, "only '### ' entry headings belong in the Troubleshooting section")

    def _header_line(self, number: int, line: str) -> None:
        match = _FIELD.match(line)
        if not match:
            return  # intro prose
        name = match.group("name").strip().lower()
        if name not in HEADER_FIELDS:
            raise self.fail(number, f"unknown guide field {name!r} (known: {', '.join(HEADER_FIELDS)})")
        if name in self.header:
            raise self.fail(number, f"guide field {name!r} given twice")
        self.header[name] = _Field(name, match.group("value") or "", number)

    def _entry_line(self, number: int, line: str) -> None:
        assert self.entry is not None
        if not line.strip():
            return
        match = _FIELD.match(line)
        if match:
            name = match.group("name").strip().lower()
            if name not in ENTRY_FIELDS:
                raise self.fail(number, f"unknown field {name!r} (known: {', '.join(ENTRY_FIELDS)})")
            if name in self.entry.fields:
                raise self.fail(number, f"field {name!r} given twice in entry {self.entry.fix_id!r}")
            self.current_field = _Field(name, match.group("value") or "", number)
            self.entry.fields[name] = self.current_field
        elif line[:1] in (" ", "\t") and self.current_field is not None:
            self.current_field.body.append((number, line.strip()))
        else:
            raise self.fail(
                number,
                f"unexpected text in entry {self.entry.fix_id!r}; expected '- **Field:** value' "
                "or an indented continuation line",
            )

    def _finish(self) -> ParsedGuide:
        if self.title is None:
            raise self.fail(1, "missing '# ' title")
        if not self.seen_troubleshooting:
            raise self.fail(1, "missing '## Troubleshooting' section")
        guide, venue_line = self._guide_header()
        rows = [self._row(entry, guide.venue) for entry in self.entries]
        rows = _resolve_primaries(self.path, rows)
        ids = {row.fix_id for row in rows}
        for number, target in self.links:
            if target not in ids:
                raise self.fail(number, f"link to #{target} does not name a fix id in this guide")
        return ParsedGuide(guide, tuple(rows), venue_line)

    def _guide_header(self) -> tuple[VenueGuide, int]:
        venue_field = self.header.get("venue")
        if venue_field is None:
            raise self.fail(1, "missing '- **Venue:** `ccxt-id`' line under the title ('*' for generic)")
        venue = venue_field.text().strip("`").strip().lower()
        if venue != GENERIC_VENUE and not _VENUE_ID.fullmatch(venue):
            raise self.fail(venue_field.line, f"venue {venue!r} is not a ccxt exchange id or '*'")
        aliases = self._spans(self.header["aliases"]) if "aliases" in self.header else ()
        covers = self._spans(self.header["covers"]) if "covers" in self.header else ()
        assert self.title is not None
        guide = VenueGuide(venue, self.title, aliases, covers, str(self.path))
        return guide, venue_field.line

    def _spans(self, item: _Field) -> tuple[str, ...]:
        text = item.text()
        spans = tuple(m.group(1) for m in _CODE_SPAN.finditer(text))
        rest = _CODE_SPAN.sub("", text)
        if not spans or rest.strip(" ,"):
            raise self.fail(item.line, f"{item.name!r} must be a comma-separated list of `code` items")
        return spans

    def _row(self, entry: _Entry, venue: str) -> FixRow:
        for name in REQUIRED_FIELDS:
            if name not in entry.fields:
                raise self.fail(entry.line, f"entry {entry.fix_id!r} is missing field {name.capitalize()!r}")
        fields = entry.fields
        patterns = self._patterns(fields["errors"])
        classes = self._classes(fields["ccxt classes"]) if "ccxt classes" in fields else ()
        hints = self._patterns(fields["hints"]) if "hints" in fields else ()
        diagnosis, key_problem = self._diagnosis(fields["diagnosis"])
        if not key_problem and "team" not in fields:
            raise self.fail(entry.line, f"entry {entry.fix_id!r} is not a key problem: name the team to ask "
                                        "in '- **Team:** ...'")
        return FixRow(
            fix_id=entry.fix_id,
            venue=venue,
            diagnosis=diagnosis,
            patterns=patterns,
            exception_classes=classes,
            title=entry.title,
            cause=self._required_text(fields["cause"]),
            steps=self._steps(fields["fix"]),
            customer_reply=self._reply(fields["reply"]),
            severity=self._severity(fields["severity"]),
            primary=self._primary(fields.get("primary")),
            anchor=f"{self.path.name}#{entry.fix_id}",
            source_file=str(self.path),
            source_line=entry.line,
            tell_apart=self._required_text(fields["tell apart"]) if "tell apart" in fields else "",
            hints=hints,
            key_problem=key_problem,
            team=self._required_text(fields["team"]) if "team" in fields else "",
        )

    def _patterns(self, item: _Field) -> tuple[str, ...]:
        if item.text().strip("_*").lower() == "none":
            return ()  # reached only through its diagnosis code, e.g. `ok`
        spans = self._spans(item)
        for source in spans:
            self._check_pattern(item, source, "regex" if is_regex_form(source) else "literal")
        return spans

    def _classes(self, item: _Field) -> tuple[str, ...]:
        spans = self._spans(item)
        for source in spans:
            self._check_pattern(item, source, "class")
        return spans

    def _check_pattern(self, item: _Field, source: str, kind: PatternKind) -> None:
        try:
            compile_pattern(source, kind)
        except UnsafePattern as exc:
            raise self.fail(_line_of(item, source), str(exc)) from None

    def _diagnosis(self, item: _Field) -> tuple[Diagnosis, bool]:
        """(code, key problem): `not_a_key_problem` reads as the classifier's `unknown`, not a key problem."""
        code = item.text().strip("`").strip()
        if code == NOT_A_KEY_PROBLEM:
            return Diagnosis.UNKNOWN, False
        try:
            return Diagnosis(code), True
        except ValueError:
            known = ", ".join([*(d.value for d in Diagnosis), NOT_A_KEY_PROBLEM])
            raise self.fail(item.line, f"unknown diagnosis code {code!r} (known: {known})") from None

    def _severity(self, item: _Field) -> Severity:
        value = item.text().strip("`").strip().lower()
        try:
            return Severity(value)
        except ValueError:
            known = ", ".join(s.value for s in Severity)
            raise self.fail(item.line, f"unknown severity {value!r} (known: {known})") from None

    def _primary(self, item: _Field | None) -> bool:
        if item is None:
            return False
        value = item.text().lower()
        if value not in ("yes", "no"):
            raise self.fail(item.line, f"Primary must be 'yes' or 'no', not {value!r}")
        return value == "yes"

    def _required_text(self, item: _Field) -> str:
        text = item.text()
        if not text:
            raise self.fail(item.line, f"field {item.name.capitalize()!r} is empty")
        return text

    def _steps(self, item: _Field) -> tuple[str, ...]:
        if item.value:
            raise self.fail(item.line, "put the fix on the following lines as a numbered list '  1. ...'")
        steps: list[str] = []
        for number, text in item.body:
            step = _STEP.match(text)
            if step:
                if int(step.group("num")) != len(steps) + 1:
                    expected = len(steps) + 1
                    raise self.fail(number, f"fix steps must be numbered 1, 2, 3...; expected {expected}")
                steps.append(step.group("text"))
            elif steps:
                steps[-1] = f"{steps[-1]} {text}"  # a wrapped step
            else:
                raise self.fail(number, "the fix must start with step '1. ...'")
        if not steps:
            raise self.fail(item.line, "the fix needs at least one numbered step")
        return tuple(steps)

    def _reply(self, item: _Field) -> str:
        lines = [(item.line, item.value)] if item.value else []
        lines += item.body
        paragraphs: list[list[str]] = [[]]
        for number, text in lines:
            if not text.startswith(">"):
                raise self.fail(number, "the reply is a quote: every line starts with '>'")
            content = text[1:].strip()
            if content:
                paragraphs[-1].append(content)
            elif paragraphs[-1]:
                paragraphs.append([])
        reply = "\n\n".join(" ".join(p) for p in paragraphs if p)
        if not reply:
            raise self.fail(item.line, "the customer reply is empty")
        return reply


def _resolve_primaries(path: Path, rows: Iterable[FixRow]) -> list[FixRow]:
    """A code with one entry: that entry is primary. Several: exactly one says `Primary: yes`."""
    rows = list(rows)
    by_code: dict[str, list[FixRow]] = {}
    for row in rows:
        by_code.setdefault(row.cause_code, []).append(row)
    resolved: dict[str, bool] = {}
    for code, group in by_code.items():
        if len(group) == 1:
            # `fix_for` answers diagnosis codes; an answer that is not about the key is never one.
            resolved[group[0].fix_id] = group[0].key_problem
            continue
        marked = [row for row in group if row.primary]
        if len(marked) != 1:
            ids = ", ".join(row.fix_id for row in group)
            where = marked[1] if len(marked) > 1 else group[1]
            raise GuideError(
                path,
                where.source_line,
                f"{len(group)} entries for {code!r} ({ids}); mark exactly one '- **Primary:** yes'",
            )
    return [_with_primary(row, resolved.get(row.fix_id, row.primary)) for row in rows]


def _with_primary(row: FixRow, primary: bool) -> FixRow:
    return row if row.primary == primary else replace(row, primary=primary)


def _line_of(item: _Field, source: str) -> int:
    for number, text in [(item.line, item.value), *item.body]:
        if f"`{source}`" in text:
            return number
    return item.line


def _blank_comments(path: Path, text: str) -> str:
    """Drop HTML comments but keep their newlines, so reported line numbers stay true."""
    blanked = _COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)
    start = blanked.find("<!--")
    if start >= 0:
        raise GuideError(path, blanked.count("\n", 0, start) + 1, "unterminated HTML comment")
    return blanked
