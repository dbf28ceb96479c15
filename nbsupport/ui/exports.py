"""CSV downloads: the one widget through which a page lets a person take a table away, each download an
audit row (`data.export`) with the session's ticket, the actor, the table and its row count.

A table leaving the console is the act the audit trail exists for, so it is recorded on the click itself,
not when the button is drawn (a drawn button is not a download).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from nbsupport.audit import Action
from nbsupport.auth import Identity
from nbsupport.console import Console
from nbsupport.ui.trail import current_ticket, record_event

ICON = ":material/download:"
CSV = "text/csv"


@dataclass(frozen=True)
class Export:
    """What a download hands over: which table, from which page's scope, under which ticket."""

    console: Console
    identity: Identity
    table: str
    file_name: str
    ticket: str
    user_id: int | None = None

    def record(self, rows: int) -> None:
        record_event(self.console, self.identity, Action.DATA_EXPORT, ticket=self.ticket,
                     user_id=self.user_id, result=f"{rows:,} row(s)",
                     detail={"table": self.table, "rows": rows, "file": self.file_name})

    def deferred(self, make: Callable[[], pd.DataFrame]) -> Callable[[], str]:
        """For a table built only on click: the rows are counted, and recorded, when the file is made,
        which Streamlit does exactly once per click."""

        def data() -> str:
            frame = make()
            self.record(len(frame))
            return frame.to_csv(index=False)

        return data


def csv_download(
    console: Console,
    identity: Identity,
    label: str,
    frame: pd.DataFrame | Callable[[], pd.DataFrame],
    *,
    table: str,
    file_name: str,
    user_id: int | None = None,
) -> None:
    """A download button for `frame` as CSV. `frame` may be a callable for a table too costly to build on
    every rerun (the audit log's matches): it is then built, counted and recorded on click."""
    export = Export(console, identity, table, file_name, current_ticket(), user_id)
    if callable(frame):
        st.download_button(label, export.deferred(frame), file_name=file_name, mime=CSV, icon=ICON,
                           on_click="rerun")
        return
    rows = len(frame)
    st.download_button(label, frame.to_csv(index=False), file_name=file_name, mime=CSV, icon=ICON,
                       on_click=export.record, args=(rows,))
