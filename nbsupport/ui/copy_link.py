""""Copy link for the ticket": the key page's absolute address in a code block, whose copy button puts it
on the clipboard, ready to paste into the ticket. Scheme and host are the ones the agent's browser uses
(`st.context.url`, which also holds the current page's path, so only its origin is kept); the base path is
the server's `server.baseUrlPath`, so the address is right behind a proxy too."""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from nbsupport.ui.links import key_url


def absolute_url(path: str, browser_url: str | None, base_path: str = "") -> str:
    """An in-app link such as `/key_detail?key=45` under the app's origin and base path; the bare path
    when the browser's address is unknown."""
    if not browser_url:
        return path
    parts = urlsplit(browser_url)
    base = f"/{base_path.strip('/')}" if base_path.strip("/") else ""
    return f"{parts.scheme}://{parts.netloc}{base}{path}"


def copy_key_link(key_id: int) -> str:
    """The key's stable address with Streamlit's copy button; returns the address."""
    url = absolute_url(key_url(key_id), st.context.url, str(st.get_option("server.baseUrlPath") or ""))
    st.caption("Copy link for the ticket")
    st.code(url, language=None)
    return url
