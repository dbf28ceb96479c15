"""Rows for users, their envelope keys and their exchange keys, with real encryption.

Each user gets a fresh random DEK wrapped by the primary master key (`crypto.wrap_dek`); each key's
credentials are sealed under that DEK with the associated data of the row's id, as `keys.add_key` does,
so `keys.open_credentials` opens them and a blob moved to another row fails. Ciphertexts differ between two
builds of the same seed (fresh DEKs and nonces, never derived from the seed): everything else is identical.
"""

from __future__ import annotations

import hashlib

import numpy as np

from nbsupport import crypto, searchtext
from nbsupport.credentials import Credentials
from nbsupport.demo import profiles as P
from nbsupport.demo.activity import Tests
from nbsupport.demo.frames import NAT, Frame, Timestamps
from nbsupport.demo.population import Keys, Users
from nbsupport.fleet.kinds import CUSTOMER

_STRATEGY_NAMES = np.array([s.name for s in P.STRATEGIES] + [""], dtype=object)  # -1 -> ""
_READ_ONLY = np.array([s.read_only for s in P.STRATEGIES] + [False])
_EXCHANGES = np.array([v.exchange for v in P.VENUES], dtype=object)
_PRODUCTS = np.array(P.PRODUCTS, dtype=object)
_PROFILES = np.array(P.PERMISSION_PROFILES, dtype=object)
_READ_SCOPES = P.json_text(P.READ_SCOPES)
_TRADE_SCOPES = P.json_text(P.TRADE_SCOPES)


def user_frames(keyring: crypto.MasterKeyring, users: Users,
                user_ids: np.ndarray) -> tuple[Frame, Frame, list[bytes]]:
    deks = [crypto.new_dek() for _ in range(len(user_ids))]
    wrapped, versions = [], []
    for uid, dek in zip(user_ids.tolist(), deks, strict=True):
        blob, version = crypto.wrap_dek(keyring, uid, dek)
        wrapped.append(blob)
        versions.append(version)
    # The bulk writer bypasses the ORM, so it writes the search columns the User model keeps itself.
    search = [searchtext.search_columns(e, n) for e, n in zip(users.emails, users.names, strict=True)]
    users_frame = Frame("users", {
        "id": user_ids,
        "email": users.emails,
        "display_name": users.names,
        "strategy": _STRATEGY_NAMES[users.strategy],
        "created_at": Timestamps(users.created),
        **{column: [row[column] for row in search] for column in searchtext.SEARCH_COLUMNS},
        # Generated users are customers (their addresses are on .example domains); the practice cast is
        # stored through keys.add_key, which gives it its kind.
        "kind": np.full(len(user_ids), CUSTOMER, dtype=object),
    })
    envelopes = Frame("envelope_keys", {
        "user_id": user_ids,
        "wrapped_dek": wrapped,
        "master_key_version": versions,
        "created_at": Timestamps(users.created),
        "rewrapped_at": Timestamps(np.full(len(user_ids), NAT, dtype=np.int64)),
    })
    return users_frame, envelopes, deks


def key_frame(keys: Keys, key_ids: np.ndarray, user_ids: np.ndarray, deks: list[bytes], tests: Tests,
              strategy: np.ndarray) -> Frame:
    """`user_ids`, `strategy`: per key (the owner's); `deks`: per user of the chunk."""
    exchanges = _EXCHANGES[keys.venue]
    blobs, fingerprints, prefixes, suffixes = [], [], [], []
    for kid, uid, owner, exchange, api_key, secret, passphrase in zip(
        key_ids.tolist(), user_ids.tolist(), keys.owner.tolist(), exchanges.tolist(), keys.api_keys,
        keys.secrets, keys.passphrases, strict=True,
    ):
        plaintext = Credentials(api_key, secret, password=passphrase).to_bytes()
        aad = crypto.credential_aad(uid, kid, exchange, 1)
        blobs.append(crypto.seal_credentials(deks[owner], plaintext, aad))
        fingerprints.append(hashlib.sha256(api_key.encode()).hexdigest())
        prefixes.append(api_key[:4])
        suffixes.append(api_key[-4:])
    has_passphrase = np.array([p is not None for p in keys.passphrases], dtype=bool)
    return Frame("exchange_keys", {
        "id": key_ids,
        "user_id": user_ids,
        "exchange": exchanges,
        "product": _PRODUCTS[keys.product],
        "label": keys.labels,
        "key_prefix": prefixes,
        "key_suffix": suffixes,
        "fingerprint": fingerprints,
        "has_passphrase": has_passphrase,
        "has_uid": np.zeros(len(key_ids), dtype=bool),
        "created_at": Timestamps(keys.created),
        "rotated_at": Timestamps(keys.rotated),
        "expires_at": Timestamps(keys.expires),
        "ip_whitelist": keys.whitelist,
        "required_scopes": np.where(_READ_ONLY[strategy], _READ_SCOPES, _TRADE_SCOPES),
        "status": keys.status,
        "last_test_at": Timestamps(tests.last_at),
        "last_outcome": tests.last_outcome,
        "last_diagnosis": tests.last_diagnosis,
        "last_permissions": np.where(tests.seen_permissions, _PROFILES[tests.profile_now], "{}"),
        "credential_blob": blobs,
        "credential_version": np.ones(len(key_ids), dtype=np.int64),
        "kind": np.full(len(key_ids), CUSTOMER, dtype=object),
    })
