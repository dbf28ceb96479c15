"""Key detail and connection test: `?key=<id>` (optionally `&user=<id>`) or a key id typed in.

Opened from the navigation without `?key=`, it reopens the key this session last had open."""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import PageId
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.key_detail import remember_key, render_key, restore_key
from nbsupport.ui.params import ParamError, parse_id
from nbsupport.ui.session import current_console, require

st.title("Key detail")

with page_boundary():
    identity = require(PageId.KEY)
    console = current_console()
    try:
        user_id = parse_id("user", st.query_params.get_all("user"))
        key_id = parse_id("key", st.query_params.get_all("key"))
    except ParamError as exc:
        st.error(f"This link is not valid: {exc}.")
        user_id = key_id = None
    else:
        key_id = restore_key(key_id)
    typed = st.text_input("Key id", value=str(key_id or ""), placeholder="e.g. 45")
    if typed.strip() and typed.strip() != str(key_id or ""):
        try:
            key_id, user_id = parse_id("key", typed), None
            st.query_params.pop("user", None)
            st.query_params["key"] = str(key_id)
        except ParamError:
            st.error("A key id is a positive whole number; use the lookup page to search by anything else.")
            key_id = None
    if key_id is None:
        st.caption("Open a key from the lookup page, a ticket link, or type its id above.")
    elif render_key(console, identity, key_id, user_id):
        remember_key(key_id)
