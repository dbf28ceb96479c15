"""Fuzzing with hypothesis: the lookup parser and `lookup()` against a database, the error matcher, the guide
parser fed mutated guides, every CLI argument, and the pages fed injection strings.

Inputs mix arbitrary unicode, control characters, undecodable argv bytes (what Python turns them into:
lone surrogates U+DC80..U+DCFF), SQL/HTML/JavaScript/Markdown injection strings and 100 kB inputs. Every
entry point must answer (a result, or its own one-line error with its own exit code), never raise anything
else; every SQL statement must carry the input as a bound parameter, never in its text; pages must render
injection strings escaped.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event

from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.guide import GUIDE_DIR, FixTable, GuideError, match_error
from nbsupport.guide.parser import build_table, parse_guide
from nbsupport.lookup import (
    MAX_QUERY_LENGTH,
    LookupQueryError,
    LookupResult,
    ParsedQuery,
    lookup,
    parse_query,
)
from nbsupport.sandbox import SandboxServer
from tests.prove.support import (
    REPO_ROOT,
    UseEnv,
    app_env,
    cli_in_process,
    fresh_key,
    key_credentials,
    settings_env,
    store,
)
from tests.prove.tally import Recorder

INJECTIONS = [
    "' OR 1=1 --",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "1; SELECT pg_sleep(5)",
    "') UNION SELECT * FROM exchange_keys --",
    "%' AND 1=0 UNION SELECT credential_blob FROM exchange_keys --",
    "$$; DELETE FROM audit_events",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "[owned](javascript:alert(1))",
    "[click](https://evil.example/x)",
    "![x](https://evil.example/p.png)",
    ":red-badge[withdraw granted]",
    "**bold** _it_ `code` # heading",
    "{{7*7}} ${7*7} <%= 7*7 %>",
    "../../../../etc/passwd",
    "%00%0a%0d",
    "\u202etxt.exe",
    "\ufeff\u200b\u2028\u2029",
    "Ω≈ç√∫˜µ≤≥÷",
    "😀👍🏽🇫🇷",
    "\x1b[31mred\x1b[0m",
    "\r\nSet-Cookie: x=y",
    "a\tb\x0bc\x0cd",
    "user@example.com' --",
    "-1",
    "0",
    "1e309",
    "99999999999999999999999999",
    "-9223372036854775809",
    "NaN",
    "--help",
    "-",
    "key:1 OR 1=1",
    "#1",
]
SURROGATES = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
# What an OS can put in argv: anything but NUL; undecodable bytes arrive as lone surrogates.
ARGV_CHAR = st.one_of(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), SURROGATES)


def big(text: str, size: int = 100_000) -> str:
    return (text * (size // max(len(text), 1) + 1))[:size]


ARGV_TEXT = st.one_of(
    st.text(ARGV_CHAR, max_size=60),
    st.sampled_from(INJECTIONS),
    st.builds(lambda a, b: a + b, st.sampled_from(INJECTIONS), st.text(ARGV_CHAR, max_size=20)),
    st.builds(big, st.sampled_from(INJECTIONS)),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 10**20), st.sampled_from(["s", "m", "h", "d", "w", ""])),
    st.dates().map(str),
)
# Values that found bugs once, tried first on every argument: undecodable bytes, ids beyond BIGINT, dates
# and durations beyond the calendar, a superscript digit, a newline and a terminal escape sequence.
ARGV_REGRESSIONS = [
    "\udcff@example.com",
    "9223372036854775808",
    "-1",
    "0",
    "739944",
    "99999999999d",
    "²",
    "a\nb",
    "\x1b[2J",
    "1e309",
    "x" * 300,
]
# ... and on stdin: a NUL (PostgreSQL cannot store it) and undecodable bytes.
STDIN_REGRESSIONS = ["\x00FuzzKeyabcdef\nFuzzSecret0123\n", "FuzzKey\udcffabcdef\nFuzzSecret0123\n"]
# stdin is a byte stream: NUL and every control character can arrive there.
STDIN_TEXT = st.one_of(
    ARGV_TEXT,
    st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=60),
    st.builds(lambda a, b: f"{a}\n{b}\n", st.text(max_size=60), st.text(max_size=60)),
)
ANY_TEXT = st.one_of(
    st.text(max_size=200),
    st.sampled_from(INJECTIONS),
    st.builds(big, st.text(min_size=1, max_size=30)),
    st.text(st.characters(max_codepoint=0x1F), max_size=50),
)
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


# The quick suite tries this many examples per property; with --run-slow (CI, `python -m tests.prove`)
# every property tries SLOW_SCALE times as many.
SLOW_SCALE = 4
Fuzz = Callable[[int], settings]


@pytest.fixture
def fuzz(request: pytest.FixtureRequest) -> Fuzz:
    scale = SLOW_SCALE if request.config.getoption("--run-slow") else 1
    return lambda examples: settings(FUZZ, max_examples=examples * scale)


# Characters no statement template of ours contains: an input holding one must never appear in SQL text.
_NOT_IN_TEMPLATES = re.compile(r"['\";@<>\\$%{}`\u0080-\U0010ffff]|--")


@contextmanager
def statements() -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement any engine in this process sends, with its parameters."""
    seen: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        with lock:
            seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _values(params: Any) -> Iterator[Any]:
    if isinstance(params, dict):
        params = list(params.values())
    if isinstance(params, list | tuple):
        for item in params:
            yield from _values(item)
    else:
        yield params


