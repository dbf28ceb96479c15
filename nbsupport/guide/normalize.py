"""Pasted text -> the text the matcher reads, with a map back to the paste for highlighting.

Real pastes rarely hold the venue's error verbatim. Each pass below rewrites one kind of wrapping, in one
linear scan, and records for every character it keeps or adds the index of the pasted character it stands
for, so a match found in the normalised text still points at (and highlights) the user's own text:

1. HTML error pages are reduced to their `<title>` and `<h1>`: the status line ("502 Bad Gateway",
   "Attention Required! | Cloudflare"), never the scripts and boilerplate around it;
2. URLs are reduced to their scheme and host: the host says which venue and environment
   (`api-testnet.bybit.com`, `demo-futures.kraken.com`), the path and query (signatures, nonces, help
   article slugs like ".../What-is-the-minimum-order-size") only add noise;
3. escaped JSON (`{\\"error\\":[\\"EAPI:Invalid key\\"]}`) loses its backslashes, `\\n` becomes a space;
4. Kraken codes whose leading `E` a client library stripped (`General:Temporary lockout`,
   `API:Invalid nonce`, `EOrder: Insufficient funds`) get their canonical form back.

ccxt exception class prefixes (`ccxt.base.errors.AuthenticationError: kraken {...}`) need no pass: class
names are matched as words and rank below the venue's own error string.
"""

from __future__ import annotations

import re

_HTML_START = "<html"
_HTML_END = "</html>"
_HTML_HEADLINES = re.compile(r"<(title|h1)\b[^>]{0,200}>([^<]{1,300})</\1\s{0,5}>", re.IGNORECASE)
_URL = re.compile(r"(https?://[A-Za-z0-9.-]{1,255})(?::\d{1,5})?[^\s\"'<>\\]*")
_ESCAPE = re.compile(r"\\+(?=[\"/])|\\[nrt]")
# Kraken error categories (docs.kraken.com/api/docs/guides/spot-errors): `E` + category + `:` + message.
# No look-behind: a literal alternation first lets the regex engine skip ahead, which keeps this pass
# cheap on 256 KB pastes; a letter before the match is checked in code instead.
_KRAKEN_CATEGORY = re.compile(
    r"(E?)(General|API|Service|Order|Query|Funding|Session|Database|Account|Trade|Auth|Budget):( ?)(?=[A-Z])"
)


class _Builder:
    """Output text plus, per output character, the index of the input character it stands for."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[str] = []
        self.index: list[int] = []
        self.pos = 0
        self.edited = False

    def copy_to(self, end: int) -> None:
        if end > self.pos:
            self.parts.append(self.source[self.pos : end])
            self.index.extend(range(self.pos, end))
        self.pos = max(self.pos, end)

    def skip_to(self, end: int) -> None:
        self.edited = self.edited or end > self.pos
        self.pos = max(self.pos, end)

    def insert(self, text: str, at: int) -> None:
        self.edited = True
        self.parts.append(text)
        self.index.extend([at] * len(text))

    def done(self) -> tuple[str, list[int] | None]:
        """The rewritten text and its index; (source, None) when nothing was rewritten."""
        if not self.edited:
            return self.source, None
        self.copy_to(len(self.source))
        return "".join(self.parts), self.index


def normalize(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the index of the pasted character behind it."""
    index: list[int] | None = None
    for rewrite in (_reduce_html, _reduce_urls, _unescape, _restore_kraken_prefix):
        text, step = rewrite(text)
        if step is not None:  # this pass changed something
            index = step if index is None else [index[i] for i in step]
    return text, index if index is not None else list(range(len(text)))


def source_span(index: list[int], start: int, end: int) -> tuple[int, int]:
    """The pasted-text span behind normalised characters `start:end` (end exclusive, non-empty)."""
    return index[start], index[end - 1] + 1


def _reduce_html(text: str) -> tuple[str, list[int] | None]:
    out = _Builder(text)
    lowered = text.lower()
    start = lowered.find(_HTML_START)
    while start >= 0:
        end = lowered.find(_HTML_END, start)
        end = len(text) if end < 0 else end + len(_HTML_END)
        doctype = lowered.rfind("<!doctype", max(0, start - 200), start)
        out.copy_to(doctype if doctype >= 0 else start)
        for headline in _HTML_HEADLINES.finditer(text, start, end):
            out.insert(" ", headline.start())
            out.skip_to(headline.start(2))
            out.copy_to(headline.end(2))
        out.insert(" ", end - 1)
        out.skip_to(end)
        start = lowered.find(_HTML_START, end)
    return out.done()


def _reduce_urls(text: str) -> tuple[str, list[int] | None]:
    out = _Builder(text)
    for url in _URL.finditer(text):
        out.copy_to(url.end(1))
        out.skip_to(url.end())
    return out.done()


def _unescape(text: str) -> tuple[str, list[int] | None]:
    out = _Builder(text)
    for escape in _ESCAPE.finditer(text):
        out.copy_to(escape.start())
        if escape.group()[-1] in "nrt":  # `\n`, `\r`, `\t`; the other form is only backslashes
            out.insert(" ", escape.start())
        out.skip_to(escape.end())
    return out.done()


def _restore_kraken_prefix(text: str) -> tuple[str, list[int] | None]:
    out = _Builder(text)
    for code in _KRAKEN_CATEGORY.finditer(text):
        if code.start() > 0 and text[code.start() - 1].isalpha():
            continue  # inside a longer word (`XAPI:...`)
        out.copy_to(code.start())
        if not code.group(1):
            out.insert("E", code.start(2))
        out.copy_to(code.end(2) + 1)  # category and colon
        out.skip_to(code.end())  # a space a library put after the colon
    return out.done()
