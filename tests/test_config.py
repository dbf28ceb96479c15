from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from nbsupport.config import load_settings
from nbsupport.crypto import MasterKeyMissing, generate_master_key
from nbsupport.keyring import load_keyring


@pytest.fixture(autouse=True)
def _no_database_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite's own NBSUPPORT_DATABASE_URL (the PostgreSQL run) must not stand in for the defaults here.
    monkeypatch.delenv("NBSUPPORT_DATABASE_URL", raising=False)


def test_defaults_point_at_an_embedded_sqlite_file(tmp_path: Path) -> None:
    settings = load_settings(secrets_file=tmp_path / "none.toml")
    assert settings.is_sqlite
    assert settings.effective_database_url.endswith("nbsupport.sqlite3")


def test_secrets_toml_is_read_in_both_forms_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        'NBSUPPORT_RETEST_COOLDOWN_S = 5\n'
        '[nbsupport]\ndatabase_url = "sqlite:////tmp/from-file.sqlite3"\n'
        'exchange_urls = {kraken = "http://127.0.0.1:9000"}\n'
    )
    settings = load_settings(secrets_file=secrets)
    assert settings.database_url == "sqlite:////tmp/from-file.sqlite3"
    assert settings.retest_cooldown_s == 5
    assert settings.exchange_urls == {"kraken": "http://127.0.0.1:9000"}
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
    monkeypatch.setenv("NBSUPPORT_EXCHANGE_URLS", '{"krakenfutures": "http://127.0.0.1:9001"}')
    settings = load_settings(secrets_file=secrets)
    assert settings.database_url.startswith("postgresql")
    assert not settings.is_sqlite
    assert settings.exchange_urls == {"krakenfutures": "http://127.0.0.1:9001"}


def test_bad_exchange_urls_setting_is_a_clear_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBSUPPORT_EXCHANGE_URLS", "[1, 2]")
    with pytest.raises(ValidationError, match="exchange_urls"):
        load_settings(secrets_file=Path("/nonexistent"))


def test_request_timeout_is_bounded_at_fifteen_seconds() -> None:
    with pytest.raises(ValidationError):
        load_settings(secrets_file=Path("/nonexistent"), request_timeout_ms=60_000)


def test_missing_master_key_outside_demo_mode_says_what_to_set(tmp_path: Path) -> None:
    settings = load_settings(secrets_file=tmp_path / "none.toml", home=tmp_path)
    with pytest.raises(MasterKeyMissing, match="NBSUPPORT_MASTER_KEYS"):
        load_keyring(settings)


def test_demo_mode_generates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = load_settings(secrets_file=tmp_path / "none.toml", home=tmp_path / "home", demo=True)
    first = load_keyring(settings)
    second = load_keyring(settings)
    assert first.key("v1") == second.key("v1")
    mode = stat.S_IMODE(os.stat(settings.demo_master_key_file).st_mode)
    assert mode == 0o600


def test_demo_mode_refuses_to_generate_a_key_for_a_server_database(tmp_path: Path) -> None:
    settings = load_settings(secrets_file=tmp_path / "none.toml", home=tmp_path, demo=True,
                             database_url="postgresql+psycopg://root@127.0.0.1:5432/test")
    with pytest.raises(MasterKeyMissing, match="only for the embedded SQLite"):
        load_keyring(settings)
    assert not settings.demo_master_key_file.exists()


def test_configured_master_keys_win_over_the_demo_file(tmp_path: Path) -> None:
    configured = generate_master_key("v3")
    settings = load_settings(secrets_file=tmp_path / "none.toml", home=tmp_path, demo=True,
                             master_keys=configured)
    assert load_keyring(settings).primary_version == "v3"
    assert not settings.demo_master_key_file.exists()


def test_settings_repr_hides_the_master_keys() -> None:
    key = generate_master_key("v1")
    settings = load_settings(secrets_file=Path("/nonexistent"), master_keys=key)
    assert key.split(":")[1] not in repr(settings)