def inlined(values: list[str], seen: list[tuple[str, Any]]) -> list[str]:
    """Values that show up in a statement's text (instead of only in its parameters)."""
    risky = [v for v in values if v and len(v) >= 2 and _NOT_IN_TEMPLATES.search(v)]
    return [v[:60] for v in risky for statement, _ in seen if v in statement]


# --- lookup ---------------------------------------------------------------------------------------------


def test_the_lookup_parser_classifies_or_refuses_any_text(fuzz: Fuzz, tally: Recorder) -> None:
    @fuzz(300)
    @given(text=ANY_TEXT)
    def check(text: str) -> None:
        tally.fuzz_example()
        try:
            parsed = parse_query(text)
        except LookupQueryError as refused:
            message = str(refused)
            assert "\n" not in message and len(message) < 600
            return
        assert isinstance(parsed, ParsedQuery)
        assert 0 < len(text.strip()) <= MAX_QUERY_LENGTH
        if parsed.email is not None:
            assert parsed.email == text.strip().lower()

    check()


@pytest.fixture
def populated(console: Console, keyring: MasterKeyring) -> Console:
    """Users whose emails and labels are themselves injection strings."""
    for n, payload in enumerate(INJECTIONS[:12]):
        local = re.sub(r"[\s@]", "", payload) or "x"
        email = f"{local}{n}@example.com"
        store(
            console,
            keyring,
            Credentials(f"FuzzKey{n:04d}{'A' * 30}", f"FuzzSecret{n:04d}{'B' * 40}"),
            email=email,
            label=payload[:100],
        )
    return console


def test_lookup_against_the_database_binds_every_input_as_a_parameter(
    populated: Console, fuzz: Fuzz, tally: Recorder
) -> None:
    emails = st.builds(
        lambda local, domain: f"{local}@{domain}",
        st.one_of(st.sampled_from(INJECTIONS), st.text(min_size=1, max_size=30)).map(
            lambda s: re.sub(r"[\s@]", "", s) or "x"
        ),
        st.sampled_from(["example.com", "x.io", "' OR 1=1 --", "<b>.test", "例え.jp"]),
    )

    @fuzz(200)
    @given(text=st.one_of(ANY_TEXT, emails))
    def check(text: str) -> None:
        tally.fuzz_example()
        with statements() as seen, populated.session() as session:
            try:
                result = lookup(session, text)
            except LookupQueryError:
                return
        assert isinstance(result, LookupResult)
        query = result.query
        values = [text.strip(), text.strip().lower(), *(v for v in (query.email, query.fragment) if v)]
        assert not inlined(values, seen)
        if query.email is not None:
            bound = [value for _, params in seen for value in _values(params)]
            assert query.email in bound, "the email never reached the database as a parameter"
            assert all(u.email == query.email for u in result.users)

    check()


