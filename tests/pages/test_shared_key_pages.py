"""A key whose API key is stored for another user too: the lookup table and the key card say so, with a
link to the other user's lookup."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.keys import add_key
from nbsupport.ui.links import key_url, user_url
from nbsupport.ui.lookup_view import QUERY_KEY
from tests.pages.support import assert_no_secret, messages, open_app, rendered

pytestmark = pytest.mark.usefixtures("app_env")
API_KEY = "Tw1nK3yQz2LmN4pR7sT1vW3yA5bC8dE0gH2jK4mP6rS9uV1xZ3aabb"
SECRET = "kQ7w+Zr2/9pLmXbT4vYc1sE8dF0gHjK3nM5qR7tU9wZ2aB4cD6eF8gH0iJ2kL4mN6oP8qR0sT2uV4wX6yZ8aB+/cd=="


def store_twice(console: Console, keyring: MasterKeyring) -> tuple[int, int, int]:
    """The same API key for Ann and for Bob: (Ann's key, Bob's key, Bob's user id)."""
    with console.session() as session:
        ann = add_key(session, keyring, user_email="ann@example.com", exchange="kraken",
                      credentials=Credentials(API_KEY, SECRET))
        bob = add_key(session, keyring, user_email="bob@example.com", exchange="kraken",
                      credentials=Credentials(API_KEY, SECRET))
        return ann.id, bob.id, bob.user_id


def test_key_card_says_the_key_is_also_stored_for_another_user(
    console: Console, keyring: MasterKeyring
) -> None:
    ann_key, bob_key, bob = store_twice(console, keyring)
    at = open_app("pages/key_detail.py", {"key": str(ann_key)})
    assert not at.exception
    line = f"Also stored for [user {bob}]({user_url(bob)}) ([key {bob_key}]({key_url(bob_key)}))"
    assert line in messages(at)
    assert_no_secret(at)
    assert API_KEY not in rendered(at)


def test_lookup_table_names_the_other_copy(console: Console, keyring: MasterKeyring) -> None:
    _ann_key, bob_key, bob = store_twice(console, keyring)
    at = open_app("pages/lookup.py")
    at.text_input(key=QUERY_KEY).set_value("ann@example.com").run()
    assert not at.exception
    frames = [d.value for d in at.dataframe if "also stored for" in d.value.columns]
    assert frames, rendered(at)
    assert list(frames[0]["also stored for"]) == [f"user {bob} (key {bob_key})"]


def test_the_fleet_posture_counts_both_copies_of_a_shared_key(
    console: Console, keyring: MasterKeyring, sign_in: Callable[[str], str]
) -> None:
    store_twice(console, keyring)
    sign_in("analyst")
    at = open_app("pages/failure_stats.py")
    assert not at.exception
    assert next(m.value for m in at.metric if m.label == "Shared") == "2"
