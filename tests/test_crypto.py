from __future__ import annotations

import base64

import pytest

from nbsupport import crypto
from nbsupport.crypto import CryptoError, DecryptionFailed, MasterKeyMissing, MasterKeyring


def test_keyring_parses_versions_in_order_and_first_is_primary() -> None:
    text = f"{crypto.generate_master_key('v2')},{crypto.generate_master_key('v1')}"
    ring = MasterKeyring.parse(text)
    assert ring.primary_version == "v2"
    assert ring.versions == ["v2", "v1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no master key configured"),
        ("v1", "expected 'v<N>:<base64"),
        ("v1:not base64!!", "not valid base64"),
        (f"v1:{base64.b64encode(b'short').decode()}", "must decode to 32 bytes"),
        ("x1:" + base64.b64encode(bytes(32)).decode(), "expected 'v<N>"),
    ],
)
def test_bad_keyring_is_refused_with_a_message_that_never_echoes_the_key(text: str, message: str) -> None:
    with pytest.raises(CryptoError, match=message) as info:
        MasterKeyring.parse(text)
    if ":" in text:
        assert text.split(":", 1)[1] not in str(info.value)


def test_duplicate_master_key_version_is_refused() -> None:
    key = crypto.generate_master_key("v1")
    with pytest.raises(CryptoError, match="listed twice"):
        MasterKeyring.parse(f"{key},{key}")


def test_empty_keyring_is_a_missing_master_key() -> None:
    with pytest.raises(MasterKeyMissing):
        MasterKeyring.parse(" , ")


def test_keyring_repr_shows_no_key_material(keyring: MasterKeyring) -> None:
    material = keyring.key(keyring.primary_version)
    assert base64.b64encode(material).decode() not in repr(keyring)


def test_wrapped_dek_opens_only_for_its_own_user(keyring: MasterKeyring) -> None:
    dek = crypto.new_dek()
    wrapped, version = crypto.wrap_dek(keyring, 7, dek)
    assert crypto.unwrap_dek(keyring, 7, wrapped, version) == dek
    with pytest.raises(DecryptionFailed):
        crypto.unwrap_dek(keyring, 8, wrapped, version)


def test_sealing_twice_uses_fresh_nonces() -> None:
    dek = crypto.new_dek()
    aad = crypto.credential_aad(1, 2, "kraken", 1)
    assert crypto.seal_credentials(dek, b"same", aad) != crypto.seal_credentials(dek, b"same", aad)


@pytest.mark.parametrize(
    "other_aad",
    [
        crypto.credential_aad(2, 2, "kraken", 1),  # another user
        crypto.credential_aad(1, 3, "kraken", 1),  # another key row
        crypto.credential_aad(1, 2, "krakenfutures", 1),  # another exchange
        crypto.credential_aad(1, 2, "kraken", 2),  # another credential version
    ],
)
def test_sealed_credentials_do_not_open_under_other_associated_data(other_aad: bytes) -> None:
    dek = crypto.new_dek()
    blob = crypto.seal_credentials(dek, b"secret", crypto.credential_aad(1, 2, "kraken", 1))
    with pytest.raises(DecryptionFailed):
        crypto.open_credentials(dek, blob, other_aad)


def test_flipped_byte_in_a_sealed_blob_is_refused() -> None:
    dek = crypto.new_dek()
    aad = crypto.credential_aad(1, 2, "kraken", 1)
    blob = bytearray(crypto.seal_credentials(dek, b"secret", aad))
    for index in (0, 5, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[index] ^= 0x01
        with pytest.raises(DecryptionFailed):
            crypto.open_credentials(dek, bytes(tampered), aad)


def test_rewrap_moves_a_dek_to_the_new_primary_and_the_old_key_can_go() -> None:
    old = crypto.generate_master_key("v1")
    new = crypto.generate_master_key("v2")
    dek = crypto.new_dek()
    wrapped, version = crypto.wrap_dek(MasterKeyring.parse(old), 5, dek)
    rewrapped, new_version = crypto.rewrap(MasterKeyring.parse(f"{new},{old}"), 5, wrapped, version)
    assert new_version == "v2"
    assert crypto.unwrap_dek(MasterKeyring.parse(new), 5, rewrapped, new_version) == dek


def test_unknown_master_key_version_names_the_known_ones(keyring: MasterKeyring) -> None:
    with pytest.raises(crypto.UnknownMasterKeyVersion, match="v9 is not in the keyring"):
        crypto.unwrap_dek(keyring, 1, b"\x01" + bytes(40), "v9")
