"""Audit log (admins): who viewed or re-tested what, when, for which ticket."""

from __future__ import annotations

import streamlit as st

from nbsupport.audit import recent
from nbsupport.auth import PageId
from nbsupport.ui.audit_view import ACTIONS, audit_frame, filter_frame
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.params import ParamError, parse_id
from nbsupport.ui.session import console, require

st.title("Audit log")

with page_boundary():
    require(PageId.AUDIT)
    handle = console()
    c1, c2, c3, c4 = st.columns(4)
    actor = c1.text_input("Actor email", max_chars=320).strip().lower()
    user_text = c2.text_input("User id")
    key_text = c3.text_input("Key id")
    limit = c4.selectbox("Latest", [100, 500, 2000], format_func=lambda n: f"{n} rows")
    c5, c6 = st.columns(2)
    actions = c5.multiselect("Actions", ACTIONS, placeholder="all actions")
    ticket = c6.text_input("Ticket contains", max_chars=200)
    try:
        user_id = parse_id("user", user_text)
        key_id = parse_id("key", key_text)
    except ParamError:
        st.error("User and key ids are positive whole numbers.")
        st.stop()
    with handle.session() as session:
        frame = audit_frame(recent(session, actor=actor or None, key_id=key_id, user_id=user_id, limit=limit))
    frame = filter_frame(frame, actions=actions, ticket=ticket)
    if frame.empty:
        st.info("No audit events match these filters.")
    else:
        st.caption(f"{len(frame)} event(s), newest first; action and ticket filters apply to the latest "
                   f"{limit} rows matching actor/user/key.")
        st.dataframe(frame, hide_index=True)
        st.download_button("Download (CSV)", frame.to_csv(index=False), file_name="audit-log.csv",
                           mime="text/csv", icon=":material/download:")
