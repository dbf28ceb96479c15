"""CSV downloads: every one goes through the shared widget and is an audit row (`data.export`) carrying
the session's ticket, the actor, the table and its row count, written on the click, not on the draw."""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import pytest

from nbsupport.audit import Action
from nbsupport.auth import Identity
from nbsupport.console import Console
from nbsupport.fleet.stats.figures import failure_stats
from nbsupport.ui import stats_view
from nbsupport.ui.exports import Export
from tests.pages.support import EMAILS, REPO_ROOT, audit_rows, open_app, set_ticket

pytestmark = pytest.mark.usefixtures("app_env")


@pytest.mark.usefixtures("seeded")
def test_clicking_a_download_writes_one_export_row_with_the_session_ticket(
    sign_in: Callable[[str], str], console: Console
) -> None:
    sign_in("analyst")
    at = set_ticket(open_app("pages/failure_stats.py"), "zd 31")
    # Drawing a button (and every rerun) is not a download.
    assert audit_rows(console, Action.DATA_EXPORT) == []
    venues = next(b for b in at.download_button if b.label == "Venues (CSV)")
    venues.click()
    at.run()
    assert not at.exception
    rows = audit_rows(console, Action.DATA_EXPORT)
    assert [(r.actor, r.role, r.ticket, r.detail["table"]) for r in rows] == [
        (EMAILS["analyst"], "analyst", "ZD-31", "failure-venues")]
    with console.session() as session:
        table = stats_view.venue_table(failure_stats(session, days=30))
    assert rows[0].detail["rows"] == len(table) and rows[0].detail["file"].startswith("failure-venues-")
    at.run()
    assert len(audit_rows(console, Action.DATA_EXPORT)) == 1  # a later rerun records nothing more


def test_a_table_built_on_click_is_counted_and_recorded_when_it_is_made(console: Console) -> None:
    """The audit log's matches are built only when the button is clicked (Streamlit's deferred data),
    so the row is written when the file is made; AppTest cannot click a deferred download."""
    export = Export(console, Identity("root@nb.test", "admin"), "audit_log", "audit-log.csv", "ZD-9")
    make = export.deferred(lambda: pd.DataFrame({"action": ["key.view", "key.retest"]}))
    assert audit_rows(console, Action.DATA_EXPORT) == []
    assert make() == "action\nkey.view\nkey.retest\n"
    rows = audit_rows(console, Action.DATA_EXPORT)
    assert [(r.actor, r.ticket, r.result, r.detail) for r in rows] == [
        ("root@nb.test", "ZD-9", "2 row(s)",
         {"table": "audit_log", "rows": 2, "file": "audit-log.csv"})]


def test_every_download_button_is_the_shared_audited_widget() -> None:
    """A page or widget calling st.download_button itself would let a table leave unaudited."""
    sources = [REPO_ROOT / "streamlit_app.py", *(REPO_ROOT / "pages").glob("*.py"),
               *(REPO_ROOT / "nbsupport").rglob("*.py")]
    callers = sorted(str(p.relative_to(REPO_ROOT)) for p in sources
                     if re.search(r"\bdownload_button\(", p.read_text(encoding="utf-8")))
    assert callers == ["nbsupport/ui/exports.py"]
