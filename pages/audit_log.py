"""Audit log (admins): who viewed or re-tested what, when, for which ticket, searched over the whole trail."""

from __future__ import annotations

import streamlit as st

from nbsupport import audit
from nbsupport.auth import PageId
from nbsupport.ui import audit_view
from nbsupport.ui.exports import csv_download
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.params import ParamError, parse_id
from nbsupport.ui.session import current_console, require

st.title("Audit log")

with page_boundary():
    identity = require(PageId.AUDIT)
    console = current_console()
    c1, c2, c3, c4 = st.columns(4)
    ticket = c1.text_input("Ticket starts with", max_chars=200, placeholder="ZD-1001 or a ticket link")
    actor = c2.text_input("Actor email", max_chars=320).strip().lower()
    user_text = c3.text_input("User id")
    key_text = c4.text_input("Key id")
    c5, c6 = st.columns([2, 1])
    actions = c5.multiselect("Actions", list(audit.Action), placeholder="all actions")
    days = c6.date_input("Between (UTC days)", value=(), format="YYYY-MM-DD")
    try:
        user_id = parse_id("user", user_text)
        key_id = parse_id("key", key_text)
    except ParamError:
        st.error("User and key ids are positive whole numbers.")
        st.stop()
    since, until = audit_view.day_bounds(days)
    query = audit.AuditQuery(ticket=ticket, actor=actor, user_id=user_id, key_id=key_id,
                             actions=tuple(actions), since=since, until=until)
    page_no = int(st.columns([1, 5])[0].number_input("Page", min_value=1, value=1, step=1, key="audit_page"))
    page = audit_view.events_page(console, query, page_no)
    if not page.events:
        st.info("No audit events match these filters." if page_no == 1 else "No events on this page.")
    else:
        first = (page.page - 1) * page.page_size + 1
        more = "; more on the next page" if page.has_more else ""
        last = first + len(page.events) - 1
        st.caption(f"Events {first:,}–{last:,} of the whole trail, newest first{more}.")
        audit_view.show_table(audit_view.audit_frame(page.events))
        csv_download(console, identity, f"Download matches (CSV, newest {audit.EXPORT_ROWS:,} at most)",
                     lambda: audit_view.matching_frame(console, query), table="audit_log",
                     file_name="audit-log.csv")
