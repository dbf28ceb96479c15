""""Copy link for the ticket": the key page's absolute address in a code block, whose copy button puts it
on the clipboard, ready to paste into the ticket. The address starts with the one the agent's browser
uses (`st.context.url`: scheme, host, port and any base path, without the page), so it is right behind a
proxy too."""

from __future__ import annotations

import streamlit as st

from nbsupport.ui.links import key_url


def absolute_url(path: str, app_url: str | None) -> str:
    """An in-app link such as `/key_detail?key=45` under the app's address; the bare path without one."""
    return f"{app_url.rstrip('/')}{path}" if app_url else path


def copy_key_link(key_id: int) -> str:
    """The key's stable address with Streamlit's copy button; returns the address."""
    url = absolute_url(key_url(key_id), st.context.url)
    st.caption("Copy link for the ticket")
    st.code(url, language=None)
    return url
