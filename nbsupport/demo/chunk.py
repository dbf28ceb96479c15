"""One chunk of the demo, generated from (seed, chunk number) alone, so a worker process can build it.

User and key ids are known up front (key counts are the first draw of each chunk's stream, and key ids are
sealed into the credentials' associated data); test and backfill run ids are numbered from 0 and shifted
by the writer, which alone knows how many rows earlier chunks produced.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context

import numpy as np

from nbsupport.crypto import MasterKeyring
from nbsupport.demo.activity import make_tests
from nbsupport.demo.frames import Frame
from nbsupport.demo.history import make_history
from nbsupport.demo.population import USERS_PER_CHUNK, Context, keys_per_user, make_keys, make_users
from nbsupport.demo.records import key_frame, user_frames


@dataclass
class Chunk:
    users: Frame
    envelopes: Frame
    keys: Frame
    tests: Frame  # ids from 0
    backfills: Frame  # ids from 0
    placed: Frame

    def frames(self) -> tuple[Frame, ...]:
        return (self.users, self.envelopes, self.keys, self.tests, self.backfills, self.placed)


def _streams(seed: int, chunk_no: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence([seed, chunk_no]).spawn(4)]


def chunk_users(ctx: Context, chunk_no: int) -> int:
    return min(USERS_PER_CHUNK, ctx.total_users - chunk_no * USERS_PER_CHUNK)


def chunk_key_count(ctx: Context, chunk_no: int) -> int:
    return int(keys_per_user(_streams(ctx.seed, chunk_no)[1], chunk_users(ctx, chunk_no)).sum())


def generate_chunk(ctx: Context, keyring: MasterKeyring, chunk_no: int, first_user_id: int,
                   first_key_id: int) -> Chunk:
    streams = _streams(ctx.seed, chunk_no)
    users = make_users(streams[0], ctx, chunk_no * USERS_PER_CHUNK, chunk_users(ctx, chunk_no))
    keys = make_keys(streams[1], ctx, chunk_no, users)
    user_ids = first_user_id + users.index
    key_ids = np.arange(first_key_id, first_key_id + len(keys), dtype=np.int64)
    owner_ids = user_ids[keys.owner]
    strategy = users.strategy[keys.owner]
    tests = make_tests(streams[2], ctx, keys, key_ids, owner_ids, users.emails, 0)
    history = make_history(streams[3], ctx, keys, key_ids, strategy, 0)
    users_frame, envelopes, deks = user_frames(keyring, users, user_ids)
    keys_frame = key_frame(keys, key_ids, owner_ids, deks, tests, strategy)
    return Chunk(users_frame, envelopes, keys_frame, tests.frame, history.backfills, history.placed)


@contextmanager
def chunk_source(ctx: Context, keyring: MasterKeyring, first_user_id: int, first_key_id: int,
                 workers: int) -> Iterator[Iterator[Chunk]]:
    """Chunks in order; with `workers`, generated in that many processes while the caller writes."""
    key_base = [first_key_id]
    for chunk_no in range(ctx.chunks - 1):
        key_base.append(key_base[-1] + chunk_key_count(ctx, chunk_no))

    def local() -> Iterator[Chunk]:
        for c in range(ctx.chunks):
            yield generate_chunk(ctx, keyring, c, first_user_id, key_base[c])

    if workers < 1 or "fork" not in get_all_start_methods():
        yield local()
        return
    # fork, not spawn: spawn re-imports the parent's __main__, and `python -m nbsupport` would run the
    # command again in the worker. The child only computes: it never touches the parent's connections.
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        def remote() -> Iterator[Chunk]:
            pending: list[Future[Chunk]] = []
            ahead = workers + 1  # bounded: a few chunks in memory at a time
            for c in range(ctx.chunks):
                pending.append(pool.submit(generate_chunk, ctx, keyring, c, first_user_id, key_base[c]))
                if len(pending) > ahead:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()

        yield remote()
