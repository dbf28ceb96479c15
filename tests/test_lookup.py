"""Search as agents expect: every query form on SQLite and PostgreSQL, ranking with reasons, the one-line
error, migration 0004's backfill, and plans that use the search indexes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from nbsupport import crypto, searchtext
from nbsupport.config import Settings
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.db.migrate import upgrade
from nbsupport.db.models import User
from nbsupport.keys import add_key, fingerprint
from nbsupport.lookup import EXAMPLE, LookupQueryError, Rank, lookup, parse_query
from tests.conftest import ON_POSTGRES

ANN_KEY = "AnnKeyAAAAbbbbCCCCddddEEEEffff0001"
BOB_KEY = "BobKeyGGGGhhhhIIIIjjjjKKKKllll0002"
MIA_KEY = "Zq9XmiaKeyMMMMnnnnOOOOppppQQQQw7Rt"
# (email, display name, API key, exchange)
PEOPLE = (
    ("ann@example.com", "", ANN_KEY, "kraken"),
    ("bob@example.com", "", BOB_KEY, "krakenfutures"),
    ("mia_a2@gmail.example", "Mia Andersen", MIA_KEY, "kraken"),
    ("mia.andersen7@proton.example", "Mia Andersen", None, None),
    ("mandersen9@gmail.example", "Magnus Andersen", None, None),
    ("andersen.mia4@gmail.example", "Mia Andersenova", None, None),
    ("miabella@web.example", "Mia", None, None),
    ("jose@web.example", "José Müller-Núñez", None, None),
)


@pytest.fixture
def populated(console: Console, keyring: crypto.MasterKeyring) -> dict[str, int]:
    """User ids by email and key ids by API key."""
    ids = {}
    with console.session() as session:
        for email, name, api_key, exchange in PEOPLE:
            if api_key:
                row = add_key(session, keyring, user_email=email, exchange=exchange,
                              credentials=Credentials(api_key, "c2VjcmV0" * 4))
                ids[api_key], user_id = row.id, row.user_id
            else:
                user = User(email=email, created_at=datetime.now(UTC))
                session.add(user)
                session.flush()
                user_id = user.id
            if name:
                session.get(User, user_id).display_name = name
            ids[email] = user_id
    return ids


def emails(result: object) -> list[str]:
    return [u.email for u in result.users]  # type: ignore[attr-defined]


def found(console: Console, query: str) -> object:
    with console.session() as session:
        return lookup(session, query)


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
        ("Mia Andersen", "name"),
        ("Andersen, Mia", "name"),
        ("mia_a2", "text"),
        (ANN_KEY, "api_key"),
    ],
)
def test_query_forms_are_recognised(text: str, kind: str) -> None:
    assert parse_query(text).kind == kind


@pytest.mark.parametrize(
    ("text", "start"),
    [("", "empty search"), ("   ", "empty search"), ("' OR 1=1 --", "unrecognised search"),
     ("x" * 10_000, "search is 10000 characters long"), ("ann\x00@example.com", "search contains control"),
     ("<script>alert(1)</script>", "unrecognised search"), ("a", "too short"), ("@", "too short"),
     ("https://desk.example.com/t/1?user=x", "the link has no numeric")],
)
def test_a_search_that_cannot_match_gets_one_short_line_with_an_example(text: str, start: str) -> None:
    with pytest.raises(LookupQueryError) as info:
        parse_query(text)
    message = str(info.value)
    assert message.startswith(start) and "\n" not in message
    assert len(message.split()) <= 25  # the old message was a 40-word sentence
    if not start.startswith(("search is", "the link")):
        assert EXAMPLE in message


def test_full_name_finds_both_mia_andersens_then_longer_names(console: Console, populated: dict) -> None:
    result = found(console, "Mia Andersen")
    assert emails(result)[:2] == ["mia_a2@gmail.example", "mia.andersen7@proton.example"]
    assert [(u.rank, u.why) for u in result.users[:2]] == [(Rank.NAME, "name mia andersen")] * 2
    # "Mia Andersenova" starts with the name: a prefix, ranked after the exact ones.
    assert emails(result)[2:] == ["andersen.mia4@gmail.example"]
    assert result.users[2].rank == Rank.PREFIX


def test_surname_ranks_exact_surnames_before_longer_ones(console: Console, populated: dict) -> None:
    result = found(console, "Andersen")
    exact = {"mia_a2@gmail.example", "mia.andersen7@proton.example", "mandersen9@gmail.example"}
    assert set(emails(result)[:3]) == exact
    assert {u.why for u in result.users[:3]} == {"surname andersen"}
    assert "andersen.mia4@gmail.example" in emails(result)[3:]  # Andersenova, and andersen.mia4@…


def test_first_name_and_surname_first_forms(console: Console, populated: dict) -> None:
    mia = found(console, "mia")
    assert emails(mia)[0] == "miabella@web.example"  # the whole name "Mia"
    assert {u.why for u in mia.users[1:4]} == {"first name mia"}
    assert emails(found(console, "Andersen, Mia"))[:2] == emails(found(console, "Mia Andersen"))[:2]


def test_names_match_without_accents_or_case(console: Console, populated: dict) -> None:
    for query in ("jose muller-nunez", "MÜLLER", "José"):
        assert emails(found(console, query)) == ["jose@web.example"], query


@pytest.mark.parametrize(
    ("query", "first", "why"),
    [("mia_a2", "mia_a2@gmail.example", "email before the @ is mia_a2"),
     ("mia_a", "mia_a2@gmail.example", "email starts with mia_a…"),
     ("MIA_A2@", "mia_a2@gmail.example", "email before the @ is mia_a2"),
     ("mia_a2@gmail", "mia_a2@gmail.example", "email starts with mia_a2@gmail"),
     ("Mia_A2@Gmail.Example", "mia_a2@gmail.example", "email mia_a2@gmail.example")],
)
def test_part_of_an_email_finds_the_user(console: Console, populated: dict, query: str, first: str,
                                          why: str) -> None:
    result = found(console, query)
    assert emails(result)[0] == first and result.users[0].why == why


@pytest.mark.parametrize("query", ["gmail.example", "@gmail.example", "gmail.ex"])
def test_the_domain_finds_everyone_on_it(console: Console, populated: dict, query: str) -> None:
    result = found(console, query)
    assert set(emails(result)) == {"mia_a2@gmail.example", "mandersen9@gmail.example",
                                   "andersen.mia4@gmail.example"}
    assert all(u.why.startswith("email domain") for u in result.users)


@pytest.mark.parametrize("query", [MIA_KEY[:4], MIA_KEY[:4].lower(), MIA_KEY[-4:].upper(), MIA_KEY[-4:],
                                   f"{MIA_KEY[:4].lower()}…{MIA_KEY[-4:].lower()}"])
def test_key_fragments_match_in_any_case(console: Console, populated: dict, query: str) -> None:
    result = found(console, query)
    assert [k.id for k in result.keys] == [populated[MIA_KEY]]
    assert emails(result) == ["mia_a2@gmail.example"]
    assert result.key_why[populated[MIA_KEY]].startswith(f"key #{populated[MIA_KEY]}")


def test_the_whole_pasted_api_key_matches_through_its_fingerprint(console: Console, populated: dict) -> None:
    result = found(console, f"  {MIA_KEY} ")
    assert [k.id for k in result.keys] == [populated[MIA_KEY]]
    assert result.users[0].rank == Rank.EXACT and "pasted API key" in result.users[0].why
    assert MIA_KEY not in repr(result.as_dict()) and MIA_KEY not in repr(parse_query(MIA_KEY))
    assert found(console, MIA_KEY.lower()).users == []  # a key is case-sensitive as a whole


def test_lookup_by_email_finds_the_user_and_only_their_keys(console: Console, populated: dict) -> None:
    result = found(console, "Ann@Example.com")
    assert emails(result) == ["ann@example.com"]
    assert [k.id for k in result.keys] == [populated[ANN_KEY]]
    assert result.users[0].why == "email ann@example.com" and result.users[0].rank == Rank.EXACT


def test_lookup_by_user_id_and_ticket_link(console: Console, populated: dict) -> None:
    bob = populated["bob@example.com"]
    by_id = found(console, f"user:{bob}")
    by_link = found(console, f"https://desk.example.com/t/5?user={bob}&key={populated[BOB_KEY]}")
    wrong_pair = found(console, f"https://desk.example.com/t/5?user={bob}&key={populated[ANN_KEY]}")
    assert [k.id for k in by_id.keys] == [populated[BOB_KEY]]
    assert [k.id for k in by_link.keys] == [populated[BOB_KEY]]
    assert wrong_pair.keys == [] and wrong_pair.users == []
    assert [k.id for k in found(console, f"key:{populated[ANN_KEY]}").keys] == [populated[ANN_KEY]]


@pytest.mark.parametrize("query", [ANN_KEY[:4], ANN_KEY[-4:], f"{ANN_KEY[:4]}…{ANN_KEY[-4:]}",
                                   fingerprint(ANN_KEY)[:8], fingerprint(ANN_KEY)[:8].upper()])
def test_lookup_by_key_fragment_finds_only_that_key(console: Console, populated: dict, query: str) -> None:
    result = found(console, query)
    assert [k.id for k in result.keys] == [populated[ANN_KEY]]
    assert emails(result) == ["ann@example.com"]


def test_four_digits_search_both_user_ids_and_key_ends(console: Console, populated: dict) -> None:
    result = found(console, "0002")
    assert [k.id for k in result.keys] == [populated[BOB_KEY]]


def test_exact_ids_rank_before_names_and_fragments(console: Console, populated: dict) -> None:
    # "mia" + 1 is four characters: a key fragment and a name start at once.
    result = found(console, "Zq9X")
    assert result.users[0].rank == Rank.PREFIX
    ranks = [u.rank for u in found(console, "Mia").users]
    assert ranks == sorted(ranks)


def test_many_matches_are_cut_at_the_limit_and_say_so(console: Console, populated: dict) -> None:
    with console.session() as session:
        result = lookup(session, "gmail.example", limit=2)
    assert len(result.users) == 2 and result.truncated


def test_lookup_result_never_contains_a_full_key(console: Console, populated: dict) -> None:
    dumped = repr(found(console, "ann@example.com").as_dict())  # type: ignore[attr-defined]
    assert ANN_KEY not in dumped and "c2VjcmV0" * 4 not in dumped


def test_unknown_user_is_an_empty_result_not_an_error(console: Console, populated: dict) -> None:
    for query in ("nobody@example.com", "user:999999", "Zebedee Quux", "zz_nobody"):
        assert found(console, query).users == []  # type: ignore[attr-defined]


def test_renaming_a_user_keeps_the_search_columns_current(console: Console, populated: dict) -> None:
    with console.session() as session:
        session.get(User, populated["ann@example.com"]).display_name = "Ann Ōkawa"
    assert emails(found(console, "okawa")) == ["ann@example.com"]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(text=st.text(max_size=600))
def test_any_search_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parsed = parse_query(text)
    except LookupQueryError as exc:
        assert "\n" not in str(exc)
    else:
        assert parsed.kind in {"email", "user_id", "key_id", "ticket", "masked", "fingerprint", "fragment",
                               "api_key", "name", "text"}


# --- migration 0004 and the plans ---------------------------------------------------------------------

NAMES = [("a.b@x.example", "Mia Andersen"), ("ZOË@Example.COM", "  Zoë   van  der Berg "),
         ("c@d.example", "")]


def test_migration_0004_backfills_existing_users_as_new_rows_are_written(settings: Settings) -> None:
    handle = Console(settings)
    try:
        upgrade(handle.engine, "0002")
        with handle.engine.begin() as conn:
            for n, (email, name) in enumerate(NAMES, start=1):
                conn.execute(text("INSERT INTO users (id, email, display_name, strategy, created_at) "
                                  "VALUES (:id, :email, :name, '', :at)"),
                             {"id": n, "email": email, "name": name, "at": datetime(2026, 1, 1)})
        upgrade(handle.engine)
        with handle.engine.connect() as conn:
            rows = conn.execute(text("SELECT email, display_name, name_search, surname_search, email_local, "
                                     "email_domain FROM users ORDER BY id")).all()
        assert [tuple(r[2:]) for r in rows] == [
            tuple(searchtext.search_columns(r[0], r[1]).values()) for r in rows]
        assert rows[1][2:] == ("zoe van der berg", "van der berg", "zoe", "example.com")
        with handle.session() as session:
            assert [u.id for u in lookup(session, "van der").users] == [2]
    finally:
        handle.close()


@pytest.mark.parametrize(
    ("sql", "index"),
    [("SELECT id, name_search FROM users WHERE name_search >= 'mia' AND name_search < 'mib' "
      "ORDER BY name_search, id LIMIT 51", "ix_users_name_search"),
     ("SELECT id, surname_search FROM users WHERE surname_search >= 'and' AND surname_search < 'ane' "
      "ORDER BY surname_search, id LIMIT 51", "ix_users_surname_search"),
     ("SELECT id, email_local FROM users WHERE email_local >= 'mia_a2' AND email_local < 'mia_a3' "
      "ORDER BY email_local, id LIMIT 51", "ix_users_email_local"),
     ("SELECT id, email_domain FROM users WHERE email_domain >= 'gmail' AND email_domain < 'gmaim' "
      "ORDER BY email_domain, id LIMIT 51", "ix_users_email_domain"),
     ("SELECT id FROM exchange_keys WHERE lower(key_prefix) = 'abcd' OR lower(key_suffix) = 'abcd'",
      "ix_exchange_keys_key_prefix_lower")],
    ids=["name", "surname", "email-local", "domain", "fragment"],
)
def test_each_reading_is_an_index_range_not_a_table_scan(console: Console, populated: dict, sql: str,
                                                         index: str) -> None:
    with console.engine.begin() as conn:
        if ON_POSTGRES:
            conn.execute(text("ANALYZE users; ANALYZE exchange_keys"))
    with console.engine.connect() as conn:
        if ON_POSTGRES:
            conn.execute(text("SET enable_seqscan = off"))  # a few rows: prove the index is usable
            explained = " ".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
        else:
            explained = " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert index in explained, explained
    assert "SCAN users" not in explained.replace(f"USING INDEX {index}", "")
    assert "Sort" not in explained and "TEMP B-TREE" not in explained, explained
