"""Key lookup page: search forms, ranked and linked results, page state across pages and reloads, deep
links, bad input, audit rows, roles."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.lookup import EXAMPLE, MAX_QUERY_LENGTH
from nbsupport.ui.links import key_url, user_url
from tests.pages.fake_engine import FakeEngine
from tests.pages.support import (
    API_KEY,
    EMAILS,
    Seeded,
    assert_no_secret,
    audit_rows,
    finish_retests,
    messages,
    open_app,
    rendered,
)

pytestmark = pytest.mark.usefixtures("app_env")


def search(text: str) -> AppTest:
    at = open_app("pages/lookup.py")
    at.text_input(key="lookup_query").set_value(text).run()
    assert not at.exception
    return at


def link_id(url: str) -> int:
    """The id of an in-app link (`/key_detail?key=45`, `/lookup?user=7`) as a table cell holds it."""
    match = re.fullmatch(r"/\w+\?(?:key|user)=(\d+)", url)
    assert match, url
    return int(match.group(1))


def keys_shown(at: AppTest) -> list[int]:
    tables = [d.value for d in at.dataframe if "key id" in d.value.columns]
    return sorted(link_id(k) for t in tables for k in t["key id"])


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_search_by_email_shows_the_user_card_and_masked_keys(
    sign_in: Callable[[str], str], seeded: Seeded, role: str
) -> None:
    sign_in(role)
    at = search("ann@example.com")
    assert keys_shown(at) == [seeded.key_id, seeded.futures_key_id]
    assert [m.value for m in at.metric if m.label == "User id"] == [str(seeded.user_id)]
    table = at.dataframe[0].value
    spot = table[table["key id"] == key_url(seeded.key_id)].iloc[0]
    assert spot["user id"] == user_url(seeded.user_id)
    assert spot["key"] == f"{API_KEY[:4]}…{API_KEY[-4:]}"
    assert spot["withdraw"] == "🔴 ENABLED"
    # What needs attention carries a red mark before its words; what is fine carries none.
    assert spot["rotated"].startswith("🔴 ") and "over 90 d" in spot["rotated"]
    assert "expires in" in spot["expiry"] and "🔴" not in spot["expiry"]
    assert "query closed orders ✗" in spot["scopes last seen"]
    last = (spot["last test"], spot["diagnosis"], spot["envelope key"])
    assert last == ("🔴 failed", "missing_permission", "v1")
    assert_no_secret(at)


@pytest.mark.parametrize(
    "query",
    [f"{API_KEY[:4]}…{API_KEY[-4:]}", f"{API_KEY[:4]}...{API_KEY[-4:]}", "key:1", API_KEY[-4:]],
    ids=["masked", "masked-dots", "key-id", "suffix"],
)
def test_any_key_reference_finds_the_key(seeded: Seeded, query: str) -> None:
    assert seeded.key_id in keys_shown(search(query))


def test_fingerprint_fragment_finds_the_key(seeded: Seeded, console: Console) -> None:
    import hashlib

    fingerprint = hashlib.sha256(API_KEY.encode()).hexdigest()
    assert keys_shown(search(fingerprint[:10])) == [seeded.key_id]


def test_pasted_ticket_link_opens_the_user(seeded: Seeded) -> None:
    at = search(f"https://helpdesk.example.com/t/1?user={seeded.other_user_id}")
    assert keys_shown(at) == [seeded.other_key_id]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("' OR 1=1 --", f"unrecognised search: try a name, an email, an id or a key, {EXAMPLE}"),
        ("x" * 10_000, f"the limit is {MAX_QUERY_LENGTH}"),
        ("ann@example.com\x00\x1b[2J", "control characters"),
        ("<script>alert(1)</script>", "unrecognised search"),
        ("a", "too short"),
        ("https://helpdesk.example.com/t/1?user=1%20OR%201=1", "no numeric ?user="),
    ],
    ids=["sql", "10kB", "control-chars", "html", "one-letter", "bad-link"],
)
def test_bad_input_gets_the_lookup_message_not_a_traceback(
    seeded: Seeded, console: Console, query: str, expected: str
) -> None:
    at = search(query)
    assert [e.value for e in at.error] and expected in at.error[0].value
    assert keys_shown(at) == []
    assert audit_rows(console) == []


def test_a_search_that_matches_nothing_says_so(seeded: Seeded) -> None:
    at = search("nobody@example.com")
    assert "No user or key matches" in messages(at)
    assert keys_shown(at) == []


def test_empty_database_shows_the_search_hint_only() -> None:
    at = open_app("pages/lookup.py")
    assert not at.exception and not at.error
    assert "Paste what the customer gave you" in rendered(at)


def test_user_without_keys_shows_card_and_says_so(seeded: Seeded, console: Console, keyring: object) -> None:
    from nbsupport.keys import get_or_create_user

    with console.session() as s:
        user_id = get_or_create_user(s, "nokeys@example.com").id
    at = search(f"user:{user_id}")
    assert "This user has no exchange keys" in messages(at)


def test_a_lookup_records_each_key_shown_once_not_on_every_rerun(seeded: Seeded, console: Console) -> None:
    at = search("ann@example.com")
    at.run()
    at.run()
    rows = audit_rows(console, Action.KEY_VIEW)
    assert [(r.actor, r.role, r.subject_user_id, r.subject_key_id, r.result) for r in rows] == [
        (EMAILS["agent"], "agent", seeded.user_id, seeded.key_id, "lookup"),
        (EMAILS["agent"], "agent", seeded.user_id, seeded.futures_key_id, "lookup"),
    ]
    assert rows[0].detail == {"query": "email"}
    at.text_input(key="lookup_query").set_value("bob@example.com").run()
    # Bob's single key opens by itself: one row for the listing, one for the detail.
    assert [(r.subject_key_id, r.result) for r in audit_rows(console, Action.KEY_VIEW)][2:] == [
        (seeded.other_key_id, "lookup"), (seeded.other_key_id, "detail")]


def test_a_user_without_keys_is_recorded_as_a_user_view(seeded: Seeded, console: Console) -> None:
    from nbsupport.keys import get_or_create_user

    with console.session() as s:
        user_id = get_or_create_user(s, "nokeys@example.com").id
    search("nokeys@example.com")
    rows = audit_rows(console, Action.USER_VIEW)
    assert [(r.subject_user_id, r.subject_key_id) for r in rows] == [(user_id, None)]


def test_deep_link_opens_the_key_and_records_the_view(seeded: Seeded, console: Console) -> None:
    at = open_app(params={"user": str(seeded.user_id), "key": str(seeded.key_id), "ticket": "ZD-4242"})
    assert not at.exception
    text = rendered(at)
    assert "withdraw ENABLED" in text and "main bot" in text
    assert at.selectbox[0].value == seeded.key_id
    views = [v for v in audit_rows(console, Action.KEY_VIEW) if v.result == "detail"]
    assert [(v.subject_user_id, v.subject_key_id, v.ticket) for v in views] == [
        (seeded.user_id, seeded.key_id, "ZD-4242")]
    assert_no_secret(at)


def test_choosing_a_key_from_the_results_opens_it(seeded: Seeded, console: Console) -> None:
    at = search("ann@example.com")
    assert at.selectbox[0].value is None
    at.selectbox[0].set_value(seeded.futures_key_id).run()
    assert not at.exception
    details = [v.subject_key_id for v in audit_rows(console, Action.KEY_VIEW) if v.result == "detail"]
    assert details == [seeded.futures_key_id]


def test_deep_link_to_someone_elses_key_shows_nothing(seeded: Seeded, console: Console) -> None:
    at = open_app(params={"user": str(seeded.other_user_id), "key": str(seeded.key_id)})
    assert "No user or key matches" in messages(at)
    assert keys_shown(at) == [] and audit_rows(console) == []


@pytest.mark.parametrize(
    "params",
    [{"key": "abc"}, {"key": "-1"}, {"key": "0"}, {"user": "1 OR 1=1"}, {"key": "9" * 10_000},
     {"key": "1.5"}, {"user": "' OR 1=1 --"}],
)
def test_malformed_deep_links_are_refused_plainly(
    seeded: Seeded, console: Console, params: dict[str, str]
) -> None:
    at = open_app(params=params)
    assert not at.exception
    assert "This link is not valid" in at.error[0].value
    assert audit_rows(console) == []


@pytest.mark.parametrize("params", [{"key": "999999"}, {"user": "999999"}, {"user": "999999", "key": "1"}])
def test_deep_links_to_unknown_ids_find_nothing(seeded: Seeded, params: dict[str, str]) -> None:
    at = open_app(params=params)
    assert not at.exception and "No user or key matches" in messages(at)


def test_analysts_cannot_open_the_lookup_page(
    sign_in: Callable[[str], str], seeded: Seeded, console: Console
) -> None:
    sign_in("analyst")
    at = open_app(params={"user": str(seeded.user_id), "key": str(seeded.key_id)})
    assert not at.exception
    assert at.title[0].value == "Failure stats"  # the analyst's home; the key stays closed
    with pytest.raises(ValueError, match=r"not a registered page|Could not find"):
        at.switch_page("pages/lookup.py")
    direct = AppTest.from_file("../../pages/lookup.py", default_timeout=30).run()
    assert "cannot open this page" in direct.error[0].value
    assert "main bot" not in rendered(at) + rendered(direct)
    assert audit_rows(console) == []


def test_retest_from_a_deep_link_uses_the_ticket(
    seeded: Seeded, console: Console, engine: FakeEngine
) -> None:
    at = open_app(params={"key": str(seeded.key_id), "ticket": "ZD-7"})
    assert at.text_input(key="ticket").value == "ZD-7"
    at.button[0].click()  # the panel's Re-test button (the sidebar has no button in demo mode)
    at.run()
    finish_retests(console, at)
    assert not at.exception
    assert [c["ticket"] for c in engine.calls] == ["ZD-7"]


# --- search as agents expect: every form of a name, email or key they type ----------------------------------


def name_user(console: Console, user_id: int, name: str) -> None:
    from nbsupport.db.models import User

    with console.session() as s:
        s.get(User, user_id).display_name = name


def test_a_surname_lists_ranked_users_each_linked_with_why(seeded: Seeded, console: Console) -> None:
    name_user(console, seeded.user_id, "Mia Andersen")
    name_user(console, seeded.other_user_id, "Bo Andersenova")
    at = search("andersen")
    users = next(d.value for d in at.dataframe if "matched" in d.value.columns and "user" in d.value.columns)
    assert list(users["user"]) == [user_url(seeded.user_id), user_url(seeded.other_user_id)]
    assert list(users["matched"]) == ["surname andersen", "surname starts with andersen…"]
    assert keys_shown(at) == sorted([seeded.key_id, seeded.futures_key_id, seeded.other_key_id])


@pytest.mark.parametrize("query", ["Mia Andersen", "ann", "ann@", "example.com", API_KEY[:4].lower(),
                                   API_KEY])
def test_names_email_parts_any_case_fragments_and_the_whole_key_find_ann(
    seeded: Seeded, console: Console, query: str
) -> None:
    name_user(console, seeded.user_id, "Mia Andersen")
    at = search(query)
    assert seeded.key_id in keys_shown(at)
    assert_no_secret(at)


def test_the_user_card_links_to_the_user_and_says_why(seeded: Seeded) -> None:
    at = search("ann@example.com")
    assert any(f"[user {seeded.user_id}]({user_url(seeded.user_id)})" in m.value for m in at.markdown)
    assert "Matched: email ann\\@example\\.com" in [c.value for c in at.caption]


def test_the_search_and_the_open_key_are_in_the_address(seeded: Seeded) -> None:
    at = search("ann@example.com")
    at.selectbox[0].set_value(seeded.futures_key_id).run()
    params = {k: at.query_params[k] for k in ("q", "user", "key")}
    assert params == {"q": ["ann@example.com"], "user": [str(seeded.user_id)],
                      "key": [str(seeded.futures_key_id)]} or params == {
        "q": "ann@example.com", "user": str(seeded.user_id), "key": str(seeded.futures_key_id)}


def test_a_reload_of_that_address_restores_the_search_and_the_key(seeded: Seeded, console: Console) -> None:
    at = open_app(params={"q": "ann@example.com", "user": str(seeded.user_id),
                          "key": str(seeded.futures_key_id)})
    assert at.text_input(key="lookup_query").value == "ann@example.com"
    assert at.selectbox[0].value == seeded.futures_key_id
    assert keys_shown(at) == [seeded.key_id, seeded.futures_key_id]


def test_switching_pages_and_back_keeps_the_search_and_the_open_key(seeded: Seeded) -> None:
    at = search("ann@example.com")
    at.selectbox[0].set_value(seeded.futures_key_id).run()
    at.switch_page("pages/error_guide.py").run()
    assert at.title[0].value == "Error guide"
    at.switch_page("pages/lookup.py").run()
    assert not at.exception
    assert at.text_input(key="lookup_query").value == "ann@example.com"
    assert at.selectbox[0].value == seeded.futures_key_id


def test_a_new_search_forgets_the_key_opened_from_the_last_one(seeded: Seeded) -> None:
    at = search("ann@example.com")
    at.selectbox[0].set_value(seeded.futures_key_id).run()
    at.text_input(key="lookup_query").set_value("").run()
    assert "Paste what the customer gave you" in rendered(at) and keys_shown(at) == []
    assert "key" not in at.query_params and "q" not in at.query_params



def test_copy_link_for_the_ticket_is_the_keys_absolute_address() -> None:
    from nbsupport.ui.copy_link import absolute_url

    # The browser's address holds the page it is on; only its origin is kept, under the base path.
    on_key_page = "http://127.0.0.1:8501/key_detail?key=7"
    assert absolute_url(key_url(45), on_key_page) == "http://127.0.0.1:8501/key_detail?key=45"
    behind_proxy = "https://console.example/nb/key_detail"
    assert absolute_url(key_url(45), behind_proxy, "/nb/") == "https://console.example/nb/key_detail?key=45"
    assert absolute_url(key_url(45), None) == "/key_detail?key=45"

    def page() -> None:
        from nbsupport.ui.copy_link import copy_key_link

        copy_key_link(45)

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert at.code[0].value.endswith("/key_detail?key=45")
    assert "Copy link for the ticket" in at.caption[0].value
