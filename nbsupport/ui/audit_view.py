"""Audit events as a table for the admin page (a bounded list, never the whole trail)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from nbsupport.db.models import AuditEvent
from nbsupport.timefmt import utc_text

# The actions the console, the engine and the CLI write; the filter offers these, rows may hold others.
ACTIONS = ["key.view", "user.view", "key.retest", "key.probe", "fleet.backfill_health", "fleet.bulk_retest",
           "fleet.bulk_retest_resume", "key.add", "demo.build"]
COLUMNS = ["at", "actor", "role", "action", "ticket", "user", "key", "result"]


def audit_frame(events: Sequence[AuditEvent]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"at": utc_text(e.at), "actor": e.actor, "role": e.role, "action": e.action, "ticket": e.ticket,
          "user": e.subject_user_id, "key": e.subject_key_id, "result": e.result} for e in events],
        columns=COLUMNS,
    ).astype({"user": "Int64", "key": "Int64"})


def filter_frame(frame: pd.DataFrame, *, actions: Sequence[str] = (), ticket: str = "") -> pd.DataFrame:
    if actions:
        frame = frame[frame["action"].isin(list(actions))]
    if ticket.strip():
        frame = frame[frame["ticket"].str.contains(ticket.strip(), case=False, regex=False)]
    return frame.reset_index(drop=True)
