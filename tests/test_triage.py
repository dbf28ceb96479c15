"""Ticket triage in the library: real ticket texts (six venues, ambiguous errors, two emails, no match,
injection text, whole and masked keys, ids, ticket links, a huge paste) -> facts, users, keys, the
suggested key, what each error line means and the reply for the key's latest result."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from nbsupport import audit
from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import ConnectionTest, ExchangeKey
from nbsupport.guide import MAX_SCAN_CHARS, match_error
from nbsupport.keys import add_key
from nbsupport.replies import ReplyFacts, customer_reply
from nbsupport.triage import MAX_ITEMS, Triage, mask_keys, parse_ticket, pasted_keys, triage

NOW = datetime.now(UTC)
KRAKEN_KEY = "Kx9fQz2LmN4pR7sT1vW3yA5bC8dE0gH2jK4mP6rS9uV1xZ3aBcDeFgHiJkLm"
KRAKEN_SECRET = "kQ7w+Zr2/9pLmXbT4vYc1sE8dF0gHjK3nM5qR7tU9wZ2aB4cD6eF8gH0iJ2kL4mN6oP8qR0sT2uV4wX6yZ8aB+/cd=="
FUTURES_KEY = "Fu7uReSkEy0123456789abcdefGHIJKLmnopqrstUVWX"
BINANCE_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
BYBIT_KEY = "XXyYzZ12aBcD3eFgH4"
OKX_KEY = "5f0c2a1e-9b7d-4c3e-8a6f-1d2e3f4a5b6c"
COINBASE_KEY = "organizations/1f2e3d4c/apiKeys/9a8b7c6d5e4f"


@dataclass(frozen=True)
class Fleet:
    ann: int  # Kraken spot (failing: missing permission) and Kraken Futures
    spot: int
    futures: int
    bob: int  # Binance, rejected
    binance: int
    cara: int  # Bybit
    bybit: int
    dev: int  # OKX, with a passphrase
    okx: int
    eve: int  # Coinbase, never tested
    coinbase: int


def _tested(session: object, key: ExchangeKey, outcome: str, diagnosis: str, fix_id: str, hours: int,
            reply: str = "") -> None:
    started = NOW - timedelta(hours=hours)
    session.add(ConnectionTest(  # type: ignore[attr-defined]
        key_id=key.id, exchange=key.exchange, started_at=started, trigger="save", actor="cli:test", ticket="",
        outcome=outcome, diagnosis=diagnosis, missing_permissions=[], permissions={}, exchange_error="",
        requests=2, duration_ms=300, egress_ip="51.38.112.198",
        detail={"fix_id": fix_id, "customer_reply": reply},
    ))
    key.last_outcome, key.last_diagnosis, key.last_test_at = outcome, diagnosis, started


@pytest.fixture
def fleet(console: Console, keyring: MasterKeyring) -> Fleet:
    def add(session: object, email: str, exchange: str, api_key: str, **extra: object) -> ExchangeKey:
        return add_key(session, keyring, user_email=email, exchange=exchange,  # type: ignore[arg-type]
                       credentials=Credentials(api_key, "c2VjcmV0c2VjcmV0c2VjcmV0", **extra),  # type: ignore[arg-type]
                       now=NOW - timedelta(days=30))

    with console.session() as s:
        spot = add(s, "ann@example.com", "kraken", KRAKEN_KEY)
        futures = add(s, "ann@example.com", "krakenfutures", FUTURES_KEY)
        binance = add(s, "bob@example.com", "binance", BINANCE_KEY)
        bybit = add(s, "cara.lopez@example.org", "bybit", BYBIT_KEY)
        okx = add(s, "dev@example.net", "okx", OKX_KEY, password="passphrase-1")
        coinbase = add(s, "eve@example.com", "coinbase", COINBASE_KEY)
        _tested(s, spot, "ok", "ok", "kraken-ok", hours=48)
        _tested(s, spot, "failed", "missing_permission", "kraken-missing-permission", hours=2,
                reply=customer_reply(ReplyFacts("missing_permission", "kraken",
                                                missing=("query_closed_orders",))))
        _tested(s, futures, "ok", "ok", "", hours=5)
        _tested(s, binance, "failed", "credentials_rejected", "binance-key-ip-or-permission", hours=1)
        _tested(s, bybit, "failed", "ip_not_allowed", "generic-ip-not-allowed", hours=3)
        _tested(s, okx, "failed", "credentials_rejected", "generic-credentials-rejected", hours=4)
        s.flush()
        return Fleet(spot.user_id, spot.id, futures.id, binance.user_id, binance.id, bybit.user_id, bybit.id,
                     okx.user_id, okx.id, coinbase.user_id, coinbase.id)


def run(console: Console, text: str) -> Triage:
    with console.session() as session:
        return triage(session, text)


def fix_ids(result: Triage, line: int) -> list[str]:
    found = [e for e in result.facts.error_lines if e.line == line]
    assert found, f"no error line {line}: {[e.line for e in result.facts.error_lines]}"
    return [m.row.fix_id for m in found[0].matches]


def test_kraken_spot_ticket_finds_the_user_the_failing_key_and_drafts_the_missing_permission_reply(
    console: Console, fleet: Fleet
) -> None:
    result = run(console, (
        "From: Ann <ann@example.com>\n"
        "Subject: Kraken bot stopped\n"
        "Hi, since this morning my Kraken Pro bot shows:\n"
        'ccxt.base.errors.PermissionDenied: kraken {"error":["EGeneral:Permission denied"]}\n'
    ))
    assert result.facts.emails == ("ann@example.com",)
    assert result.facts.venues == ("kraken",)
    assert [u.card.id for u in result.users] == [fleet.ann]
    assert {k.view.id for k in result.keys} == {fleet.spot, fleet.futures}
    assert result.suggested is not None and result.suggested.view.id == fleet.spot
    assert result.suggested.reasons == ("owner's email ann@example.com",)
    assert fix_ids(result, 4)[0] == "kraken-missing-permission"
    assert result.latest is not None and result.latest.result.diagnosis == "missing_permission"
    assert result.reply is not None and result.reply.fix_id == "kraken-missing-permission"
    assert "lacks permissions" in result.reply.customer_reply
    # The drafted reply is the result's own: it names only the permission that test found missing.
    assert "Query Closed Orders & Trades" in result.reply_text
    assert "Query Funds" not in result.reply_text
    error = result.facts.error_lines[0]
    assert all(result.confirmed(m) for m in error.matches if m.row.diagnosis == "missing_permission")


def test_kraken_futures_ticket_with_a_masked_key_suggests_the_futures_key(
    console: Console, fleet: Fleet
) -> None:
    result = run(console, (
        "Kraken Futures says my key is wrong. Key Fu7u…UVWX (yes, Fu7u…UVWX), response:\n"
        '{"result":"error","serverTime":"2026-12-03T10:00:00.000Z","error":"authenticationError"}\n'
    ))
    assert result.facts.venues == ("krakenfutures",)
    assert [f.shown for f in result.facts.key_fragments] == ["Fu7u…UVWX"]
    assert result.suggested is not None and result.suggested.view.id == fleet.futures
    assert result.suggested.named and result.suggested.reasons == ("key Fu7u…UVWX (line 1)",)
    assert fix_ids(result, 2)[0] == "krakenfutures-authentication-error"
    assert result.reply is not None and result.reply.diagnosis == "ok"  # its latest test was green


def test_binance_2015_is_explained_with_every_cause_the_matcher_gives(console: Console, fleet: Fleet) -> None:
    line = 'binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'
    result = run(console, f"bob@example.com here, Binance keeps failing:\n{line}\n")
    assert result.suggested is not None and result.suggested.view.id == fleet.binance
    assert fix_ids(result, 2) == [m.row.fix_id for m in match_error(line, "binance", limit=5)]
    assert "binance-key-ip-or-permission" in fix_ids(result, 2)
    assert result.reply is not None and result.reply.fix_id == "binance-key-ip-or-permission"


def test_a_line_with_two_errors_is_ambiguous_and_lists_both_causes(console: Console, fleet: Fleet) -> None:
    result = run(console, (
        "key 1: EAPI:Invalid key\n"
        "retry: EAPI:Invalid key then EGeneral:Permission denied\n"
    ))
    first, second = result.facts.error_lines
    # `EAPI:Invalid key` alone already has several causes (a wrong, expired or Futures key).
    assert first.line == 1 and first.ambiguous
    assert "missing_permission" not in {m.row.diagnosis.value for m in first.matches}
    assert second.line == 2 and second.ambiguous
    assert {"credentials_rejected", "missing_permission"} <= {m.row.diagnosis.value for m in second.matches}


def test_bybit_ticket_by_user_id_explains_the_ip_error(console: Console, fleet: Fleet) -> None:
    result = run(console, f"User ID: {fleet.cara}\nBybit: retCode 10010 Unmatched IP, check your key\n")
    assert result.facts.user_ids == (fleet.cara,)
    assert result.facts.venues == ("bybit",)
    assert [u.card.id for u in result.users] == [fleet.cara]
    assert result.suggested is not None and result.suggested.view.id == fleet.bybit
    assert fix_ids(result, 2) == ["generic-ip-not-allowed"]
    assert result.reply is not None and result.reply.diagnosis == "ip_not_allowed"


def test_okx_whole_pasted_key_is_found_by_fingerprint_and_never_kept_in_clear(
    console: Console, fleet: Fleet
) -> None:
    text = f'OKX told me to send this. api key {OKX_KEY}\n{{"code":"50111","msg":"Invalid OK-ACCESS-KEY"}}'
    result = run(console, text)
    pasted = [f for f in result.facts.key_fragments if f.kind == "pasted"]
    assert [f.shown for f in pasted] == [f"{OKX_KEY[:4]}…{OKX_KEY[-4:]}"]
    assert result.suggested is not None and result.suggested.view.id == fleet.okx
    assert result.suggested.reasons == (f"whole key {OKX_KEY[:4]}…{OKX_KEY[-4:]} (line 1)",)
    assert OKX_KEY not in repr(result) and OKX_KEY not in json.dumps(result.as_dict(), default=str)
    assert fix_ids(result, 2) == ["generic-credentials-rejected"]


def test_a_masked_paste_with_the_whole_keys_it_held_still_finds_them_by_fingerprint(
    console: Console, fleet: Fleet
) -> None:
    raw = f"my key {OKX_KEY} and my secret {KRAKEN_SECRET}\nlater: key {FUTURES_KEY[:4]}…{FUTURES_KEY[-4:]}"
    masked = mask_keys(raw)[0]
    kept = pasted_keys(raw)
    assert OKX_KEY not in repr(kept) and KRAKEN_SECRET not in repr(kept)
    with console.session() as session:
        result = triage(session, masked, pasted=kept)
    reasons = {k.view.id: k.reasons for k in result.keys}
    assert reasons[fleet.okx] == (f"whole key {OKX_KEY[:4]}…{OKX_KEY[-4:]} (line 1)",)
    # A masked key the paste itself held (not a whole key kept from it) is still searched as such.
    assert reasons[fleet.futures] == (f"key {FUTURES_KEY[:4]}…{FUTURES_KEY[-4:]} (line 2)",)
    assert f"whole key {KRAKEN_SECRET[:4]}…{KRAKEN_SECRET[-4:]} (line 1)" in result.not_found


def test_a_whole_kraken_key_and_its_secret_in_a_log_line_are_masked(console: Console, fleet: Fleet) -> None:
    text = f"config: apiKey={KRAKEN_KEY} secret={KRAKEN_SECRET} -> EAPI:Invalid key\n"
    result = run(console, text)
    assert result.suggested is not None and result.suggested.view.id == fleet.spot
    shown = json.dumps(result.as_dict(), default=str) + repr(result)
    for secret in (KRAKEN_KEY, KRAKEN_SECRET, KRAKEN_KEY[4:-4], KRAKEN_SECRET[8:40]):
        assert secret not in shown
    assert f"{KRAKEN_KEY[:4]}…{KRAKEN_KEY[-4:]}" in result.facts.error_lines[0].text


def test_coinbase_ticket_by_key_id_with_no_test_yet_drafts_no_reply(console: Console, fleet: Fleet) -> None:
    result = run(console, f"Coinbase: key id {fleet.coinbase} -> PERMISSION_DENIED: Missing required scopes")
    assert result.facts.key_ids == (fleet.coinbase,)
    assert result.suggested is not None and result.suggested.view.id == fleet.coinbase
    assert result.latest is None and result.reply is None
    assert fix_ids(result, 1) == ["generic-missing-permission"]


def test_two_emails_find_both_users_and_rank_the_venue_named(console: Console, fleet: Fleet) -> None:
    result = run(console, "I wrote from bob@example.com but the account is ann@example.com. Binance is down.")
    assert result.facts.emails == ("bob@example.com", "ann@example.com")
    assert {u.card.id for u in result.users} == {fleet.ann, fleet.bob}
    assert result.suggested is not None and result.suggested.view.id == fleet.binance
    assert result.facts.error_lines == ()


def test_no_match_says_which_facts_found_nothing(console: Console, fleet: Fleet) -> None:
    result = run(console, "Hello, I am nobody@nowhere.example and key Zz9y…Qq1w does not work. user 999999")
    assert result.users == () and result.keys == () and result.suggested is None
    assert result.not_found == ("email nobody@nowhere.example", "user 999999", "key Zz9y…Qq1w (line 1)")
    assert result.latest is None and result.reply is None


def test_injection_text_is_parsed_as_plain_text(console: Console, fleet: Fleet) -> None:
    text = (
        "[click me](javascript:alert(1)) <script>alert('x')</script> **ann@example.com**\n"
        "\x1b[31m EAPI:Invalid key \x1b[0m \x00 <img src=x onerror=alert(1)> $\\frac{1}{2}$\n"
    )
    result = run(console, text)
    assert result.facts.emails == ("ann@example.com",)
    line = result.facts.error_lines[0]
    assert "\x1b" not in line.text and "\x00" not in line.text
    assert fix_ids(result, 2)[0] == "kraken-credentials-rejected"


def test_a_ticket_link_and_a_console_link_give_the_ticket_and_the_ids(console: Console, fleet: Fleet) -> None:
    text = (
        "Ticket https://noonbarbari.zendesk.com/agent/tickets/48213 (was ZD 48100, see also #48211)\n"
        f"Console: https://support.nb.internal/?user={fleet.ann}&key={fleet.spot}\n"
    )
    result = run(console, text)
    assert result.facts.ticket_refs == ("ZD-48213", "ZD-48100", "#48211")
    assert result.facts.user_ids == (fleet.ann,) and result.facts.key_ids == (fleet.spot,)
    assert result.suggested is not None and result.suggested.view.id == fleet.spot


def test_key_start_and_end_phrases_narrow_to_that_end_of_the_key(console: Console, fleet: Fleet) -> None:
    result = run(console, f"my key starts with {BYBIT_KEY[:4]} and ends with {KRAKEN_KEY[-4:]}")
    assert [(f.kind, f.query) for f in result.facts.key_fragments] == [
        ("start", BYBIT_KEY[:4]), ("end", KRAKEN_KEY[-4:])]
    assert {k.view.id for k in result.keys} == {fleet.bybit, fleet.spot}


def test_an_email_with_digits_is_not_a_user_id_and_api_key_digits_are_not_a_key_id() -> None:
    facts = parse_ticket("user12345@example.com wrote: API key 1234 fails, key 77 too, customer #88")
    assert facts.user_ids == (88,) and facts.key_ids == (77,)
    assert facts.ticket_refs == ()


def test_a_huge_paste_reads_head_and_tail_with_true_line_numbers(console: Console, fleet: Fleet) -> None:
    filler = "2026-12-03T10:00:00Z INFO poll ok latency=12ms\n"
    lines = 200_000
    text = "From ann@example.com\n" + filler * lines + 'kraken {"error":["EAPI:Invalid nonce"]}\n'
    assert len(text) > 4 * MAX_SCAN_CHARS
    result = run(console, text)
    assert result.facts.skipped_chars > len(text) - MAX_SCAN_CHARS - 100
    assert [e.line for e in result.facts.error_lines] == [lines + 2]
    assert fix_ids(result, lines + 2)[0] == "kraken-invalid-nonce"
    assert result.suggested is not None and result.suggested.view.id == fleet.spot


def test_each_kind_of_fact_is_capped() -> None:
    text = " ".join(f"u{n}@example.com user {n + 1}" for n in range(MAX_ITEMS * 3))
    facts = parse_ticket(text)
    assert len(facts.emails) == MAX_ITEMS and len(facts.user_ids) == MAX_ITEMS


def test_the_ticket_without_a_venue_is_explained_for_its_key_venue(console: Console, fleet: Fleet) -> None:
    result = run(console, f"key {fleet.futures}: error apiLimitExceeded")
    assert result.facts.venues == ()
    assert fix_ids(result, 1)[0].startswith("krakenfutures-")


def test_triage_tests_nothing(console: Console, fleet: Fleet) -> None:
    def tests() -> int:
        with console.session() as session:
            return int(session.scalar(select(func.count()).select_from(ConnectionTest)) or 0)

    before = tests()
    run(console, f"ann@example.com key {fleet.spot} EAPI:Invalid key")
    assert tests() == before


def test_subjects_are_every_key_shown_and_keyless_users(console: Console, fleet: Fleet) -> None:
    with console.session() as session:
        add_key(session, MasterKeyring.parse(console.settings.master_keys), user_email="solo@example.com",
                exchange="kraken", credentials=Credentials("SoLoKeY0123456789abcdef", "c2VjcmV0"))
    result = run(console, f"bob@example.com and key {fleet.bybit}")
    assert sorted(result.subjects()) == sorted([(fleet.bob, fleet.binance), (fleet.cara, fleet.bybit)])


def run_cli(cli_env: dict[str, str], *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbsupport", "triage", *args], input=stdin, env=cli_env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_triage_reads_stdin_prints_json_and_audits_with_the_ticket(
    console: Console, fleet: Fleet, cli_env: dict[str, str]
) -> None:
    text = f"ann@example.com: Kraken says EGeneral:Permission denied, key {KRAKEN_KEY}\n"
    done = run_cli(cli_env, "--json", "--ticket", "ZD-9", stdin=text)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["suggested_key_id"] == fleet.spot
    assert payload["reply"]["id"] == "kraken-missing-permission"
    assert payload["facts"]["error_lines"][0]["matches"][0]["fix_id"] == "kraken-missing-permission"
    assert KRAKEN_KEY not in done.stdout + done.stderr
    with console.session() as session:
        rows = audit.recent(session)
    assert {(r.action, r.ticket, r.subject_key_id) for r in rows} == {
        (Action.TICKET_TRIAGE, "ZD-9", None), (Action.KEY_VIEW, "ZD-9", fleet.spot),
        (Action.KEY_VIEW, "ZD-9", fleet.futures)}


def test_cli_triage_text_output_and_exit_codes(
    console: Console, fleet: Fleet, cli_env: dict[str, str]
) -> None:
    done = run_cli(cli_env, stdin="bob@example.com\nbinance -2015 Invalid API-key, IP, or permissions\n")
    assert done.returncode == 0, done.stderr
    assert f"suggested key: {fleet.binance}" in done.stdout and "binance-key-ip-or-permission" in done.stdout
    assert run_cli(cli_env, stdin="nobody@nowhere.example").returncode == 1
    empty = run_cli(cli_env, stdin="  \n")
    assert empty.returncode == 2 and empty.stderr.startswith("error: the ticket on stdin is empty")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), st.sampled_from(["", "EAPI:Invalid key", "-2015 Invalid API-key", "10010"]))
def test_any_paste_parses_and_shows_no_control_character_or_whole_key(text: str, error: str) -> None:
    key = "Kq7ZpX2mN9vB4cR8tY1wE6uI3oP5aS0dF"
    facts = parse_ticket(f"{text} {key} {error}\n{text}")
    for line in facts.error_lines:
        assert key not in line.text
        assert not any(unicodedata.category(c) == "Cc" and c != "\t" for c in line.text)
    assert all(n > 0 for n in (*facts.user_ids, *facts.key_ids))
    assert all("@" in e and e == e.lower() for e in facts.emails)
