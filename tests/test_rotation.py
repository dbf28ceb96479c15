from __future__ import annotations

import subprocess
import sys

import pytest

from nbsupport import crypto
from nbsupport.config import Settings
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.keys import add_key, open_credentials
from nbsupport.rotation import rotate_master_key, versions_in_use


def _populate(console: Console, users: int) -> list[tuple[int, str]]:
    keyring = console.keyring()
    stored = []
    with console.session() as session:
        for n in range(users):
            api_key = f"rotation-test-key-{n:04d}-abcdefgh"
            row = add_key(session, keyring, user_email=f"user{n}@example.com", exchange="kraken",
                          credentials=Credentials(api_key, f"secret-{n}"))
            stored.append((row.id, api_key))
    return stored


def _with_keys(console: Console, master_keys: str) -> Console:
    return Console(Settings(home=console.settings.home, database_url=console.settings.database_url,
                            master_keys=master_keys))


def test_rotation_leaves_every_credential_readable_and_the_old_key_removable(
    console: Console, master_keys: str
) -> None:
    stored = _populate(console, 12)
    new_primary = crypto.generate_master_key("v2")
    rotating = _with_keys(console, f"{new_primary},{master_keys}")
    report = rotate_master_key(rotating, batch_size=5)
    assert report.rewrapped == 12 and report.remaining_by_version == {}
    assert versions_in_use(rotating) == {"v2": 12}
    only_new = _with_keys(console, new_primary)
    with only_new.session() as session:
        for key_id, api_key in stored:
            assert open_credentials(session, only_new.keyring(), key_id).api_key == api_key
    for handle in (rotating, only_new):
        handle.close()


def test_interrupted_rotation_resumes_and_loses_nothing(console: Console, master_keys: str) -> None:
    stored = _populate(console, 9)
    rotating = _with_keys(console, f"{crypto.generate_master_key('v2')},{master_keys}")

    def crash_after_first_batch(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_master_key(rotating, batch_size=4, on_batch=crash_after_first_batch)
    assert versions_in_use(rotating) == {"v2": 4, "v1": 5}
    with rotating.session() as session:  # half-rotated: both generations still open
        for key_id, api_key in stored:
            assert open_credentials(session, rotating.keyring(), key_id).api_key == api_key
    assert rotate_master_key(rotating, batch_size=4).rewrapped == 5
    assert versions_in_use(rotating) == {"v2": 9}
    rotating.close()


def test_rotation_refuses_when_an_old_key_in_use_is_not_listed(console: Console) -> None:
    _populate(console, 2)
    rotating = _with_keys(console, crypto.generate_master_key("v2"))
    with pytest.raises(crypto.UnknownMasterKeyVersion, match="v1"):
        rotate_master_key(rotating)
    assert versions_in_use(rotating) == {"v1": 2}
    rotating.close()


def test_rotation_killed_mid_run_by_signal_resumes(console: Console, master_keys: str, cli_env: dict) -> None:
    _populate(console, 30)
    env = dict(cli_env, NBSUPPORT_MASTER_KEYS=f"{crypto.generate_master_key('v2')},{master_keys}")
    # Kill the CLI process as soon as it reports its first batch: nothing half-written may remain.
    proc = subprocess.Popen([sys.executable, "-m", "nbsupport", "rotate-master-key", "--batch-size", "3"],
                            env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    proc.stderr.readline()
    proc.kill()
    proc.wait()
    done = subprocess.run([sys.executable, "-m", "nbsupport", "rotate-master-key", "--json"], env=env,
                          capture_output=True, text=True, check=True)
    assert '"remaining_by_version": {}' in done.stdout
    resumed = _with_keys(console, env["NBSUPPORT_MASTER_KEYS"])
    assert versions_in_use(resumed) == {"v2": 30}
    with resumed.session() as session:
        for key_id in range(1, 31):
            open_credentials(session, resumed.keyring(), key_id)
    resumed.close()
