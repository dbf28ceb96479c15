"""Key lookup: one search box, ranked users and masked keys, the chosen key in full. The search and the open
key live in the address (`?q=…&user=…&key=…`) and in the session, so a reload or a trip to another page
comes back to them."""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import PageId
from nbsupport.lookup import EXAMPLE, HELP, LookupQueryError
from nbsupport.ui import lookup_view
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.params import ParamError
from nbsupport.ui.session import current_console, require

st.title("Key lookup")

with page_boundary():
    identity = require(PageId.LOOKUP)
    console = current_console()
    try:
        state = lookup_view.restore()
    except ParamError as exc:
        st.error(f"This link is not valid: {exc}.")
        state = lookup_view.PageState()
    text = st.text_input("Search", key=lookup_view.QUERY_KEY, help=HELP[0].upper() + HELP[1:] + ".",
                         placeholder=f"a name, part of an email, an id, a key, a ticket link: {EXAMPLE}")
    if text.strip() != state.q:  # a new search: the key opened from the last one no longer applies
        state = lookup_view.PageState(text.strip())
    try:
        result = lookup_view.find(console, text, state.user, state.key)
    except LookupQueryError as exc:
        st.error(str(exc), icon=":material/search_off:")
        result = None
    opened = lookup_view.show(console, identity, result, state.key) if result is not None else None
    if result is None and not text.strip():
        st.caption("Paste what the customer gave you; a ticket link with ?user= / &key= works too.")
    if opened is not None and result is not None:
        owner = next(k.user_id for k in result.keys if k.id == opened)
        state = lookup_view.PageState(state.q, owner, opened)
    lookup_view.remember(state)
