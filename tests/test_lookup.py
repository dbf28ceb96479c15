from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbsupport import crypto
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.keys import add_key, fingerprint
from nbsupport.lookup import LookupQueryError, lookup, parse_query

ANN_KEY = "AnnKeyAAAAbbbbCCCCddddEEEEffff0001"
BOB_KEY = "BobKeyGGGGhhhhIIIIjjjjKKKKllll0002"


@pytest.fixture
def populated(console: Console, keyring: crypto.MasterKeyring) -> dict[str, int]:
    ids = {}
    with console.session() as session:
        for email, api_key, exchange in (
            ("ann@example.com", ANN_KEY, "kraken"),
            ("bob@example.com", BOB_KEY, "krakenfutures"),
        ):
            row = add_key(session, keyring, user_email=email, exchange=exchange,
                          credentials=Credentials(api_key, "c2VjcmV0" * 4))
            ids[email] = row.user_id
            ids[api_key] = row.id
    return ids


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ann@example.com", "email"),
        ("  ANN@Example.com ", "email"),
        ("42", "user_id"),
        ("user:42", "user_id"),
        ("#42", "user_id"),
        ("key:7", "key_id"),
        ("K#7", "key_id"),
        ("https://desk.example.com/tickets/991?user=4&key=7", "ticket"),
        ("AnnK…0001", "masked"),
        ("AnnK...0001", "masked"),
        ("a1b2c3d4", "fingerprint"),
        ("AnnK", "fragment"),
    ],
)
def test_query_forms_are_recognised(text: str, kind: str) -> None:
    assert parse_query(text).kind == kind


@pytest.mark.parametrize(
    "text",
    ["", "   ", "' OR 1=1 --", "x" * 10_000, "ann\x00@example.com", "abc", "https://desk.example.com/t/1?user=x"],
)
def test_malformed_searches_get_a_clear_message(text: str) -> None:
    with pytest.raises(LookupQueryError) as info:
        parse_query(text)
    assert len(str(info.value)) < 400


def test_lookup_by_email_finds_the_user_and_only_their_keys(console: Console, populated: dict) -> None:
    with console.session() as session:
        result = lookup(session, "Ann@Example.com")
    assert [u.email for u in result.users] == ["ann@example.com"]
    assert [k.id for k in result.keys] == [populated[ANN_KEY]]


def test_lookup_by_user_id_and_ticket_link(console: Console, populated: dict) -> None:
    bob = populated["bob@example.com"]
    with console.session() as session:
        by_id = lookup(session, f"user:{bob}")
        by_link = lookup(session, f"https://desk.example.com/t/5?user={bob}&key={populated[BOB_KEY]}")
        wrong_pair = lookup(session, f"https://desk.example.com/t/5?user={bob}&key={populated[ANN_KEY]}")
    assert [k.id for k in by_id.keys] == [populated[BOB_KEY]]
    assert [k.id for k in by_link.keys] == [populated[BOB_KEY]]
    assert wrong_pair.keys == [] and wrong_pair.users == []


@pytest.mark.parametrize("query", [ANN_KEY[:4], ANN_KEY[-4:], f"{ANN_KEY[:4]}…{ANN_KEY[-4:]}",
                                   fingerprint(ANN_KEY)[:8], fingerprint(ANN_KEY)[:8].upper()])
def test_lookup_by_key_fragment_finds_only_that_key(console: Console, populated: dict, query: str) -> None:
    with console.session() as session:
        result = lookup(session, query)
    assert [k.id for k in result.keys] == [populated[ANN_KEY]]
    assert [u.email for u in result.users] == ["ann@example.com"]


def test_four_digits_search_both_user_ids_and_key_ends(console: Console, populated: dict) -> None:
    with console.session() as session:
        result = lookup(session, "0002")
    assert [k.id for k in result.keys] == [populated[BOB_KEY]]


def test_lookup_result_never_contains_a_full_key(console: Console, populated: dict) -> None:
    with console.session() as session:
        dumped = repr(lookup(session, "ann@example.com").as_dict())
    assert ANN_KEY not in dumped and "c2VjcmV0" * 4 not in dumped


def test_unknown_user_is_an_empty_result_not_an_error(console: Console, populated: dict) -> None:
    with console.session() as session:
        assert lookup(session, "nobody@example.com").users == []
        assert lookup(session, "user:999999").users == []


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(text=st.text(max_size=600))
def test_any_search_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parsed = parse_query(text)
    except LookupQueryError as exc:
        assert "search" in str(exc)
    else:
        assert parsed.kind in {"email", "user_id", "key_id", "ticket", "masked", "fingerprint", "fragment"}
