"""A stored key under its lease, for anything that talks to the venue with it (a test, a one-scope probe).

Two transactions: one reads the key, takes the lease and decrypts the credentials; one writes what the
caller records and frees the lease. The venue was asked in between, so a write that only waited too long
for another writer's lock is tried again rather than its answer lost. If the caller fails before that
write, the lease is released on the way out; if the database is down that release fails too, and the next
caller takes the lease over (nbsupport.conntest.locks: its holder is no longer running).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import TypeVar

from sqlalchemy.orm import Session

from nbsupport.conntest.locks import drop_lease, new_holder, release, running, take_lease
from nbsupport.conntest.persist import key_meta
from nbsupport.conntest.result import KeyMeta
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.db.engine import DatabaseUnavailable
from nbsupport.db.models import ExchangeKey
from nbsupport.keys import KeyInputError, open_credentials, shared_with

# Writing a result: attempts when another writer holds the lock, and the pause before the next one.
RECORD_ATTEMPTS = 3
RECORD_RETRY_S = 0.2

T = TypeVar("T")


@dataclass
class LeasedKey:
    console: Console
    key_id: int
    holder: str
    meta: KeyMeta
    user_id: int
    # Decrypted only for the lease's lifetime; handed over once, dropped on the way out in any case.
    credentials: Credentials | None

    def take_credentials(self) -> Credentials:
        """The decrypted credentials, handed over once: the lease keeps no reference to them after."""
        credentials, self.credentials = self.credentials, None
        if credentials is None:
            raise RuntimeError("the credentials were already handed over")
        return credentials

    def record(self, write: Callable[[Session, ExchangeKey], T]) -> T:
        """`write(session, key_row)` and the lease's release, in one transaction."""
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                with self.console.session() as session:
                    row = session.get(ExchangeKey, self.key_id)
                    if row is None:
                        raise KeyInputError(f"exchange key {self.key_id} was deleted during its test")
                    written = write(session, row)
                    drop_lease(session, self.key_id, self.holder)
                    return written
            except DatabaseUnavailable as exc:
                if not exc.busy or attempt == RECORD_ATTEMPTS:
                    raise
                time.sleep(RECORD_RETRY_S * attempt)
        raise AssertionError("unreachable")


@contextmanager
def leased_key(console: Console, key_id: int, *, ignore_cooldown: bool = False) -> Iterator[LeasedKey]:
    """The key under its lease with its credentials open; the block ends with `LeasedKey.record`.

    Raises KeyInputError (no such key), CryptoError (no master key / cannot decrypt) or RetestRefused;
    in each case nothing is written."""
    with running(new_holder()) as holder:
        with console.session() as session:
            row = session.get(ExchangeKey, key_id)
            if row is None:
                raise KeyInputError(f"no exchange key with id {key_id}")
            # The key's other copies are read with it: the test warns that they clash on nonces.
            meta = replace(key_meta(row), shared_with=tuple(shared_with(session, key_id)))
            user_id = row.user_id
            keyring = console.keyring()
            take_lease(session, console.settings, key_id, holder, ignore_cooldown=ignore_cooldown)
            credentials = open_credentials(session, keyring, key_id)
        leased = LeasedKey(console, key_id, holder, meta, user_id, credentials)
        del credentials
        try:
            yield leased
        except BaseException:
            with suppress(Exception):
                release(console, key_id, holder)
            raise
        finally:
            leased.credentials = None
