from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbsupport.ui.markdown import md_code, md_escape

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# Text as people paste it, hidden characters aside (those are replaced, so they do not round-trip).
_SHOWN_TEXT = st.text(st.one_of(st.characters(blacklist_categories=("Cc", "Cf", "Cs")),
                                st.sampled_from("\n\r\t ")))


def _parsed(markdown: str) -> str:
    """What Markdown would still read as syntax: the text without its backslash escapes."""
    return _ESCAPE.sub("", markdown)


@pytest.mark.parametrize("text", [
    "[x](javascript:alert(1)) **b**",  # a key label that would be a link and bold
    "<b>x</b> <img src=x onerror=alert(1)> <https://evil.test>",
    "*a* _b_ [c](d) $e$ `f` :red[g] :material/key: :smile: ~~s~~",  # emphasis, math, Streamlit directives
    "AT&amp;T &#60; &lt;",  # entities would show as the characters they name
    "title\r===\n# heading\n> quote\n- item\n1. item\n| a | b |",  # block syntax starting a line
    "    indented code",
    "line\nbreak\x00\u202e\u200b\x07",  # NUL, a bidi override, a zero-width space, a bell
])
def test_escaped_text_holds_no_markdown_or_html_and_stays_on_one_line(text: str) -> None:
    escaped = md_escape(text)
    assert not set(_parsed(escaped)) & set(string.punctuation)
    assert not set(escaped) & set("\r\n\t\x00\x07\u202e\u200b")
    assert not escaped.startswith("  ")


def test_escaped_text_reads_as_typed() -> None:
    assert md_escape("[x](javascript:alert(1)) **b**") == (
        "\\[x\\]\\(javascript\\:alert\\(1\\)\\) \\*\\*b\\*\\*")
    assert md_escape("ann.agent@nb.test") == "ann\\.agent\\@nb\\.test"
    assert md_escape("a\r\n\n  b\x00\u202e") == "a b\ufffd\ufffd"


@given(_SHOWN_TEXT)
def test_any_text_escapes_to_inert_markdown_that_shows_the_same_words(text: str) -> None:
    escaped = md_escape(text)
    assert not set(_parsed(escaped)) & set(string.punctuation)
    assert _ESCAPE.sub(r"\1", escaped) == re.sub(r"\s+", " ", text)


def test_a_code_span_shows_backticks_and_emails_as_typed() -> None:
    assert md_code("ann@nb.test") == "`ann@nb.test`"
    assert md_code("a`b\nc") == "`` a`b c ``"
    assert md_code("``x`") == "``` ``x` ```"
    assert md_code("k\x00\u202e") == "`k\ufffd\ufffd`"


@given(_SHOWN_TEXT.filter(lambda text: text.strip()))
def test_any_text_fits_in_one_code_span_whatever_backticks_it_holds(text: str) -> None:
    span = md_code(text)
    fence = re.match(r"`+", span)
    assert fence and span.endswith(fence.group())
    inner = span[len(fence.group()) : -len(fence.group())]
    assert all(len(run) < len(fence.group()) for run in re.findall(r"`+", inner))
    assert "\n" not in span and "\r" not in span
    shown = inner[1:-1] if len(fence.group()) > 1 else inner
    assert shown == re.sub(r"\s+", " ", text)
