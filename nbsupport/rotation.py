"""Master-key rotation: rewrap every DEK under the primary key, batch by batch.

Each batch commits on its own and every row records its own master key version, so a rotation killed
halfway resumes where it stopped and never leaves a DEK unreadable. Credential rows are not touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from nbsupport import crypto
from nbsupport.clock import utcnow
from nbsupport.console import Console
from nbsupport.db.models import EnvelopeKey


@dataclass(frozen=True)
class RotationReport:
    primary: str
    rewrapped: int
    remaining_by_version: dict[str, int]


def versions_in_use(console: Console) -> dict[str, int]:
    with console.session() as session:
        rows = session.execute(
            select(EnvelopeKey.master_key_version, func.count()).group_by(EnvelopeKey.master_key_version)
        )
        return {version: count for version, count in rows}


def rotate_master_key(
    console: Console, batch_size: int = 500, on_batch: Callable[[int], None] | None = None
) -> RotationReport:
    keyring = console.keyring()
    primary = keyring.primary_version
    missing = [v for v in versions_in_use(console) if v != primary and v not in keyring.versions]
    if missing:
        raise crypto.UnknownMasterKeyVersion(
            f"DEKs are wrapped by {', '.join(missing)}, which is not in NBSUPPORT_MASTER_KEYS; "
            "keep the old key listed after the new primary until rotation finishes"
        )
    done = 0
    while True:
        with console.session() as session:
            batch = session.scalars(
                select(EnvelopeKey).where(EnvelopeKey.master_key_version != primary)
                .order_by(EnvelopeKey.user_id).limit(batch_size).with_for_update(skip_locked=True)
            ).all()
            for envelope in batch:
                envelope.wrapped_dek, envelope.master_key_version = crypto.rewrap(
                    keyring, envelope.user_id, envelope.wrapped_dek, envelope.master_key_version
                )
                envelope.rewrapped_at = utcnow()
        if not batch:
            break
        done += len(batch)
        if on_batch:
            on_batch(done)
    remaining = {v: n for v, n in versions_in_use(console).items() if v != primary}
    return RotationReport(primary, done, remaining)
