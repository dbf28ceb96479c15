"""Text from users, venues and the database made inert for `st.markdown`: it shows as typed and never
becomes HTML, a link, emphasis, a heading, math, an emoji or icon shortcode, or a Streamlit directive.

Every page escapes with these two; Markdown the package ships (guide text, our own labels) is not escaped.
"""

from __future__ import annotations

import re
import unicodedata

# CommonMark lets a backslash escape any ASCII punctuation; escaping all of it leaves nothing to get wrong.
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_WHITESPACE = re.compile(r"\s+")
# Control and format characters (NUL, bidi overrides, zero-width marks) and lone surrogates: invisible or
# misleading on screen, so each shows as one replacement character instead.
_HIDDEN = ("Cc", "Cf", "Cs")


def _visible(text: str) -> str:
    """One line: any run of whitespace (newlines too) becomes one space, hidden characters show as U+FFFD."""
    shown = "".join(
        ch if ch.isspace() or unicodedata.category(ch) not in _HIDDEN else "\ufffd" for ch in text
    )
    return _WHITESPACE.sub(" ", shown)


def md_escape(text: str) -> str:
    """`text` as plain Markdown text on one line: a key label or a pasted error stays words."""
    return _ASCII_PUNCTUATION.sub(r"\\\1", _visible(text))


def md_code(text: str) -> str:
    """`text` as a code span on one line, whatever backticks it holds (a span's content is never parsed).
    Emails go here too: as plain text Markdown would turn them into mailto links."""
    flat = _visible(text)
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    if not longest:
        return f"`{flat}`"
    # A fence longer than any run inside; the spaces keep a leading or trailing backtick off the fence.
    fence = "`" * (longest + 1)
    return f"{fence} {flat} {fence}"
