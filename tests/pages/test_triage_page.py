"""Ticket triage page through AppTest: the agents' home, a pasted ticket -> user, keys (linked), suggested
key with the link to its re-test, drafted reply, explained errors; audit rows with the session ticket;
inert injection text; no secret shown; nothing re-tested; analysts not let in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from nbsupport import config
from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import ConnectionTest
from nbsupport.guide import MAX_SCAN_CHARS
from nbsupport.keys import add_key, get_or_create_user
from nbsupport.ui.links import key_url, user_url
from tests.pages.support import (
    API_KEY,
    FUTURES_KEY,
    SECRET,
    Seeded,
    assert_no_secret,
    audit_rows,
    messages,
    open_app,
    rendered,
    text_field,
)

pytestmark = pytest.mark.usefixtures("app_env")

KRAKEN_TICKET = (
    "From: Ann <ann@example.com>\n"
    "Ticket ZD-4321 · my Kraken bot stopped this morning:\n"
    'ccxt.base.errors.PermissionDenied: kraken {"error":["EGeneral:Permission denied"]}\n'
)


def paste(text: str, at: AppTest | None = None) -> AppTest:
    at = at or open_app()
    at.text_area(key="triage_paste").input(text)
    next(b for b in at.button if b.label == "Triage").click().run()
    assert not at.exception, at.exception
    return at


def tables(at: AppTest) -> list[dict[str, list[object]]]:
    return [d.value.to_dict("list") for d in at.dataframe]


def connection_tests(console: Console) -> int:
    with console.session() as session:
        return int(session.scalar(select(func.count()).select_from(ConnectionTest)) or 0)


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_triage_is_the_home_of_agents_and_admins(sign_in: Callable[[str], str], role: str) -> None:
    sign_in(role)
    at = open_app()
    assert not at.exception
    assert at.title[0].value == "Ticket triage"
    assert at.text_area(key="triage_paste").value == ""


def test_analysts_cannot_open_triage(sign_in: Callable[[str], str]) -> None:
    sign_in("analyst")
    at = open_app()
    assert at.title[0].value == "Failure stats"
    with pytest.raises(ValueError, match=r"not a registered page|not registered|Could not find"):
        at.switch_page("pages/triage.py")


def test_a_kraken_ticket_shows_user_keys_suggestion_reply_and_explanation(
    console: Console, seeded: Seeded
) -> None:
    before = connection_tests(console)
    at = paste(KRAKEN_TICKET)
    text = rendered(at)
    users, keys = tables(at)
    assert users["User"] == [user_url(seeded.user_id)]
    assert keys["Key"][0] == key_url(seeded.key_id)  # the failing spot key is suggested first
    assert set(keys["Key"]) == {key_url(seeded.key_id), key_url(seeded.futures_key_id)}
    [link] = [link.proto for link in at.get("page_link")]
    assert link.label == f"Open key {seeded.key_id} to re-test it"
    assert f"/{link.page}?{link.query_string}" == key_url(seeded.key_id)
    assert "Suggested key" in text and "What the errors mean" in text
    assert "Key is missing a permission" in text  # the error line's explanation
    replies = [c.value for c in at.code if "lacks permissions" in c.value]
    assert replies, "no drafted reply"
    assert "missing\\_permission" in text or "missing_permission" in text
    assert_no_secret(at)
    assert connection_tests(console) == before  # nothing was re-tested


def test_every_lookup_is_audited_with_the_session_ticket(console: Console, seeded: Seeded) -> None:
    at = open_app()
    text_field(at, "Ticket reference").input("ZD-77").run()
    paste(KRAKEN_TICKET, at)
    views = audit_rows(console, Action.KEY_VIEW)
    assert {(r.subject_key_id, r.ticket, r.result) for r in views} == {
        (seeded.key_id, "ZD-77", "triage"), (seeded.futures_key_id, "ZD-77", "triage")}
    [triaged] = audit_rows(console, Action.TICKET_TRIAGE)
    assert triaged.ticket == "ZD-77" and triaged.detail["keys"] == [seeded.key_id, seeded.futures_key_id]
    assert "ann@example.com" not in str(triaged.detail)  # the paste itself is never stored
    # A rerun of the same triage is not a new view.
    at.run()
    assert len(audit_rows(console, Action.KEY_VIEW)) == 2
    assert len(audit_rows(console, Action.TICKET_TRIAGE)) == 1


def test_the_ticket_named_in_the_paste_becomes_the_session_ticket_in_one_click(
    console: Console, seeded: Seeded
) -> None:
    at = paste(KRAKEN_TICKET)
    assert {r.ticket for r in audit_rows(console, Action.KEY_VIEW)} == {""}
    next(b for b in at.button if b.label == "Use ZD-4321 as this session's ticket").click().run()
    assert not at.exception
    assert text_field(at, "Ticket reference").value == "ZD-4321"
    assert {r.ticket for r in audit_rows(console, Action.KEY_VIEW) if r.ticket} == {"ZD-4321"}


def test_a_paste_naming_another_ticket_than_the_session_warns(seeded: Seeded) -> None:
    at = open_app()
    text_field(at, "Ticket reference").input("ZD-1").run()
    at = paste(KRAKEN_TICKET, at)
    assert "The paste names ZD-4321, but this session's ticket is `ZD-1`" in messages(at)


def test_two_emails_show_both_users(seeded: Seeded) -> None:
    at = paste("Writing from bob@example.com about my account ann@example.com")
    users, keys = tables(at)
    assert sorted(users["User"]) == sorted([user_url(seeded.user_id), user_url(seeded.other_user_id)])
    assert key_url(seeded.other_key_id) in keys["Key"]


def test_a_masked_key_and_a_whole_pasted_key_find_their_keys_without_showing_secrets(
    console: Console, seeded: Seeded
) -> None:
    at = paste(f"futures key {FUTURES_KEY[:4]}…{FUTURES_KEY[-4:]} and my spot key is {API_KEY}\n"
               f"secret: {SECRET}\nEAPI:Invalid key for {API_KEY}")
    keys = tables(at)[-1]
    assert set(keys["Key"]) == {key_url(seeded.key_id), key_url(seeded.futures_key_id)}
    assert "Masked in the box: 3 whole key(s) or secret(s)" in rendered(at)
    assert f"{API_KEY[:4]}…{API_KEY[-4:]}" in at.text_area(key="triage_paste").value
    assert_no_secret(at)


def test_a_whole_pasted_key_finds_its_own_key_by_fingerprint_not_every_key_masked_alike(
    console: Console, keyring: MasterKeyring, seeded: Seeded
) -> None:
    # Another customer's key with the same first and last four characters: the masked form finds both.
    twin = f"{API_KEY[:4]}{'Q' * 20}{API_KEY[-4:]}"
    with console.session() as session:
        other = add_key(session, keyring, user_email="twin@example.com", exchange="kraken",
                        credentials=Credentials(twin, "twinsecret=="), label="twin").id
    at = paste(f"Hi, my Kraken key is {API_KEY} and it stopped working")
    keys = tables(at)[-1]
    assert keys["Key"] == [key_url(seeded.key_id)], keys
    assert keys["matched by"] == [f"whole key {API_KEY[:4]}…{API_KEY[-4:]} (line 1)"]
    # Triaging the (now masked) paste again after an edit still finds it by the kept fingerprint.
    at.text_area(key="triage_paste").input(at.text_area(key="triage_paste").value + "\nuser ann@example.com")
    next(b for b in at.button if b.label == "Triage").click().run()
    keys = tables(at)[-1]
    assert key_url(other) not in keys["Key"] and key_url(seeded.key_id) in keys["Key"]
    assert_no_secret(at)
    kept = [at.session_state[k] for k in ("triage_paste", "_triage_kept", "_triage_pasted")]
    assert kept[2] and API_KEY not in repr(kept)
    assert not [r for r in audit_rows(console) if API_KEY in repr((r.detail, r.result, r.ticket))]


def test_a_user_id_and_a_console_link_find_the_user(seeded: Seeded) -> None:
    at = paste(f"user id {seeded.other_user_id}\nhttps://console.nb.internal/?user={seeded.user_id}")
    users = tables(at)[0]
    assert sorted(users["User"]) == sorted([user_url(seeded.user_id), user_url(seeded.other_user_id)])


def test_no_match_says_so(console: Console, seeded: Seeded) -> None:
    at = paste("hello, nobody@nowhere.example here, it does not work")
    assert "No user or key matches what the paste names" in messages(at)
    assert not at.dataframe
    [triaged] = audit_rows(console, Action.TICKET_TRIAGE)
    assert triaged.result == "0 users, 0 keys"


def test_injection_text_is_shown_inert(seeded: Seeded) -> None:
    hostile = (
        "[click](javascript:alert(1)) <script>alert(1)</script> **ann@example.com** "
        "![x](https://evil.example/x.png) :red[alarm] $x^2$\n"
        "\x07\x1b[2J EAPI:Invalid key <img src=x onerror=alert(1)> [here](javascript:void(0))\n"
    )
    at = paste(hostile)
    markdown = [m.value for m in at.markdown]
    assert not any("](javascript" in m or "<script" in m or "<img" in m or "](https://evil" in m
                   for m in markdown)
    codes = [c.value for c in at.code]
    assert any("<img src=x onerror=alert(1)>" in c and "\x1b" not in c and "\x07" not in c for c in codes)
    assert "Key or signature rejected" in rendered(at)


def test_a_huge_paste_is_read_head_and_tail(seeded: Seeded) -> None:
    text = "ann@example.com\n" + "INFO poll ok\n" * (MAX_SCAN_CHARS // 6) + "EAPI:Invalid nonce\n"
    at = paste(text)
    assert "were not" in rendered(at)
    assert "What the errors mean" in rendered(at)


def test_old_home_deep_links_still_open_the_key_on_the_lookup_page(seeded: Seeded) -> None:
    at = open_app(params={"user": str(seeded.user_id), "key": str(seeded.key_id)})
    assert not at.exception
    assert at.title[0].value == "Key lookup"
    assert "Latest diagnosis" in rendered(at)


def test_users_without_keys_are_audited_as_user_views(console: Console, seeded: Seeded) -> None:
    with console.session() as session:
        keyless = get_or_create_user(session, "nokeys@example.com").id
    at = paste(f"nokeys@example.com, also user {seeded.other_user_id} and user 424242")
    assert sorted(tables(at)[0]["User"]) == sorted([user_url(keyless), user_url(seeded.other_user_id)])
    def subjects(action: str) -> list[tuple[int | None, int | None]]:
        return [(r.subject_user_id, r.subject_key_id) for r in audit_rows(console, action)]

    assert subjects(Action.USER_VIEW) == [(keyless, None)]
    assert subjects(Action.KEY_VIEW) == [(seeded.other_user_id, seeded.other_key_id)]
    assert "user 424242" in rendered(at)  # listed under "Matched nothing"


def test_a_database_that_is_down_gives_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", "sqlite:////nonexistent-dir/nowhere/nbsupport.sqlite3")
    config.get_settings.cache_clear()
    at = paste(KRAKEN_TICKET)
    assert at.title[0].value == "Ticket triage"
    assert "The console database is unavailable" in at.error[0].value


def test_error_causes_name_the_configured_egress_address(monkeypatch: pytest.MonkeyPatch) -> None:
    # "Permission denied" may be the IP whitelist: that cause must name the address this deployment
    # leaves from, not the guide's default.
    monkeypatch.setenv("NBSUPPORT_EGRESS_IP", "198.51.100.23")
    config.get_settings.cache_clear()
    text = rendered(paste(KRAKEN_TICKET))
    assert "198.51.100.23" in text and "51.38.112.198" not in text