# --- error matcher --------------------------------------------------------------------------------------


def test_the_error_matcher_answers_any_text_with_spans_inside_it(fuzz: Fuzz, tally: Recorder) -> None:
    exchanges = st.one_of(
        st.none(), st.sampled_from(["kraken", "krakenfutures", "binance", "KRAKEN", ""]), st.text(max_size=20)
    )

    @fuzz(120)
    @given(
        text=st.one_of(
            ANY_TEXT,
            st.builds(lambda a, b: a + " EAPI:Invalid key " + b, ANY_TEXT, ANY_TEXT),
            st.builds(lambda a: big(a, 300_000), st.sampled_from(INJECTIONS)),
        ),
        exchange=exchanges,
        limit=st.integers(1, 20),
    )
    def check(text: str, exchange: str | None, limit: int) -> None:
        tally.fuzz_example()
        matches = match_error(text, exchange=exchange, limit=limit)
        assert len(matches) <= limit
        assert len({m.row.fix_id for m in matches}) == len(matches)
        for match in matches:
            assert text[match.span[0] : match.span[1]] == match.matched_text
        if "EAPI:Invalid key" in text and exchange in (None, "", "kraken", "KRAKEN"):
            assert matches, "a Kraken error string must always find its fix"

    check()


# --- guide parser ---------------------------------------------------------------------------------------

GUIDES = {path.name: path.read_text(encoding="utf-8") for path in sorted(GUIDE_DIR.glob("*.md"))}
MUTATION = st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "truncate", "flip", "field"])


def mutate(text: str, choices: list[tuple[str, int, str]]) -> str:
    lines = text.split("\n")
    for kind, position, garbage in choices:
        at = position % max(len(lines), 1)
        if kind == "delete" and lines:
            del lines[at]
        elif kind == "duplicate" and lines:
            lines.insert(at, lines[at])
        elif kind == "swap" and len(lines) > 1:
            other = (at * 7 + 3) % len(lines)
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "insert":
            lines.insert(at, garbage)
        elif kind == "replace" and lines:
            lines[at] = garbage
        elif kind == "truncate":
            lines = lines[:at]
        elif kind == "flip" and lines and lines[at]:
            line = lines[at]
            cut = position % len(line)
            lines[at] = line[:cut] + (garbage[:1] or "#") + line[cut + 1 :]
        elif kind == "field" and lines:
            fields = [i for i, line in enumerate(lines) if line.startswith("- **")]
            if fields:
                index = fields[position % len(fields)]
                name = lines[index].split(":**", 1)[0]
                lines[index] = f"{name}:** {garbage}"
    return "\n".join(lines)


GUIDE_GARBAGE = st.one_of(
    st.text(max_size=80),
    st.sampled_from(INJECTIONS),
    st.sampled_from(
        [
            "### Orphan {#orphan}",
            "## Troubleshooting",
            "### Bad id {#Bad_ID}",
            "- **Errors:** `/(a+)+$/`",
            "- **Diagnosis:** `not_a_code`",
            "- **Severity:** apocalyptic",
            "- **Primary:** maybe",
            "```",
            "<!--",
            "-->",
            "- **Venue:** `kraken`",
            "  1. step",
            "  > reply",
            "- **Fix:**",
            "[link](#no-such-fix)",
            "- **Errors:** none",
            "- **Errors:** `a`, `",
            "\t\x00\x1f",
        ]
    ),
)


