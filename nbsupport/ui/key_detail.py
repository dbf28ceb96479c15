"""One key in full: card, latest diagnosis, test history, re-test. Shared by the lookup deep link
(`?user=…&key=…`) and the key detail page (`?key=…`)."""

from __future__ import annotations

import streamlit as st

from nbsupport import conntest
from nbsupport.audit import Action
from nbsupport.auth import Identity, can_view_key
from nbsupport.conntest import RecordedTest
from nbsupport.console import Console
from nbsupport.keys import KeyView
from nbsupport.lookup import UserCard, lookup
from nbsupport.ui.copy_link import copy_key_link
from nbsupport.ui.diagnosis_card import show_diagnosis
from nbsupport.ui.key_card import key_card
from nbsupport.ui.retest import retest_panel
from nbsupport.ui.timeline import history_chart, history_frame
from nbsupport.ui.trail import record_view
from nbsupport.ui.vega import draw

HISTORY_LIMIT = 50
# Session state: the key this session last opened on the key page.
LAST_KEY = "_key_detail_last"


def remember_key(key_id: int) -> None:
    st.session_state[LAST_KEY] = key_id


def restore_key(key_id: int | None) -> int | None:
    """The key in the URL, or (none there) the one this session last opened, put back in the URL so the
    address is the key's stable link again."""
    if key_id is None and isinstance(st.session_state.get(LAST_KEY), int):
        key_id = st.session_state[LAST_KEY]
        st.query_params["key"] = str(key_id)
    return key_id


def load_key(console: Console, key_id: int, user_id: int | None = None) -> tuple[KeyView, UserCard] | None:
    """The key and its owner; None when it does not exist or belongs to another user than the link says
    (the two cases look alike, so a link cannot probe which key ids exist for whom)."""
    with console.session() as session:
        found = lookup(session, f"key:{key_id}")
    if not found.keys or not found.users:
        return None
    view = found.keys[0]
    if user_id is not None and view.user_id != user_id:
        return None
    return view, found.users[0]


def history_section(records: list[RecordedTest]) -> None:
    st.subheader("Test history")
    frame = history_frame(records)
    if frame.empty:
        st.info("This key has never been tested.")
        return
    draw(history_chart(frame), stretch=True)
    st.dataframe(frame, hide_index=True, height=min(38 + 35 * len(frame), 400))


def render_key(console: Console, identity: Identity, key_id: int, user_id: int | None = None) -> bool:
    """Returns False (with a message) when the key cannot be shown."""
    if not can_view_key(identity.role):
        st.error("Your role sees aggregates only; individual keys are for agents and admins.")
        return False
    found = load_key(console, key_id, user_id)
    if found is None:
        owner = f" for user {user_id}" if user_id is not None else ""
        st.warning(f"No key {key_id}{owner}. Check the id in the ticket link, or search on the lookup page.")
        return False
    view, _user = found
    record_view(console, identity, Action.KEY_VIEW, user_id=view.user_id, key_id=view.id, result="detail",
                detail={"last_outcome": view.last_outcome})
    key_card(view)
    copy_key_link(view.id)
    # Re-test sits above the diagnosis: its verdict is then followed by the refreshed fix card.
    retest_panel(console, identity, view)
    with console.session() as session:
        records = conntest.recorded_tests(session, view.id, limit=HISTORY_LIMIT)
    st.subheader("Latest diagnosis")
    if view.last_outcome == "ok":
        st.success(f"Last test green ({view.last_diagnosis or 'ok'}): nothing to fix.")
    else:
        # The latest result's own reply (exactly what it found missing, our egress address), not the
        # guide's general one; a test recorded before replies were drafted has none.
        latest_reply = records[0].result.customer_reply if records else ""
        show_diagnosis(view.last_diagnosis, view.exchange, reply=latest_reply or None)
    history_section(records)
    return True
