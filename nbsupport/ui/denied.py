"""What a role sees on a page it may not open: the reason in words and links to the pages it may."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import streamlit as st


class PageLink(NamedTuple):
    path: str  # the page file, as registered with st.navigation
    title: str
    icon: str


def show_denial(title: str, reason: str, pages: Sequence[PageLink]) -> None:
    st.title(title)
    st.error(reason, icon=":material/block:")
    if pages:
        st.markdown("Pages your role can open:")
        for page in pages:
            st.page_link(page.path, label=page.title, icon=page.icon)
