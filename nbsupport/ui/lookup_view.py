"""The lookup page's parts: what to look up (search box, ticket deep link, or what this session looked at
last), the audit rows for what is shown, and the results (ranked users with why each matched, linked
masked keys, the chosen key in full)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from nbsupport.audit import Action
from nbsupport.auth import Identity
from nbsupport.console import Console
from nbsupport.lookup import LookupResult, lookup
from nbsupport.ui.key_card import keys_table, user_card, venue_name
from nbsupport.ui.key_detail import render_key
from nbsupport.ui.links import user_link_column, user_url
from nbsupport.ui.params import parse_id
from nbsupport.ui.trail import record_views

MAX_USER_CARDS = 1  # one user: the card; more: a ranked table, each row a link to that user
QUERY_KEY = "lookup_query"  # the search box's widget state
# Widget state is dropped when another page runs; this copy is not, so coming back restores the search.
MEMORY_KEY = "lookup_memory"
PARAMS = ("q", "user", "key")


@dataclass(frozen=True)
class PageState:
    """What the lookup page shows: the search text and the user / key opened from it or from a link."""

    q: str = ""
    user: int | None = None
    key: int | None = None


def restore() -> PageState:
    """Before the search box is drawn. The address wins (a ticket link, a reload: `?q=`, `?user=`,
    `?key=`); without one, what this session showed last (switching pages clears the address). Fills the
    search box when it is drawn afresh. Raises ParamError for a malformed `?user=` / `?key=`."""
    params = st.query_params
    if any(params.get_all(name) for name in PARAMS):
        state = PageState(params.get("q", "").strip(), parse_id("user", params.get_all("user")),
                          parse_id("key", params.get_all("key")))
    else:
        state = st.session_state.get(MEMORY_KEY, PageState())
        # Back from another page: the search is in the address before it is on screen again.
        _to_address(state)
    if QUERY_KEY not in st.session_state:
        st.session_state[QUERY_KEY] = state.q
    return state


def remember(state: PageState) -> None:
    """Keep what the page shows for the next visit and put it in the address, so a reload or a copied
    address brings it back."""
    st.session_state[MEMORY_KEY] = state
    _to_address(state)


def _to_address(state: PageState) -> None:
    values = {"q": state.q, "user": state.user, "key": state.key}
    for name, value in values.items():
        if value in ("", None):
            st.query_params.pop(name, None)
        elif st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)


def find(console: Console, text: str, link_user: int | None, link_key: int | None) -> LookupResult | None:
    """The search box wins over the link; None when there is neither. Raises LookupQueryError."""
    if text.strip():
        with console.session() as session:
            return lookup(session, text)
    if link_key is None and link_user is None:
        return None
    with console.session() as session:
        result = lookup(session, f"key:{link_key}" if link_key is not None else f"user:{link_user}")
    if link_key is not None and link_user is not None:
        # A link naming a key of another user shows nothing, exactly like a key that does not exist.
        result.keys = [k for k in result.keys if k.user_id == link_user]
        result.users = [u for u in result.users if u.id == link_user] if result.keys else []
    return result


def record(console: Console, identity: Identity, result: LookupResult) -> None:
    """Masked metadata is still a view of a customer's keys: one row per key shown (as the CLI does),
    and one per matched user who has no key in the results."""
    detail = {"query": result.query.kind}
    with_keys = {k.user_id for k in result.keys}
    record_views(console, identity, Action.KEY_VIEW, [(k.user_id, k.id) for k in result.keys],
                 result="lookup", detail=detail)
    keyless = [(u.id, None) for u in result.users if u.id not in with_keys]
    record_views(console, identity, Action.USER_VIEW, keyless, result="lookup", detail=detail)


def users_table(result: LookupResult) -> None:
    """Ranked users, best match first, each with why it matched and a link to that user alone."""
    counts = pd.Series([k.user_id for k in result.keys], dtype="int64").value_counts()
    frame = pd.DataFrame([{"user": user_url(u.id), "name": u.display_name, "email": u.email,
                           "matched": u.why, "keys": int(counts.get(u.id, 0))} for u in result.users])
    st.dataframe(frame, hide_index=True, column_config={"user": user_link_column("user")})


def show(console: Console, identity: Identity, result: LookupResult, link_key: int | None) -> int | None:
    """Renders the result; returns the key opened in full, if any."""
    if not result.users and not result.keys:
        st.info("No user or key matches that search.", icon=":material/person_search:")
        return None
    record(console, identity, result)
    more = "+" if result.truncated else ""
    if len(result.users) > MAX_USER_CARDS:
        st.subheader(f"Users ({len(result.users)}{more}), best match first")
        users_table(result)
    else:
        user_card(result.users[0])
    if result.truncated:
        st.caption("More match than are shown: narrow the search (a full name, an email, a key).")
    if not result.keys:
        st.info("This user has no exchange keys.")
        return None
    st.subheader(f"Keys ({len(result.keys)}{more})")
    keys_table(result.keys, result.key_why)
    views = {k.id: k for k in result.keys}
    ids = list(views)
    default = ids.index(link_key) if link_key in views else (0 if len(ids) == 1 else None)
    chosen = st.selectbox(
        "Open a key", ids, index=default, placeholder="choose a key…",
        format_func=lambda i: (f"#{i} · {venue_name(views[i].exchange)} {views[i].product} · "
                               f"{views[i].masked_key}{' · ' + views[i].label if views[i].label else ''}"),
    )
    if chosen is None:
        return None
    st.divider()
    render_key(console, identity, chosen)
    return chosen
