"""Crypto tampering through the real entry points (`run_retest`, the `retest` command) and master-key
rotation killed with SIGKILL at several points.

Every tampered credential must be refused with a clear one-line error, nothing may be decrypted, no
request may reach the venue, and no test row, audit row or lease may be written. Each case then undoes
its tampering and re-tests: the same key works again, so the refusal came from the tampering and nothing
was damaged on the way. tests/test_crypto.py and tests/test_keys.py cover the primitives; this suite goes
through the console as support uses it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select, update

from nbsupport import crypto
from nbsupport.conntest import run_retest
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import CryptoError, DecryptionFailed, MasterKeyMissing, UnknownMasterKeyVersion
from nbsupport.db.models import EnvelopeKey, ExchangeKey
from nbsupport.keys import add_key, open_credentials
from nbsupport.rotation import versions_in_use
from nbsupport.sandbox import SandboxKey, SandboxServer
from tests.prove.conftest import AGENT
from tests.prove.leaks import Needles
from tests.prove.support import (
    UseEnv,
    cli_in_process,
    fresh_key,
    key_credentials,
    key_record,
    row_counts,
    run_cli,
    settings_env,
    store,
)
from tests.prove.tally import Recorder

V1 = crypto.generate_master_key("v1")
V2 = crypto.generate_master_key("v2")


@dataclass
class Scene:
    """Three users on one keyring (primary v2, v1 still listed): Ann with two keys, Bob and Carol one each."""

    console: Console
    sandbox: SandboxServer
    master_keys: str
    keys: dict[str, tuple[int, SandboxKey]] = field(default_factory=dict)
    needles: Needles = field(default_factory=Needles)

    def key_id(self, name: str) -> int:
        return self.keys[name][0]

    def user_id(self, name: str) -> int:
        with self.console.session() as session:
            row = session.get(ExchangeKey, self.key_id(name))
            assert row is not None
            return row.user_id

    def set_key(self, name: str, **values: Any) -> None:
        with self.console.session() as session:
            session.execute(update(ExchangeKey).where(ExchangeKey.id == self.key_id(name)).values(**values))

    def blob(self, name: str) -> bytes:
        with self.console.session() as session:
            row = session.get(ExchangeKey, self.key_id(name))
            assert row is not None
            return row.credential_blob

    def envelope(self, name: str) -> EnvelopeKey:
        with self.console.session() as session:
            envelope = session.get(EnvelopeKey, self.user_id(name))
            assert envelope is not None
            return envelope

    def set_envelope(self, name: str, **values: Any) -> None:
        with self.console.session() as session:
            session.execute(
                update(EnvelopeKey).where(EnvelopeKey.user_id == self.user_id(name)).values(**values)
            )


def _snapshot(console: Console) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with console.session() as session:
        keys = session.execute(
            select(
                ExchangeKey.id,
                ExchangeKey.user_id,
                ExchangeKey.exchange,
                ExchangeKey.credential_blob,
                ExchangeKey.credential_version,
            )
        ).all()
        envelopes = session.execute(
            select(EnvelopeKey.user_id, EnvelopeKey.wrapped_dek, EnvelopeKey.master_key_version)
        ).all()
    return [tuple(k) for k in keys], [tuple(e) for e in envelopes]


def _restore(console: Console, snapshot: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]) -> None:
    keys, envelopes = snapshot
    with console.session() as session:
        for key_id, user_id, exchange, blob, version in keys:
            session.execute(
                update(ExchangeKey)
                .where(ExchangeKey.id == key_id)
                .values(user_id=user_id, exchange=exchange, credential_blob=blob, credential_version=version)
            )
        for user_id, wrapped, version in envelopes:
            session.execute(
                update(EnvelopeKey)
                .where(EnvelopeKey.user_id == user_id)
                .values(wrapped_dek=wrapped, master_key_version=version)
            )


@pytest.fixture
def scene(venue_console: Console, sandbox: SandboxServer) -> Scene:
    master_keys = f"{V2},{V1}"
    venue_console.settings = venue_console.settings.model_copy(update={"master_keys": master_keys})
    built = Scene(venue_console, sandbox, master_keys)
    keyring = venue_console.keyring()
    for name, email in (
        ("ann-1", "ann@example.com"),
        ("ann-2", "ann@example.com"),
        ("bob-1", "bob@example.com"),
        ("carol-1", "carol@example.com"),
    ):
        key = fresh_key(sandbox, name)
        built.keys[name] = (store(venue_console, keyring, key_credentials(key), email=email), key)
        built.needles.add(name, key_credentials(key))
    return built


@pytest.fixture
def decrypted(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every credential plaintext any entry point managed to decrypt during the test."""
    opened: list[bytes] = []
    real = crypto.open_credentials

    def spy(dek: bytes, blob: bytes, aad: bytes) -> bytes:
        plaintext = real(dek, blob, aad)
        opened.append(plaintext)
        return plaintext

    monkeypatch.setattr(crypto, "open_credentials", spy)
    return opened


