"""The error-to-fix guide: guide parsing, the coverage contract, matching real errors, and the CLI."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbsupport import guide
from nbsupport.diagnosis import KRAKEN_SCOPE_LABELS, PLATFORM_EGRESS_IP, STRATEGY_SCOPES, Diagnosis
from nbsupport.guide import GENERIC_VENUE, FixRow, GuideError, Match, fix_for, load_table, match_error

GUIDE_MODULE = "nbsupport.cli.guide_cmd"
VENUE_FAMILIES = ("kraken", "krakenfutures", GENERIC_VENUE)
CliMain = Callable[[Sequence[str] | None], int]

ENTRY = """\
### Key or signature rejected {{#{fix_id}}}

- **Errors:** {errors}
- **Diagnosis:** `{diagnosis}`
- **Severity:** high
- **Cause:** The secret is wrong
  or was altered while copying.
- **Fix:**
  1. Paste the key again.
  2. Create a new key if the secret is lost,
     with read and trade permissions.
- **Reply:**
  > Hi! Please paste your key again.
  >
  > Thanks!
"""


def _entry(fix_id: str = "test-credentials", errors: str = "`EAPI:Invalid key`", diagnosis: str = "") -> str:
    return ENTRY.format(fix_id=fix_id, errors=errors, diagnosis=diagnosis or "credentials_rejected")


def _guide_text(*entries: str, venue: str = "kraken", pitfalls: str = "") -> str:
    body = "\n".join(entries) if entries else _entry()
    return (
        "<!-- format notes\n   span two lines -->\n"
        "# Test guide\n\n"
        f"- **Venue:** `{venue}`\n"
        "- **Aliases:** `api.kraken.com`\n\n"
        "Intro prose with a - **Bold:** that is not a header field.\n\n"
        f"## Common pitfalls\n\n{pitfalls}\n\n"
        "## Troubleshooting\n\n"
        f"{body}"
    )


def _write(tmp_path: Path, text: str, name: str = "kraken.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def _error_for(tmp_path: Path, text: str) -> GuideError:
    with pytest.raises(GuideError) as caught:
        load_table([_write(tmp_path, text)])
    return caught.value


# --- parser ------------------------------------------------------------------------------------------


def test_well_formed_guide_parses_into_rows_with_every_field(tmp_path: Path) -> None:
    text = _guide_text(_entry(errors="`EAPI:Invalid key`, `/-20(15|14)/`"))
    path = _write(tmp_path, text)
    table = load_table([path])
    (row,) = table.rows
    assert row.fix_id == "test-credentials"
    assert row.venue == "kraken"
    assert row.diagnosis is Diagnosis.CREDENTIALS_REJECTED
    assert row.patterns == ("EAPI:Invalid key", "/-20(15|14)/")
    assert row.title == "Key or signature rejected"
    assert row.cause == "The secret is wrong or was altered while copying."
    assert row.steps == (
        "Paste the key again.",
        "Create a new key if the secret is lost, with read and trade permissions.",
    )
    assert row.customer_reply == "Hi! Please paste your key again.\n\nThanks!"
    assert row.severity is guide.Severity.HIGH
    assert row.primary is True
    assert row.anchor == "kraken.md#test-credentials"
    assert row.source_line == _line_of(text, "### Key or signature")
    assert table.guides[0].aliases == ("api.kraken.com",)


def test_fix_payload_has_exactly_the_connection_test_shape() -> None:
    payload = fix_for("credentials_rejected", "kraken").as_fix_payload()
    assert set(payload) == {"id", "title", "steps", "customer_reply"}
    assert payload["id"] == "kraken-credentials-rejected"
    assert isinstance(payload["steps"], list) and payload["steps"]
    json.dumps(payload)


MALFORMED = {
    "missing_fix_field": (
        lambda: _guide_text(re.sub(r"- \*\*Fix:\*\*\n(  .*\n)+", "", _entry())),
        "### Key or signature",
        "missing field 'Fix'",
    ),
    "unknown_field": (
        lambda: _guide_text(
            _entry().replace("- **Severity:** high\n", "- **Severity:** high\n- **Colour:** red\n")
        ),
        "- **Colour:**",
        "unknown field 'colour'",
    ),
    "missing_required_field": (
        lambda: _guide_text(re.sub(r"- \*\*Reply:\*\*\n(  >.*\n)+", "", _entry())),
        "### Key or signature",
        "missing field 'Reply'",
    ),
    "unknown_diagnosis_code": (
        lambda: _guide_text(_entry(diagnosis="bad_key")),
        "- **Diagnosis:**",
        "unknown diagnosis code 'bad_key'",
    ),
    "bad_regex": (
        lambda: _guide_text(_entry(errors="`EAPI:Invalid key`, `/-20(15/`")),
        "- **Errors:**",
        "bad regex",
    ),
    "catastrophic_regex": (
        lambda: _guide_text(_entry(errors="`/(a{1,9}){1,9}b/`")),
        "- **Errors:**",
        "nested repeats",
    ),
    "unbounded_regex": (lambda: _guide_text(_entry(errors="`/key.*denied/`")), "- **Errors:**", "unbounded"),
    "too_short_pattern": (lambda: _guide_text(_entry(errors="`ab`")), "- **Errors:**", "too short"),
    "heading_without_id": (
        lambda: _guide_text(_entry().replace(" {#test-credentials}", "")),
        "### Key or signature",
        "needs a title and an id",
    ),
    "stray_text_in_entry": (
        lambda: _guide_text(_entry().replace("- **Severity:** high\n", "- **Severity:** high\nOops prose\n")),
        "Oops prose",
        "unexpected text",
    ),
    "misnumbered_steps": (
        lambda: _guide_text(_entry().replace("  2. Create", "  3. Create")),
        "  3. Create",
        "expected 2",
    ),
    "reply_not_quoted": (
        lambda: _guide_text(_entry().replace("  > Thanks!", "  Thanks!")),
        "  Thanks!",
        "starts with '>'",
    ),
    "unknown_severity": (
        lambda: _guide_text(_entry().replace("**Severity:** high", "**Severity:** dire")),
        "- **Severity:**",
        "unknown severity",
    ),
    "two_entries_for_a_code_without_primary": (
        lambda: _guide_text(_entry(), _entry(fix_id="other-credentials", errors="`EAPI:Invalid signature`")),
        "### Key or signature rejected {#other-credentials}",
        "mark exactly one",
    ),
    "duplicate_fix_id_in_one_guide": (
        lambda: _guide_text(
            _entry(), _entry(diagnosis="secret_malformed").replace("### Key or", "### Again key or")
        ),
        "### Again key or",
        "duplicate fix id 'test-credentials'",
    ),
    "pitfall_link_to_unknown_fix": (
        lambda: _guide_text(pitfalls="- Clipboards. See [the fix](#no-such-fix)."),
        "- Clipboards.",
        "#no-such-fix",
    ),
    "unterminated_comment": (lambda: _guide_text() + "\n<!-- never closed\n", "<!-- never", "unterminated"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_guide_fails_with_file_and_line(tmp_path: Path, case: str) -> None:
    make_text, line_marker, message = MALFORMED[case]
    text = make_text()
    error = _error_for(tmp_path, text)
    path = tmp_path / "kraken.md"
    assert error.path == str(path)
    assert error.line == _line_of(text, line_marker)
    assert str(error).startswith(f"{path}:{error.line}: ")
    assert message in str(error)


def test_guide_without_venue_or_troubleshooting_section_is_refused(tmp_path: Path) -> None:
    no_venue = _guide_text().replace("- **Venue:** `kraken`\n", "")
    assert "Venue" in str(_error_for(tmp_path, no_venue))
    no_section = _guide_text().replace("## Troubleshooting", "## Trouble")
    assert "missing '## Troubleshooting'" in str(_error_for(tmp_path, no_section))


def test_duplicate_fix_id_across_guides_names_both_places(tmp_path: Path) -> None:
    first = _write(tmp_path, _guide_text(), "kraken.md")
    second = _write(tmp_path, _guide_text(venue="krakenfutures"), "krakenfutures.md")
    with pytest.raises(GuideError) as caught:
        load_table([first, second])
    assert caught.value.path == str(second)
    assert "duplicate fix id 'test-credentials'" in str(caught.value)
    assert f"{first}:" in str(caught.value)


def test_explicit_primary_picks_the_row_fix_for_returns(tmp_path: Path) -> None:
    second = _entry(fix_id="other-credentials", errors="`EAPI:Invalid signature`").replace(
        "- **Severity:** high\n", "- **Severity:** high\n- **Primary:** yes\n"
    )
    table = load_table([_write(tmp_path, _guide_text(_entry(), second))])
    assert fix_for("credentials_rejected", "kraken", table=table).fix_id == "other-credentials"
    assert [row.primary for row in table.rows] == [False, True]


def test_editing_a_troubleshooting_entry_in_a_tmp_copy_changes_the_table(tmp_path: Path) -> None:
    copies = []
    for path in guide.default_guide_paths():
        copies.append(Path(shutil.copy(path, tmp_path / path.name)))
    before = load_table(copies)
    assert match_error("EAPI:Totally new failure", table=before) == []

    kraken = tmp_path / "kraken.md"
    text = kraken.read_text(encoding="utf-8")
    text = text.replace(
        "- **Errors:** `EAPI:Invalid nonce`", "- **Errors:** `EAPI:Invalid nonce`, `EAPI:Totally new failure`"
    )
    text = text.replace(
        "Ask whether the key is also used by another bot", "Ask first whether another bot uses"
    )
    kraken.write_text(text, encoding="utf-8")

    after = load_table(copies)
    (best,) = match_error("EAPI:Totally new failure", table=after, limit=1)
    assert best.row.fix_id == "kraken-invalid-nonce"
    assert after.by_id("kraken-invalid-nonce").steps[0].startswith("Ask first whether another bot uses")
    assert load_table() is load_table()  # the shipped table is parsed once per content


# --- coverage contract -------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUE_FAMILIES)
@pytest.mark.parametrize("code", list(Diagnosis))
def test_every_diagnosis_code_has_one_primary_fix_per_venue_family(venue: str, code: Diagnosis) -> None:
    table = load_table()
    primaries = [r for r in table.rows if r.venue == venue and r.diagnosis == code and r.primary]
    assert len(primaries) == 1, f"{venue}: {code.value} needs exactly one primary row, has {primaries}"
    exchange = None if venue == GENERIC_VENUE else venue
    assert fix_for(code.value, exchange) == primaries[0]


def test_shipped_guides_name_only_existing_codes_and_have_no_gaps() -> None:
    table = load_table()
    assert set(table.venues) == set(VENUE_FAMILIES)
    assert {row.diagnosis.value for row in table.rows} <= {code.value for code in Diagnosis}
    assert guide.missing_fixes(table) == []


def test_a_guide_missing_a_code_shows_up_as_a_coverage_gap(tmp_path: Path) -> None:
    table = load_table([_write(tmp_path, _guide_text())])
    gaps = guide.missing_fixes(table)
    assert ("kraken", Diagnosis.NONCE_REJECTED) in gaps
    assert ("kraken", Diagnosis.CREDENTIALS_REJECTED) not in gaps


def test_venue_without_a_guide_gets_the_generic_fix_and_ids_are_normalised() -> None:
    assert fix_for("credentials_rejected", "binance").fix_id == "generic-credentials-rejected"
    assert fix_for("credentials_rejected", None).venue == GENERIC_VENUE
    assert fix_for(Diagnosis.KEY_EXPIRED, " Kraken ").fix_id == "kraken-key-expired"
    with pytest.raises(ValueError):
        fix_for("not_a_code", "kraken")


def test_shipped_guides_use_the_platform_egress_ip_and_kraken_permission_names() -> None:
    for path in guide.default_guide_paths():
        text = path.read_text(encoding="utf-8")
        assert set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", text)) == {PLATFORM_EGRESS_IP}, path.name
        assert "## Common pitfalls" in text and "](#" in text, path.name
    kraken = (guide.GUIDE_DIR / "kraken.md").read_text(encoding="utf-8")
    for scope in STRATEGY_SCOPES:
        assert KRAKEN_SCOPE_LABELS[scope] in kraken


# --- matching ----------------------------------------------------------------------------------------

CF_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    "</center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>"
)
REAL_WORLD: list[tuple[str, str | None, str]] = [
    # Kraken spot, raw and through ccxt
    ('kraken {"error":["EAPI:Invalid key"]}', None, "kraken-credentials-rejected"),
    (
        'ccxt.base.errors.AuthenticationError: kraken {"error":["EAPI:Invalid signature"]}',
        None,
        "kraken-credentials-rejected",
    ),
    ('kraken {"error":["EGeneral:Permission denied"]}', None, "kraken-missing-permission"),
    ("EAPI:Permission denied", "kraken", "kraken-missing-permission"),
    ('kraken {"error":["EGeneral:Permission denied:expired"]}', None, "kraken-key-expired"),
    ('ccxt.base.errors.InvalidNonce: kraken {"error":["EAPI:Invalid nonce"]}', None, "kraken-invalid-nonce"),
    ('kraken {"error":["EAPI:Rate limit exceeded"]}', None, "kraken-rate-limit"),
    ("EOrder:Rate limit exceeded", None, "kraken-rate-limit"),
    (
        'ccxt.base.errors.DDoSProtection: kraken {"error":["EGeneral:Temporary lockout"]}',
        None,
        "kraken-temporary-lockout",
    ),
    ('kraken {"error":["EService:Unavailable"]}', None, "kraken-service-unavailable"),
    ("EService:Busy", "kraken", "kraken-service-unavailable"),
    ('kraken {"error":["EService:Market in cancel_only mode"]}', None, "kraken-market-restricted"),
    ('kraken {"error":["EGeneral:Invalid arguments:otp"]}', None, "kraken-otp-required"),
    ("binascii.Error: Incorrect padding", "kraken", "kraken-secret-malformed"),
    (
        '{"error":["EAccount:Invalid permissions:XRP trading restricted for US:WA"]}',
        None,
        "kraken-region-blocked",
    ),
    (
        "2024-05-01T10:00:00Z ERROR worker-3 key=812 fetch_balance failed: "
        'kraken POST https://api.kraken.com/0/private/Balance {"error":["EAPI:Invalid key"]}',
        None,
        "kraken-credentials-rejected",
    ),
    # Kraken Futures
    (
        'krakenfutures {"result":"error","error":"authenticationError",'
        '"serverTime":"2024-05-01T10:00:00.000Z"}',
        None,
        "krakenfutures-authentication-error",
    ),
    (
        'ccxt.base.errors.RateLimitExceeded: krakenfutures {"result":"error","error":"apiLimitExceeded"}',
        None,
        "krakenfutures-rate-limit",
    ),
    ('{"result":"error","error":"nonceBelowThreshold"}', None, "krakenfutures-invalid-nonce"),
    ("nonceDuplicate", "krakenfutures", "krakenfutures-invalid-nonce"),
    ('krakenfutures {"result":"error","error":"Unavailable"}', None, "krakenfutures-unavailable"),
    # ccxt class names on their own
    ("AuthenticationError", None, "generic-credentials-rejected"),
    ("ccxt.base.errors.PermissionDenied", None, "generic-missing-permission"),
    ("InvalidNonce", None, "generic-nonce-rejected"),
    ("RateLimitExceeded", None, "generic-rate-limited"),
    ("DDoSProtection", None, "generic-rate-limited"),
    ("ExchangeNotAvailable", None, "generic-exchange-unavailable"),
    ("RequestTimeout", "okx", "generic-network-error"),
    ("NetworkError", None, "generic-network-error"),
    (
        "ccxt.base.errors.RequestTimeout: binance GET https://api.binance.com/api/v3/account "
        "request timed out (10000 ms)",
        "binance",
        "generic-network-error",
    ),
    # HTML pages, timeouts, HTTP 451
    (CF_502, "bybit", "generic-exchange-unavailable"),
    (
        "<title>api.example.com | 521: Web server is down</title> ... Cloudflare Ray ID: 8a1b",
        None,
        "generic-cloudflare-5xx",
    ),
    ("<title>Attention Required! | Cloudflare</title>", None, "generic-cloudflare-block"),
    (
        "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>",
        None,
        "generic-exchange-unavailable",
    ),
    (
        "HTTPSConnectionPool(host='api.kraken.com', port=443): Max retries exceeded with url: "
        "/0/private/Balance (Caused by ReadTimeoutError(\"HTTPSConnectionPool(host='api.kraken.com', "
        'port=443): Read timed out. (read timeout=10)"))',
        "kraken",
        "generic-network-error",
    ),
    ("Error: connect ECONNREFUSED 127.0.0.1:443", None, "generic-network-error"),
    (
        "binance GET https://api.binance.com/api/v3/account 451 Unavailable For Legal Reasons "
        '{"code":0,"msg":"Service unavailable from a restricted location according to '
        "'b. Eligibility' in https://www.binance.com/en/terms.\"}",
        "binance",
        "generic-region-blocked",
    ),
    (
        "requests.exceptions.HTTPError: HTTP 451 for url https://api.bybit.com/v5/account",
        None,
        "generic-region-blocked",
    ),
    # Binance
    (
        'binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}',
        None,
        "binance-key-ip-or-permission",
    ),
    (
        '{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}',
        None,
        "generic-nonce-rejected",
    ),
    ('{"code":-1022,"msg":"Signature for this request is not valid."}', None, "generic-signature-rejected"),
    ('{"code":-2014,"msg":"API-key format invalid."}', None, "generic-secret-malformed"),
    (
        '{"code":-1003,"msg":"Way too much request weight used; IP banned until 1714557600000."}',
        None,
        "generic-rate-limited",
    ),
    # OKX
    ('okx {"msg":"Invalid Sign","code":"50113"}', None, "generic-signature-rejected"),
    ('{"msg":"Invalid OK-ACCESS-KEY","code":"50111"}', None, "generic-credentials-rejected"),
    ('{"code":"50105","msg":"OK-ACCESS-PASSPHRASE incorrect"}', None, "generic-passphrase-rejected"),
    ('{"code":"50101","msg":"APIKey does not match current environment."}', None, "generic-wrong-product"),
    # Coinbase
    (
        "coinbase GET https://api.coinbase.com/api/v3/brokerage/accounts 401 Unauthorized Unauthorized",
        None,
        "generic-credentials-rejected",
    ),
    (
        'coinbase {"error":"PERMISSION_DENIED","message":"Missing required scopes"}',
        None,
        "generic-missing-permission",
    ),
    # KuCoin (400004 is KuCoin's passphrase code; the passphrase text wins whatever code comes with it)
    ('{"code":"400004","msg":"Invalid KC-API-PASSPHRASE"}', None, "generic-passphrase-rejected"),
    ('kucoin {"code":"400005","msg":"Invalid KC-API-PASSPHRASE"}', "kucoin", "generic-passphrase-rejected"),
    (
        '{"code":"400006","msg":"Invalid request ip, the current clientIp is:203.0.113.7"}',
        None,
        "generic-ip-not-allowed",
    ),
    # Bybit
    (
        '{"retCode":10010,"retMsg":"Unmatched IP, please check your API key\'s bound IP addresses."}',
        None,
        "generic-ip-not-allowed",
    ),
    ('{"retCode":33004,"retMsg":"Your api key has expired."}', "bybit", "generic-key-expired"),
]


@pytest.mark.parametrize(
    ("text", "exchange", "fix_id"), REAL_WORLD, ids=[c[2] + ":" + c[0][:40] for c in REAL_WORLD]
)
def test_real_world_error_matches_the_right_fix(text: str, exchange: str | None, fix_id: str) -> None:
    matches = match_error(text, exchange)
    assert matches, "no match"
    best = matches[0]
    assert best.row.fix_id == fix_id, [(m.row.fix_id, m.score, m.matched_text) for m in matches]
    assert text[best.span[0] : best.span[1]] == best.matched_text


def test_invalid_signature_pasted_from_ccxt_matches_credentials_row() -> None:
    text = 'ccxt.base.errors.AuthenticationError: kraken {"error":["EAPI:Invalid signature"]}'
    best = match_error(text)[0]
    assert best.row == fix_for("credentials_rejected", "kraken")
    assert best.matched_text == "EAPI:Invalid signature"


def test_expired_permission_error_beats_plain_permission_denied() -> None:
    ids = [m.row.fix_id for m in match_error("EGeneral:Permission denied:expired", "kraken")]
    assert ids.index("kraken-key-expired") < ids.index("kraken-missing-permission")


def test_given_exchange_rows_beat_generic_rows() -> None:
    text = "503 Service Unavailable while calling EService:Unavailable"
    assert match_error(text, "kraken")[0].row.fix_id == "kraken-service-unavailable"
    generic = match_error("503 Service Unavailable", "kraken")[0]
    assert generic.row.venue == GENERIC_VENUE


def test_venue_is_detected_from_hosts_in_the_text() -> None:
    assert (
        guide.detect_venue("POST https://futures.kraken.com/derivatives/api/v3/sendorder") == "krakenfutures"
    )
    assert guide.detect_venue("kraken POST https://api.kraken.com/0/private/Balance") == "kraken"
    assert guide.detect_venue("binance GET https://api.binance.com") is None


def test_camel_case_futures_code_does_not_capture_the_ccxt_class_name() -> None:
    text = 'ccxt.base.errors.AuthenticationError: bitstamp {"status":"error","reason":"whatever"}'
    assert [m.row.fix_id for m in match_error(text)] == ["generic-credentials-rejected"]


def test_pasted_text_is_matched_across_rewrapped_whitespace() -> None:
    text = 'binance {"code":-2015,"msg":"Invalid API-key,\n   IP, or   permissions for action."}'
    best = match_error(text)[0]
    assert best.row.fix_id == "binance-key-ip-or-permission"
    assert best.pattern == "Invalid API-key, IP, or permissions for action"


def test_literal_codes_do_not_match_inside_longer_numbers() -> None:
    assert match_error("order 1451 filled at 20150.5 after 500113 ms") == []


@pytest.mark.parametrize("text", ["", "   ", "\n\t\r\n", "\x00\x00"])
def test_empty_or_blank_text_gives_no_matches(text: str) -> None:
    assert match_error(text) == []


def test_results_are_limited_and_best_first() -> None:
    text = "AuthenticationError EAPI:Invalid key 502 Bad Gateway Read timed out RateLimitExceeded -1021"
    matches = match_error(text, limit=3)
    assert len(matches) == 3
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert len({m.row.fix_id for m in match_error(text, limit=50)}) == len(match_error(text, limit=50))
    with pytest.raises(ValueError):
        match_error(text, limit=0)


@pytest.mark.parametrize(
    "text",
    [
        "EAPI:" * 20_000,
        "-" * 100_000,
        "ip " * 33_000,
        "error code 5" * 8_000,
        '{"error":"' * 10_000,
        "a" * 100_000,
        "Permission denied " * 5_500,
    ],
    ids=["eapi", "dashes", "ip", "errorcode", "json", "letters", "denied"],
)
def test_100_kb_adversarial_text_is_handled_fast(text: str) -> None:
    start = time.perf_counter()
    match_error(text, "kraken")
    match_error(text)
    assert time.perf_counter() - start < 2.0


def test_error_at_the_end_of_a_huge_log_is_found_with_the_right_span() -> None:
    text = "x" * (guide.MAX_SCAN_CHARS * 2) + ' kraken {"error":["EAPI:Invalid nonce"]}'
    best = match_error(text)[0]
    assert best.row.fix_id == "kraken-invalid-nonce"
    assert text[best.span[0] : best.span[1]] == "EAPI:Invalid nonce"


ERRORISH = st.text(alphabet=st.sampled_from(list('EAPI:Invalid keysgnature-0123456789{}[]"<>/ \n\x00é')))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=2_000),
        ERRORISH,
        st.builds(lambda s, n: s * n, st.text(max_size=100), st.integers(0, 1_000)),
    ),
    exchange=st.sampled_from([None, "", "kraken", "krakenfutures", "binance", "KRAKEN", "\x00"]),
)
def test_match_error_never_crashes_on_arbitrary_text(text: str, exchange: str | None) -> None:
    matches = match_error(text, exchange)
    assert len(matches) <= 5
    for match in matches:
        assert isinstance(match, Match) and isinstance(match.row, FixRow)
        assert text[match.span[0] : match.span[1]] == match.matched_text


# --- CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli_main(monkeypatch: pytest.MonkeyPatch) -> CliMain:
    """`nbsupport.cli.main` with the guide commands registered even if the wiring lags behind."""
    import nbsupport.cli as cli

    if GUIDE_MODULE not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, GUIDE_MODULE))
    return cli.main


def test_guide_commands_are_registered_in_the_cli() -> None:
    import nbsupport.cli as cli

    assert GUIDE_MODULE in cli.COMMAND_MODULES, "add nbsupport.cli.guide_cmd to COMMAND_MODULES"


def test_cli_explain_prints_the_fix_and_reply(cli_main: CliMain, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["explain", 'kraken {"error":["EAPI:Invalid signature"]}'])
    out = capsys.readouterr().out
    assert code == 0
    row = fix_for("credentials_rejected", "kraken")
    assert out.startswith(f"{row.fix_id}: {row.title}")
    assert "credentials_rejected" in out and row.cause in out
    assert all(step in out for step in row.steps)
    assert row.customer_reply.splitlines()[0] in out


def test_cli_explain_json_lists_matches_with_fix_payload(
    cli_main: CliMain, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(
        ["explain", "EGeneral:Permission denied:expired", "--exchange", "kraken", "--json", "--limit", "2"]
    )
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(payload) == 2
    assert payload[0]["fix"] == fix_for("key_expired", "kraken").as_fix_payload()
    assert payload[0]["matched_text"] == "EGeneral:Permission denied:expired"
    assert payload[0]["score"] > payload[1]["score"]


def test_cli_explain_without_match_exits_1_with_a_message(
    cli_main: CliMain, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["explain", "the weather is nice"]) == 1
    assert "no fix matches" in capsys.readouterr().err
    assert cli_main(["explain", "the weather is nice", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == []


def test_cli_rejects_bad_input_with_exit_2(cli_main: CliMain, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["explain", "   "]) == 2
    assert cli_main(["explain", "EAPI:Invalid key", "--limit", "0"]) == 2
    assert cli_main(["guide", "--diagnosis", "nope"]) == 2
    assert "unknown diagnosis code" in capsys.readouterr().err


def test_cli_guide_lists_venue_rows_then_generic_rows(
    cli_main: CliMain, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["guide", "--exchange", "kraken", "--diagnosis", "credentials_rejected", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["fix_id"] == "kraken-credentials-rejected"
    assert {r["venue"] for r in rows} == {"kraken", GENERIC_VENUE}
    assert cli_main(["guide"]) == 0
    assert f"{len(load_table().rows)} fixes" in capsys.readouterr().out


def test_cli_explain_json_lists_every_cause_of_an_ambiguous_error(
    cli_main: CliMain, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'
    code = cli_main(["explain", text, "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    causes = [m for m in payload if m["cause_count"] > 1]
    diagnoses = [m["diagnosis"] for m in causes]
    assert diagnoses == ["credentials_rejected", "ip_not_allowed", "missing_permission"]
    assert [m["cause_rank"] for m in causes] == [1, 2, 3]
    assert all(m["tell_apart"] and m["key_problem"] for m in causes)


def test_cli_explain_text_names_each_cause_and_what_tells_them_apart(
    cli_main: CliMain, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["explain", "EGeneral:Permission denied", "--exchange", "kraken"]) == 0
    out = capsys.readouterr().out
    assert "has 2 possible causes, most likely first" in out
    assert out.index("1. missing_permission") < out.index("2. ip_not_allowed")
    assert "allowlist decides between IP and permission" in out


def test_cli_explain_answers_an_order_error_as_not_a_key_problem(
    cli_main: CliMain, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["explain", "ccxt.base.errors.InvalidOrder: binance {\"code\":-1013}", "--json"]) == 0
    (best, *_) = json.loads(capsys.readouterr().out)
    assert best["cause_code"] == "not_a_key_problem" and best["key_problem"] is False and best["team"]


def test_cli_guide_lists_the_not_a_key_problem_answers(
    cli_main: CliMain, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["guide", "--diagnosis", "not_a_key_problem", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["fix_id"] for r in rows} == {"kraken-not-a-key-problem", "generic-not-a-key-problem"}
    assert all(r["cause_code"] == "not_a_key_problem" and r["team"] for r in rows)
