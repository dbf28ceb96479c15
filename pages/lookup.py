"""Key lookup: one search box, user card(s), masked keys table; `?user=…&key=…` opens a key directly."""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import PageId
from nbsupport.lookup import HELP, LookupQueryError
from nbsupport.ui import lookup_view
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.params import ParamError, parse_id
from nbsupport.ui.session import console, require

st.title("Key lookup")

with page_boundary():
    identity = require(PageId.LOOKUP)
    handle = console()
    link_user = link_key = None
    try:
        link_user = parse_id("user", st.query_params.get_all("user"))
        link_key = parse_id("key", st.query_params.get_all("key"))
    except ParamError as exc:
        st.error(f"This link is not valid: {exc}.")
    text = st.text_input("Search", key="lookup_query", help=HELP[0].upper() + HELP[1:] + ".",
                         placeholder="email, user id, key:45, abcd…wxyz, fingerprint, or a ticket link")
    try:
        result = lookup_view.find(handle, text, link_user, link_key)
    except LookupQueryError as exc:
        st.error(str(exc), icon=":material/search_off:")
        result = None
    if result is not None:
        lookup_view.show(handle, identity, result, link_key)
    elif not text.strip():
        st.caption("Paste what the customer gave you; a ticket link with ?user= / &key= works too.")
