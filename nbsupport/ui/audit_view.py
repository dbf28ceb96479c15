"""Audit events as a table for the admin page: one page of a server-side search, ids as links."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from nbsupport import audit
from nbsupport.clock import utc_text
from nbsupport.console import Console
from nbsupport.db.models import AuditEvent
from nbsupport.ui.links import key_link_column, key_url, user_link_column, user_url

# What happened and to what first: on a laptop screen the result column is visible without scrolling.
COLUMNS = ["at", "action", "result", "ticket", "actor", "user", "key", "role"]


def audit_frame(events: Sequence[AuditEvent], *, links: bool = True) -> pd.DataFrame:
    """One row per event; empty cells are empty strings (never "None"). `links`: user and key as in-app
    addresses for the page's link columns, else plain ids (the CSV)."""

    def ref(value: int | None, url: Callable[[int], str]) -> str:
        if value is None:
            return ""
        return url(value) if links else str(value)

    return pd.DataFrame(
        [{"at": utc_text(e.at), "action": e.action, "result": e.result or "", "ticket": e.ticket or "",
          "actor": e.actor, "user": ref(e.subject_user_id, user_url), "key": ref(e.subject_key_id, key_url),
          "role": e.role or ""} for e in events],
        columns=COLUMNS,
    )


def show_table(frame: pd.DataFrame) -> None:
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        "at": st.column_config.TextColumn("at (UTC)", width="medium"),
        "result": st.column_config.TextColumn("result", width="medium"),
        "user": user_link_column("user"),
        "key": key_link_column("key"),
    })


def day_bounds(days: Sequence[date]) -> tuple[datetime | None, datetime | None]:
    """The [since, until) UTC bounds of a picked day range: its first day's start to its last day's end."""
    if not days:
        return None, None
    return datetime.combine(days[0], time(), UTC), datetime.combine(days[-1], time(), UTC) + timedelta(days=1)


def events_page(console: Console, query: audit.AuditQuery, page: int) -> audit.AuditPage:
    with console.session() as session:
        return audit.search(session, query, page=page)


def matching_frame(console: Console, query: audit.AuditQuery) -> pd.DataFrame:
    """Every matching event (up to `audit.EXPORT_ROWS`, newest first) as the CSV's table."""
    with console.session() as session:
        return audit_frame(audit.export(session, query), links=False)