def test_mutated_guides_parse_or_fail_with_file_and_line(fuzz: Fuzz, tally: Recorder) -> None:
    @fuzz(150)
    @given(
        name=st.sampled_from(sorted(GUIDES)),
        choices=st.lists(st.tuples(MUTATION, st.integers(0, 10_000), GUIDE_GARBAGE), min_size=1, max_size=4),
    )
    def check(name: str, choices: list[tuple[str, int, str]]) -> None:
        tally.fuzz_example()
        text = mutate(GUIDES[name], choices)
        path = Path("guides") / name
        try:
            parsed = parse_guide(path, text)
            others = [parse_guide(Path("guides") / n, t) for n, t in GUIDES.items() if n != name]
            table = build_table([parsed, *others])
        except GuideError as error:
            line_count = text.count("\n") + 1
            assert str(error).startswith(f"{path}:{error.line}: "), str(error)
            assert 0 <= error.line <= line_count + 1 and error.message
            return
        assert isinstance(table, FixTable)

    check()


# --- every CLI argument ---------------------------------------------------------------------------------

# (argv with one `{}` slot the fuzzed text goes into, stdin)
CREDS = (
    "FuzzCliKey0123456789abcdefghijklmnopqrstuvwxyz\nFuzzCliSecret0123456789abcdefghijklmnopqrstuvwxyz==\n"
)
CLI_SLOTS: list[tuple[tuple[str, ...], str]] = [
    (("{}",), ""),
    (("lookup", "{}"), ""),
    (("lookup", "{}", "--json"), ""),
    (("retest", "{}"), ""),
    (("retest", "{key}", "--ticket", "{}", "--json"), ""),
    (("explain", "{}"), ""),
    (("explain", "-", "--json"), "{}"),
    (("explain", "EAPI:Invalid key", "--exchange", "{}"), ""),
    (("explain", "EAPI:Invalid key", "--limit", "{}"), ""),
    (("guide", "--exchange", "{}"), ""),
    (("guide", "--diagnosis", "{}"), ""),
    (("keys", "add", "--user", "{}", "--exchange", "kraken"), CREDS),
    (("keys", "add", "--user", "fuzz@example.com", "--exchange", "{}"), CREDS),
    (("keys", "add", "--user", "fuzz@example.com", "--exchange", "kraken", "--label", "{}"), CREDS),
    (("keys", "add", "--user", "fuzz@example.com", "--exchange", "kraken", "--product", "{}"), CREDS),
    (("keys", "add", "--user", "fuzz@example.com", "--exchange", "kraken", "--ip-whitelist", "{}"), CREDS),
    (("keys", "add", "--user", "fuzz@example.com", "--exchange", "kraken", "--expires", "{}"), CREDS),
    (("keys", "add", "--user", "fuzz@example.com", "--exchange", "kraken"), "{}"),
    (("backfill-health", "--user", "{}"), ""),
    (("backfill-health", "--days", "{}"), ""),
    (("backfill-health", "--probe", "{}"), ""),
    (("stats", "--days", "{}"), ""),
    (("stats", "--exchange", "{}"), ""),
    (("bulk-retest", "--dry-run", "--exchange", "{}"), ""),
    (("bulk-retest", "--dry-run", "--diagnosis", "{}"), ""),
    (("bulk-retest", "--dry-run", "--since", "{}"), ""),
    (("bulk-retest", "--dry-run", "--concurrency", "{}"), ""),
    (("bulk-retest", "--resume", "{}"), ""),
    (("rotate-master-key", "--batch-size", "{}"), ""),
    (("generate-master-key", "{}"), ""),
    (("demo", "--users", "{}"), ""),
    (("demo", "--seed", "{}"), ""),
    (("demo", "--days", "{}"), ""),
    (("demo", "--as-of", "{}"), ""),
    (("rebuild-rollups", "{}"), ""),
]
EXIT_CODES = {0, 1, 2, 3}


@pytest.fixture
def cli_target(
    venue_console: Console,
    keyring: MasterKeyring,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    use_env: UseEnv,
) -> int:
    """The in-process CLI pointed at this test's database and the sandbox; returns a stored key's id.

    The demo builder is replaced by its own validation (the fuzz target is the command line, and a valid
    `--users` would otherwise build a demo per example)."""
    from nbsupport.cli import demo_cmd
    from nbsupport.demo import DemoError, DemoSpec

    key = fresh_key(sandbox, "cli-fuzz")
    key_id = store(venue_console, keyring, key_credentials(key), email="cli-fuzz@example.com")
    use_env(settings_env(venue_console.settings))

    def validate_only(console: Any, spec: DemoSpec, **_: Any) -> Any:
        spec.validate()
        raise DemoError("fuzzing: the demo is validated, not built")

    monkeypatch.setattr(demo_cmd, "build_demo", validate_only)
    monkeypatch.setattr(demo_cmd, "ensure_demo_data", lambda console, spec: spec.validate() or False)
    return key_id