@dataclass(frozen=True)
class Tampering:
    name: str
    apply: Callable[[Scene], str | None]  # returns the keyring to configure instead, if it changes it
    victims: tuple[str, ...]
    error: type[CryptoError]
    message: str  # a regex the one-line error must match


def _flip(index: int) -> Callable[[Scene], None]:
    def apply(scene: Scene) -> None:
        blob = bytearray(scene.blob("ann-1"))
        blob[index if index >= 0 else len(blob) + index] ^= 0x20
        scene.set_key("ann-1", credential_blob=bytes(blob))

    return apply


def _swap_blobs(first: str, second: str) -> Callable[[Scene], None]:
    def apply(scene: Scene) -> None:
        a, b = scene.blob(first), scene.blob(second)
        scene.set_key(first, credential_blob=b)
        scene.set_key(second, credential_blob=a)

    return apply


def _swap_deks(scene: Scene) -> None:
    ann, bob = scene.envelope("ann-1"), scene.envelope("bob-1")
    scene.set_envelope("ann-1", wrapped_dek=bob.wrapped_dek)
    scene.set_envelope("bob-1", wrapped_dek=ann.wrapped_dek)


def _flip_dek(scene: Scene) -> None:
    wrapped = bytearray(scene.envelope("bob-1").wrapped_dek)
    wrapped[len(wrapped) // 2] ^= 0x01
    scene.set_envelope("bob-1", wrapped_dek=bytes(wrapped))


def _move_key_to(user_key: str) -> Callable[[Scene], None]:
    def apply(scene: Scene) -> None:
        scene.set_key("ann-1", user_id=scene.user_id(user_key))

    return apply


def _keyring(text: str) -> Callable[[Scene], str]:
    return lambda scene: text


BLOB_REFUSED = r"^credentials: (authentication failed \(tampered, moved or wrong key\)|not a sealed blob)"
DEK_REFUSED = r"^data key: (authentication failed \(tampered, moved or wrong key\)|not a sealed blob)"
ALL = ("ann-1", "ann-2", "bob-1", "carol-1")

CASES = [
    Tampering(
        "flipped format byte of a sealed credential",
        _flip(0),
        ("ann-1",),
        DecryptionFailed,
        r"^credentials: not a sealed blob of a known format",
    ),
    Tampering(
        "flipped nonce byte of a sealed credential", _flip(5), ("ann-1",), DecryptionFailed, BLOB_REFUSED
    ),
    Tampering(
        "flipped ciphertext byte of a sealed credential",
        _flip(20),
        ("ann-1",),
        DecryptionFailed,
        BLOB_REFUSED,
    ),
    Tampering(
        "flipped tag byte of a sealed credential", _flip(-1), ("ann-1",), DecryptionFailed, BLOB_REFUSED
    ),
    Tampering(
        "truncated sealed credential",
        lambda s: s.set_key("ann-1", credential_blob=s.blob("ann-1")[:20]),
        ("ann-1",),
        DecryptionFailed,
        r"^credentials: not a sealed blob of a known format",
    ),
    Tampering(
        "blobs swapped between two keys of one user",
        _swap_blobs("ann-1", "ann-2"),
        ("ann-1", "ann-2"),
        DecryptionFailed,
        BLOB_REFUSED,
    ),
    Tampering(
        "blobs swapped between users",
        _swap_blobs("ann-1", "bob-1"),
        ("ann-1", "bob-1"),
        DecryptionFailed,
        BLOB_REFUSED,
    ),
    Tampering(
        "key row moved to another user", _move_key_to("bob-1"), ("ann-1",), DecryptionFailed, BLOB_REFUSED
    ),
    Tampering(
        "key row relabelled as another venue",
        lambda s: s.set_key("ann-1", exchange="krakenfutures"),
        ("ann-1",),
        DecryptionFailed,
        BLOB_REFUSED,
    ),
    Tampering(
        "credential version bumped",
        lambda s: s.set_key("ann-1", credential_version=2),
        ("ann-1",),
        DecryptionFailed,
        BLOB_REFUSED,
    ),
    Tampering(
        "wrapped data keys swapped between users",
        _swap_deks,
        ("ann-1", "ann-2", "bob-1"),
        DecryptionFailed,
        DEK_REFUSED,
    ),
    Tampering("flipped byte of a wrapped data key", _flip_dek, ("bob-1",), DecryptionFailed, DEK_REFUSED),
    Tampering(
        "envelope names an unknown master key version",
        lambda s: s.set_envelope("carol-1", master_key_version="v7"),
        ("carol-1",),
        UnknownMasterKeyVersion,
        r"^master key v7 is not in the keyring \(known: v2, v1\)",
    ),
    Tampering(
        "primary master key removed from the keyring",
        _keyring(V1),
        ALL,
        UnknownMasterKeyVersion,
        r"^master key v2 is not in the keyring \(known: v1\)",
    ),
    Tampering(
        "keyring of an unknown version only",
        _keyring(crypto.generate_master_key("v3")),
        ALL,
        UnknownMasterKeyVersion,
        r"^master key v2 is not in the keyring \(known: v3\)",
    ),
    Tampering(
        "primary master key replaced by other material under the same version",
        _keyring(f"{crypto.generate_master_key('v2')},{V1}"),
        ALL,
        DecryptionFailed,
        DEK_REFUSED,
    ),
    Tampering("no master key configured", _keyring(""), ALL, MasterKeyMissing, r"^no master key configured"),
    Tampering(
        "malformed master key",
        _keyring("v2:not*base64"),
        ALL,
        CryptoError,
        r"^master key v2: not valid base64",
    ),
]


def _one_clear_line(text: str) -> bool:
    lines = text.strip().splitlines()
    return len(lines) == 1 and len(lines[0]) <= 300


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tampered_credentials_are_refused_clearly_and_nothing_is_decrypted_or_recorded(
    scene: Scene,
    case: Tampering,
    use_env: UseEnv,
    decrypted: list[bytes],
    tally: Recorder,
) -> None:
    console = scene.console
    snapshot = _snapshot(console)
    keyring = case.apply(scene)
    if keyring is not None:
        console.settings = console.settings.model_copy(update={"master_keys": keyring})
    use_env(settings_env(console.settings))
    counts = row_counts(console)
    records = {name: key_record(console, scene.key_id(name)) for name in ALL}
    scene.sandbox.clear()

    for victim in case.victims:
        tally.scenario()
        with pytest.raises(case.error) as refused:
            run_retest(console, scene.key_id(victim), actor=AGENT, ticket="ZD-TAMPER")
        message = str(refused.value)
        assert re.search(case.message, message), message
        assert _one_clear_line(message)
        assert not tally.leaks(scene.needles.scan(f"{message} {refused.value!r}", "the error"))

        tally.scenario()
        done = cli_in_process(["retest", str(scene.key_id(victim)), "--json"])
        assert not tally.shown(done.stdout, done.stderr)
        assert done.code == 2 and done.stdout == ""
        assert _one_clear_line(done.stderr) and re.search(case.message, done.stderr.removeprefix("error: "))
        assert not tally.leaks(scene.needles.scan(done.stderr, "the CLI's error"))

    # Nothing was decrypted, nothing reached the venue, nothing was recorded.
    assert decrypted == []
    for victim in case.victims:
        assert scene.sandbox.requests_for(scene.keys[victim][1].api_key) == []
    lost = sum(row_counts(console)[t] != n for t, n in counts.items())
    lost += sum(key_record(console, scene.key_id(n)) != records[n] for n in ALL)
    assert not tally.lost(lost)

    # Keys the tampering did not touch still work.
    for bystander in (n for n in ALL if n not in case.victims):
        tally.scenario()
        assert run_retest(console, scene.key_id(bystander), actor=AGENT).diagnosis == "ok"

    # Undone, the victims open and test again: the refusal was the tampering, and nothing was damaged.
    _restore(console, snapshot)
    console.settings = console.settings.model_copy(update={"master_keys": scene.master_keys})
    for victim in case.victims:
        tally.scenario()
        result = run_retest(console, scene.key_id(victim), actor=AGENT)
        assert not tally.lost(int(result.diagnosis != "ok"))


def test_tampering_is_refused_by_the_retest_command_in_its_own_process(
    scene: Scene, venue_env: dict[str, str], tally: Recorder
) -> None:
    _flip(20)(scene)
    env = {**venue_env, "NBSUPPORT_MASTER_KEYS": scene.master_keys}
    before = row_counts(scene.console)
    tally.scenario()
    tampered = run_cli(env, "retest", str(scene.key_id("ann-1")), "--json")
    tally.scenario()
    no_primary = run_cli({**env, "NBSUPPORT_MASTER_KEYS": V1}, "retest", str(scene.key_id("bob-1")))
    for done, expected in ((tampered, BLOB_REFUSED), (no_primary, r"^master key v2 is not in the keyring")):
        assert not tally.shown(done.stdout, done.stderr)
        assert done.returncode == 2, done.stderr
        assert _one_clear_line(done.stderr) and re.search(expected, done.stderr.removeprefix("error: "))
        assert not tally.leaks(scene.needles.scan(done.stdout + done.stderr, "retest output"))
    assert not tally.lost(sum(row_counts(scene.console)[t] != n for t, n in before.items()))


# --- master-key rotation killed with SIGKILL -------------------------------------------------------------


def _populate(console: Console, users: int) -> dict[int, Credentials]:
    keyring = console.keyring()
    stored: dict[int, Credentials] = {}
    with console.session() as session:
        for n in range(users):
            creds = Credentials(
                f"rot-{n:05d}-{'K' * 40}",
                f"rot-secret-{n:05d}-{'S' * 50}",
                password=f"pass-{n}" if n % 5 == 0 else None,
            )
            row = add_key(
                session,
                keyring,
                user_email=f"rot{n}@example.com",
                exchange="okx" if n % 5 == 0 else "kraken",
                credentials=creds,
            )
            stored[row.id] = creds
    return stored


def _damaged(console: Console, master_keys: str, stored: dict[int, Credentials]) -> int:
    """Credentials that no longer open, or open to something else, with this keyring."""
    keyring = crypto.MasterKeyring.parse(master_keys)
    bad = 0
    with console.session() as session:
        for key_id, creds in stored.items():
            try:
                opened = open_credentials(session, keyring, key_id)
            except CryptoError:
                bad += 1
                continue
            bad += int(opened.to_bytes() != creds.to_bytes())
    return bad


def _kill_after(env: dict[str, str], batches: int, batch_size: int) -> int:
    """Start `rotate-master-key` and SIGKILL it once it has reported `batches` batches (0: at once)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbsupport", "rotate-master-key", "--batch-size", str(batch_size)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = 0
    while seen < batches:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line.startswith("rewrapped")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    return seen


def _rotation_under_kills(
    console: Console,
    cli_env: dict[str, str],
    tally: Recorder,
    users: int,
    kill_points: tuple[int, ...],
    batch_size: int,
    generations: int,
) -> None:
    """Rotate v1 -> v2 (-> v3 ...), each rotation SIGKILLed at `kill_points` (batches reported before the
    kill; 0 = while starting) and then resumed to the end."""
    stored = _populate(console, users)
    new_keys = [crypto.generate_master_key(f"v{n}") for n in range(2, 2 + generations)]
    rings = [
        ",".join([*reversed(new_keys[: n + 1]), console.settings.master_keys]) for n in range(generations)
    ]
    for ring in rings:
        env = {**cli_env, "NBSUPPORT_MASTER_KEYS": ring}
        handle = Console(console.settings.model_copy(update={"master_keys": ring}))
        try:
            for point in kill_points:
                tally.scenario()
                tally.fault()
                _kill_after(env, point, batch_size)
                in_use = versions_in_use(handle)
                assert not tally.lost(abs(sum(in_use.values()) - users))
                # Half-rotated: every credential still opens (both generations are listed).
                assert not tally.lost(_damaged(handle, ring, stored))
            tally.scenario()
            done = run_cli(env, "rotate-master-key", "--json", "--batch-size", str(batch_size))
            assert not tally.shown(done.stdout, done.stderr)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["remaining_by_version"] == {}
            primary = ring.split(":", 1)[0]
            assert versions_in_use(handle) == {primary: users}
        finally:
            handle.close()
    # The newest key alone opens everything: nothing was lost on the way.
    assert not tally.lost(_damaged(console, new_keys[-1], stored))


def test_rotation_killed_at_several_points_resumes_and_loses_nothing(
    console: Console, cli_env: dict[str, str], tally: Recorder
) -> None:
    _rotation_under_kills(console, cli_env, tally, users=150, kill_points=(1, 4), batch_size=9, generations=1)


@pytest.mark.slow
def test_rotation_of_thousands_killed_many_times_resumes_and_loses_nothing(
    console: Console, cli_env: dict[str, str], tally: Recorder
) -> None:
    _rotation_under_kills(
        console, cli_env, tally, users=2000, kill_points=(0, 1, 3, 7, 15, 30), batch_size=25, generations=2
    )
