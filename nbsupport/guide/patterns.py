"""Error patterns as written in the guides, compiled so that matching stays linear on large pastes.

Three forms exist (see the package docstring): literal strings, `/regex/` and ccxt exception class names.
Literal strings are the normal case; regexes are vetted when a guide is parsed, because guide authors
are not expected to know which constructs backtrack catastrophically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

# The regex parser: `re._parser` since Python 3.11, where importing it as `sre_parse` warns. typeshed
# describes it only under the old names, so the checker reads those.
if TYPE_CHECKING:
    import sre_constants
    import sre_parse
else:
    from re import _constants as sre_constants
    from re import _parser as sre_parse

PatternKind = Literal["literal", "regex", "class"]

MIN_LITERAL_CHARS = 3
MAX_PATTERN_CHARS = 200
# Every repeat in a guide regex must be bounded by this: an unbounded `.*` turns one long minified
# JSON line into quadratic work.
MAX_REGEX_REPEAT = 64
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z]{2,63}")
# Venue error codes written as lowerCamelCase identifiers (Kraken Futures' `authenticationError`).
_CAMEL_IDENTIFIER = re.compile(r"[a-z]+[A-Z][A-Za-z]*")
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_REPEATS |= {getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT)}
_ATOMIC_GROUP = getattr(sre_constants, "ATOMIC_GROUP", None)


class UnsafePattern(ValueError):
    """A pattern the parser refuses; the message says why, the parser adds file and line."""


@dataclass(frozen=True)
class CompiledPattern:
    source: str
    kind: PatternKind
    regex: re.Pattern[str]
    # Lower-cased, whitespace-collapsed text that must occur for the regex to match; None for regexes.
    needle: str | None


def is_regex_form(source: str) -> bool:
    return len(source) > 2 and source.startswith("/") and source.endswith("/")


def compile_pattern(source: str, kind: PatternKind) -> CompiledPattern:
    if len(source) > MAX_PATTERN_CHARS:
        raise UnsafePattern(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    if kind == "class":
        if not _CLASS_NAME.fullmatch(source):
            raise UnsafePattern(f"{source!r} is not a ccxt exception class name (e.g. AuthenticationError)")
        # Case-sensitive on purpose: `AuthenticationError` (ccxt class) and Kraken Futures'
        # `authenticationError` code differ only in case and must go to different rows.
        return CompiledPattern(source, kind, re.compile(rf"(?<!\w){source}(?!\w)"), source.lower())
    if kind == "regex":
        return CompiledPattern(source, kind, _compile_regex(source[1:-1]), None)
    return _compile_literal(source)


def _compile_literal(source: str) -> CompiledPattern:
    if source != source.strip():
        raise UnsafePattern(f"pattern {source!r} has leading or trailing spaces")
    if len(source) < MIN_LITERAL_CHARS:
        raise UnsafePattern(f"pattern {source!r} is too short to match safely (min {MIN_LITERAL_CHARS})")
    words = source.split()
    # Pasted tickets re-wrap lines, so any run of whitespace in the pattern matches any run in the text.
    body = r"\s+".join(re.escape(word) for word in words)
    # A pattern that starts or ends with a letter or digit must not match inside a longer token:
    # `-2015` must not match `-20150`, `451` must not match `14512`.
    if re.match(r"\w", source):
        body = r"(?<!\w)" + body
    if re.search(r"\w$", source):
        body += r"(?!\w)"
    # Identifiers are case-sensitive by nature, and `authenticationError` (Kraken Futures) must not
    # match `AuthenticationError` (the ccxt class every venue raises).
    flags = 0 if _CAMEL_IDENTIFIER.fullmatch(source) else re.IGNORECASE
    return CompiledPattern(source, "literal", re.compile(body, flags), " ".join(words).lower())


def _compile_regex(body: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(body, re.IGNORECASE)
        parsed = sre_parse.parse(body, re.IGNORECASE)
    except re.error as exc:
        raise UnsafePattern(f"bad regex /{body}/: {exc}") from exc
    _vet(parsed, inside_repeat=False)
    if compiled.search("") is not None:
        raise UnsafePattern(f"regex /{body}/ matches empty text")
    return compiled


def _vet(parsed: object, *, inside_repeat: bool) -> None:
    # The argument's shape depends on the opcode, which typeshed's union for it cannot follow.
    for op, av in parsed:  # type: ignore[attr-defined]
        if op in _REPEATS:
            _low, high, item = av
            if high == sre_constants.MAXREPEAT or high > MAX_REGEX_REPEAT:
                raise UnsafePattern(
                    f"unbounded repeat in regex; use a bounded form like {{0,{MAX_REGEX_REPEAT}}}"
                )
            if inside_repeat and high > 1:
                raise UnsafePattern("nested repeats in regex can backtrack catastrophically")
            _vet(item, inside_repeat=inside_repeat or high > 1)
        elif op == sre_constants.SUBPATTERN:
            _vet(av[-1], inside_repeat=inside_repeat)
        elif op == sre_constants.BRANCH:
            if inside_repeat:
                raise UnsafePattern("alternation inside a repeat can backtrack catastrophically")
            for branch in av[1]:
                _vet(branch, inside_repeat=inside_repeat)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            _vet(av[1], inside_repeat=inside_repeat)
        elif op == _ATOMIC_GROUP:
            _vet(av, inside_repeat=inside_repeat)
        elif op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            raise UnsafePattern("back-references are not allowed in guide regexes")