def _cli_example(argv: list[str], stdin: str, value: str, tally: Recorder) -> None:
    tally.fuzz_example()
    with statements() as seen:
        try:
            done = cli_in_process(argv, stdin)
        except BaseException:
            tally.traceback()
            raise
    assert not tally.shown(done.stdout, done.stderr)
    assert done.code in EXIT_CODES, (argv[:6], done.code, done.stderr[-300:])
    errors = [line for line in done.stderr.split("\n") if line.strip()]
    if done.code == 2:
        assert len(errors) == 1 and "error: " in errors[0], (argv[:6], done.stderr[:500])
    assert not inlined([value, value.strip(), value.strip().lower()], seen), argv[:6]


@pytest.mark.parametrize(("slot", "stdin"), CLI_SLOTS, ids=[" ".join(s) for s, _ in CLI_SLOTS])
def test_every_cli_argument_answers_with_an_exit_code_and_one_line_never_a_traceback(
    cli_target: int, slot: tuple[str, ...], stdin: str, fuzz: Fuzz, tally: Recorder
) -> None:
    @fuzz(20)
    @given(value=STDIN_TEXT if stdin == "{}" else ARGV_TEXT)
    def check(value: str) -> None:
        argv = [value if part == "{}" else str(cli_target) if part == "{key}" else part for part in slot]
        _cli_example(argv, value if stdin == "{}" else stdin, value, tally)

    for value in ARGV_REGRESSIONS + (STDIN_REGRESSIONS if stdin == "{}" else []):
        check = example(value=value)(check)
    check()


# --- pages ----------------------------------------------------------------------------------------------

_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_ESCAPED = re.compile(r"\\.", re.DOTALL)
# Rendered as a live tag, link or image if they reach Markdown with their special characters unescaped.
RAW_TAGS = ("<script", "<img", "<svg", "<iframe")
RAW_LINKS = ("](javascript:", "](https://evil.example", "![")


def _markdown_bodies(at: Any) -> Iterator[tuple[str, bool]]:
    """(body, allows HTML) of every element Streamlit renders as Markdown, code spans removed."""
    for kind in (
        "markdown",
        "caption",
        "title",
        "header",
        "subheader",
        "error",
        "warning",
        "info",
        "success",
        "toast",
        "latex",
    ):
        for element in getattr(at, kind, []):
            proto = getattr(element, "proto", None)
            body = str(getattr(element, "value", "") or getattr(proto, "body", "") or "")
            allow_html = bool(getattr(proto, "allow_html", False))
            yield _CODE.sub("", body), allow_html


def unescaped(at: Any) -> list[str]:
    """Live HTML in an element that renders HTML, or a live link/image anywhere: `\\<` and `\\]` are text."""
    found = []
    for body, allow_html in _markdown_bodies(at):
        live = _ESCAPED.sub("", body).lower()
        patterns = (*RAW_TAGS, *RAW_LINKS) if allow_html else RAW_LINKS
        found.extend(
            f"{pattern} in {'unsafe-HTML ' if allow_html else ''}markdown: {body[:160]!r}"
            for pattern in patterns
            if pattern in live
        )
    return found


PAGE_PAYLOADS = st.one_of(
    st.sampled_from([p for p in INJECTIONS if any(c in p for c in "<[*`:")]),
    st.builds(
        lambda a, b: a + b,
        st.sampled_from(
            ["<script>alert(1)</script>", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>"]
        ),
        st.text(max_size=10),
    ),
)


@pytest.fixture
def page_env(monkeypatch: pytest.MonkeyPatch, use_env: UseEnv, populated: Console) -> Console:
    admin = "admin@prove.test"
    use_env(app_env(populated.settings, admin, {admin: "admin"}))
    monkeypatch.setattr("nbsupport.ui.session.seed_demo", lambda console: None)
    return populated


def _app(page: str, params: dict[str, str]) -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO_ROOT / "streamlit_app.py"), default_timeout=60)
    at.run()
    at.switch_page(page)
    at.query_params.clear()
    at.query_params.update(params)
    return at.run()


