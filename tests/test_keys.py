from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from nbsupport import crypto
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.db.models import EnvelopeKey, ExchangeKey
from nbsupport.keys import KeyInputError, add_key, key_view, open_credentials

API_KEY = "Kx9fQz2LmN4pR7sT1vW3yA5bC8dE0gH2jK4mP6rS9uV1xZ3"
SECRET = "kQ7w+Zr2/9pLmXbT4vYc1sE8dF0gHjK3nM5qR7tU9wZ2aB4cD6eF8gH0iJ2kL4mN6oP8qR0sT2uV4wX6yZ8aB+/cd=="


def store(console: Console, keyring: crypto.MasterKeyring, email: str = "ann@example.com",
          api_key: str = API_KEY, secret: str = SECRET, exchange: str = "kraken") -> int:
    with console.session() as session:
        row = add_key(session, keyring, user_email=email, exchange=exchange,
                      credentials=Credentials(api_key, secret), ip_whitelist=["51.38.112.198"])
        return row.id


def test_stored_key_opens_to_the_same_credentials(console: Console, keyring: crypto.MasterKeyring) -> None:
    key_id = store(console, keyring)
    with console.session() as session:
        creds = open_credentials(session, keyring, key_id)
    assert (creds.api_key, creds.secret) == (API_KEY, SECRET)


def test_credentials_repr_shows_only_the_masked_key() -> None:
    creds = Credentials(API_KEY, SECRET, password="hunter2")
    text = f"{creds!r} {creds}"
    assert API_KEY not in text and SECRET not in text and "hunter2" not in text
    assert "Kx9f…yZ3"[:4] in text


def test_masked_metadata_is_all_a_view_carries(console: Console, keyring: crypto.MasterKeyring) -> None:
    key_id = store(console, keyring)
    with console.session() as session:
        view = key_view(session.get(ExchangeKey, key_id), "v1")
    dumped = repr(view.as_dict())
    assert view.masked_key == f"{API_KEY[:4]}…{API_KEY[-4:]}"
    assert API_KEY not in dumped and SECRET not in dumped
    assert view.product == "spot" and view.ip_whitelist == ["51.38.112.198/32"]


def test_plaintext_secret_and_full_api_key_never_reach_the_database_file(
    console: Console, keyring: crypto.MasterKeyring, tmp_path: Path
) -> None:
    if not console.settings.is_sqlite:
        pytest.skip("file scan applies to the embedded SQLite database")
    store(console, keyring)
    console.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("nbsupport.sqlite3*"))
    assert raw, "database file should exist"
    for needle in (API_KEY, SECRET, SECRET[:20], API_KEY[4:-4]):
        assert needle.encode() not in raw


def test_credential_blob_swapped_between_users_fails_to_open(
    console: Console, keyring: crypto.MasterKeyring
) -> None:
    first = store(console, keyring, email="ann@example.com")
    second = store(console, keyring, email="bob@example.com", api_key="B" * 40)
    with console.session() as session:
        blob = session.get(ExchangeKey, first).credential_blob
        session.execute(update(ExchangeKey).where(ExchangeKey.id == second).values(credential_blob=blob))
    with console.session() as session, pytest.raises(crypto.DecryptionFailed):
        open_credentials(session, keyring, second)


def test_credential_blob_swapped_between_keys_of_one_user_fails_to_open(
    console: Console, keyring: crypto.MasterKeyring
) -> None:
    first = store(console, keyring)
    second = store(console, keyring, api_key="C" * 40)
    with console.session() as session:
        blob = session.get(ExchangeKey, first).credential_blob
        session.execute(update(ExchangeKey).where(ExchangeKey.id == second).values(credential_blob=blob))
    with console.session() as session, pytest.raises(crypto.DecryptionFailed):
        open_credentials(session, keyring, second)


def test_wrapped_deks_swapped_between_users_fail_to_open(
    console: Console, keyring: crypto.MasterKeyring
) -> None:
    store(console, keyring, email="ann@example.com")
    bob_key = store(console, keyring, email="bob@example.com", api_key="D" * 40)
    with console.session() as session:
        envelopes = session.scalars(select(EnvelopeKey).order_by(EnvelopeKey.user_id)).all()
        ann_wrapped = envelopes[0].wrapped_dek
        envelopes[1].wrapped_dek = ann_wrapped
    with console.session() as session, pytest.raises(crypto.DecryptionFailed):
        open_credentials(session, keyring, bob_key)


def test_opening_without_the_master_key_that_wrapped_the_dek_is_refused(
    console: Console, keyring: crypto.MasterKeyring
) -> None:
    key_id = store(console, keyring)
    other = crypto.MasterKeyring.parse(crypto.generate_master_key("v7"))
    with console.session() as session, pytest.raises(crypto.UnknownMasterKeyVersion):
        open_credentials(session, other, key_id)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exchange": "notanexchange"}, "unknown exchange id"),
        ({"user_email": "not-an-email"}, "not a valid email"),
        ({"ip_whitelist": ["999.1.1.1"]}, "not an IP address"),
        ({"credentials": Credentials("", SECRET)}, "must not be empty"),
        ({"required_scopes": ["fly"]}, "unknown scope"),
    ],
)
def test_bad_key_input_is_refused_without_echoing_the_secret(
    console: Console, keyring: crypto.MasterKeyring, kwargs: dict, message: str
) -> None:
    args = {"user_email": "ann@example.com", "exchange": "kraken",
            "credentials": Credentials(API_KEY, SECRET), **kwargs}
    with console.session() as session, pytest.raises(KeyInputError, match=message) as info:
        add_key(session, keyring, **args)
    assert SECRET not in str(info.value)


def test_rotation_and_expiry_badges_are_derived_from_dates(
    console: Console, keyring: crypto.MasterKeyring
) -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    with console.session() as session:
        row = add_key(session, keyring, user_email="ann@example.com", exchange="krakenfutures",
                      credentials=Credentials(API_KEY, SECRET), expires_at=now + timedelta(days=10),
                      now=now - timedelta(days=120))
        view = key_view(row, "v1", now=now)
    assert view.product == "futures"
    assert view.rotation_age_days == 120 and view.rotation_overdue
    assert view.days_to_expiry == 10
