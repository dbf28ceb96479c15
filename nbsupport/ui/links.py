"""Where a user or a key lives in the console: one spelling of every in-app link, so each id on every page
(lookup, key detail, triage, backfill, bulk, audit, history) opens the same stable page."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st
from streamlit.elements.lib.column_types import ColumnConfig

KEY_PAGE = "key_detail"
LOOKUP_PAGE = "lookup"


def key_url(key_id: int) -> str:
    """The key's one stable address: its card and its latest result, live while a test runs."""
    return f"/{KEY_PAGE}?{urlencode({'key': int(key_id)})}"


def user_url(user_id: int) -> str:
    return f"/{LOOKUP_PAGE}?{urlencode({'user': int(user_id)})}"


def key_link_column(label: str = "Key") -> ColumnConfig:
    """A dataframe column of `key_url` values shown as `key 45`."""
    return st.column_config.LinkColumn(label, display_text=r"key=(\d+)")


def user_link_column(label: str = "User") -> ColumnConfig:
    """A dataframe column of `user_url` values shown as the user id."""
    return st.column_config.LinkColumn(label, display_text=r"user=(\d+)")
