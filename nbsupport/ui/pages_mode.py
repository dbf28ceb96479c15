"""Streamlit's legacy `pages/` folder mode and the one workaround for it; the only place it is explained.

The console routes every page through `st.navigation` (streamlit_app.py) and keeps the page files in
`pages/`, which is part of the product's layout. Until the router has run once in a server process,
Streamlit treats a `pages/` folder beside the entry script as a legacy multipage app
(`PagesManager.uses_pages_directory`, a class attribute set when the first session starts): the first
request for /<file stem> runs that page file without the router (no gate, no banner, no role-based
navigation), and any other path shows a "Page not found" dialog. Streamlit's only supported way out is to
rename the folder (docs.streamlit.io, "Overview of multipage apps": `pages/` is the legacy mechanism), so:

* `leave_pages_directory_mode`, which every page runs through `ui.session.require`: a page that finds
  itself run that way switches the process to `st.navigation` and reruns, which sends the same request
  through the router. Each page's url_path is therefore its file stem (streamlit_app.PAGES).
* `start_out_of_pages_directory_mode`, for harnesses that begin every run as a fresh server process would
  (AppTest resets the flag before each run): tests/pages and benchmarks/bench_pages.py model the server
  after its first request; tests/browser covers the first request itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def leave_pages_directory_mode() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def start_out_of_pages_directory_mode() -> Callable[[], None]:
    """Every PagesManager made from now on starts with the legacy mode off; returns the undo."""
    original = PagesManager.__init__

    # Any: whatever Streamlit's own constructor takes, passed through untouched.
    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    setattr(PagesManager, "__init__", init)  # noqa: B010 (assigning a method directly trips the type checker)
    return lambda: setattr(PagesManager, "__init__", original)