PAGE_INPUTS: list[tuple[str, Callable[[str], dict[str, str]], Callable[[Any, str], None] | None]] = [
    (
        "pages/lookup.py",
        lambda p: {"ticket": p},
        lambda at, p: at.text_input(key="lookup_query").set_value(p),
    ),
    ("pages/lookup.py", lambda p: {"user": p, "key": p}, None),
    ("pages/key_detail.py", lambda p: {"key": p, "user": p}, None),
    (
        "pages/error_guide.py",
        lambda p: {"fix": p},
        lambda at, p: at.text_area(key="pasted_error").set_value(f"kraken EAPI:Invalid key {p}"),
    ),
    ("pages/audit_log.py", lambda p: {}, lambda at, p: at.text_input[1].set_value(p)),
    ("pages/backfill.py", lambda p: {"user": p}, None),
]


@pytest.mark.parametrize(
    ("page", "params", "typed"),
    PAGE_INPUTS,
    ids=[f"{p} {'typed' if t else 'url'}" for p, _, t in PAGE_INPUTS],
)
def test_pages_render_injection_strings_escaped(
    page_env: Console,
    page: str,
    params: Callable[[str], dict[str, str]],
    typed: Callable[[Any, str], None] | None,
    fuzz: Fuzz,
    tally: Recorder,
) -> None:
    @fuzz(4)
    @given(payload=PAGE_PAYLOADS)
    def check(payload: str) -> None:
        tally.fuzz_example()
        at = _app(page, params(payload))
        if typed is not None:
            typed(at, payload)
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert not unescaped(at)
        texts = "\n".join(body for body, _ in _markdown_bodies(at))
        assert not tally.shown(texts)

    check()


def test_pages_render_stored_injection_strings_escaped(page_env: Console, tally: Recorder) -> None:
    """Emails and key labels that are HTML/Markdown injections (stored by `populated`), on the lookup and key
    pages: shown (the page is not just empty), and only as text."""
    from tests.pages.support import rendered

    for n in range(7, 12):  # the <script>, <img>, <svg>, javascript: and [link](javascript:) payloads
        tally.fuzz_example()
        at = _app("pages/lookup.py", {})
        at.text_input(key="lookup_query").set_value(f"user:{n + 1}").run()
        assert not at.exception and not unescaped(at)
        assert "alert" in rendered(at), "the stored payload was not rendered at all"
        tally.fuzz_example()
        at = _app("pages/key_detail.py", {"key": str(n + 1)})
        assert not at.exception and not unescaped(at)
        assert "alert" in rendered(at)


class _Element:
    def __init__(self, value: str, allow_html: bool) -> None:
        self.value = value
        self.proto = type("Proto", (), {"allow_html": allow_html, "body": value})()


class _Rendered:
    def __init__(self, *elements: _Element) -> None:
        self.markdown = list(elements)


@pytest.mark.parametrize(
    ("body", "allow_html", "flagged"),
    [
        ("<script>alert(1)</script>", True, True),
        ("\\<script\\>alert(1)", True, False),
        ("<script>alert(1)</script>", False, False),  # Streamlit shows HTML as text unless allowed
        ("[x](javascript:alert(1))", False, True),
        ("\\[x\\]\\(javascript:alert\\(1\\)\\)", False, False),
        ("`[x](javascript:alert(1))`", False, False),
        ("![p](https://evil.example/p.png)", False, True),
    ],
)
def test_the_page_check_flags_live_html_and_links_and_passes_escaped_text(
    body: str, allow_html: bool, flagged: bool
) -> None:
    assert bool(unescaped(_Rendered(_Element(body, allow_html)))) is flagged
