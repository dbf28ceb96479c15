"""The error-guide page run standalone with AppTest: table, paste-to-fix, deep links, no HTML injection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nbsupport.guide import fix_for, load_table
from nbsupport.ui.fix_card import highlight_markdown

# AppTest resolves a relative path against the calling test file, so anchor it at the repo root.
PAGE = Path(__file__).resolve().parents[2] / "pages" / "error_guide.py"
INJECTION = '<script>alert(1)</script><img src=x onerror="alert(2)">'


@pytest.fixture(autouse=True)
def _signed_in(app_env: object) -> None:
    """Every role may open the guide; the demo identity (an agent) stands in for all of them."""


def test_the_guide_refuses_a_visitor_who_is_not_signed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBSUPPORT_DEMO", "0")
    from nbsupport import config

    config.get_settings.cache_clear()
    at = _page()
    assert not at.exception
    assert at.error and not at.dataframe


def test_broken_settings_are_named_as_on_every_other_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBSUPPORT_ROLES", "not json")
    from nbsupport import config

    config.get_settings.cache_clear()
    at = _page()
    assert not at.exception
    assert at.error[0].value == "The console is misconfigured: invalid NBSUPPORT setting(s) roles."


def _page(fix: str | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=30)
    if fix is not None:
        at.query_params["fix"] = fix
    return at.run()


def _paste(at: AppTest, text: str) -> AppTest:
    at.text_area(key="pasted_error").input(text)
    return at.run()


def _assert_no_raw_html(at: AppTest) -> None:
    assert not at.get("html")
    for element in (*at.markdown, *at.caption, *at.error, *at.info):
        body = element.value
        # Escaped (`\<script`) is inert text; only a bare `<` would start a tag.
        assert not re.search(r"(?<!\\)<(script|img)", body), body
        proto = getattr(element, "proto", None)
        assert not getattr(proto, "allow_html", False)


def test_page_renders_the_whole_fix_table() -> None:
    at = _page()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == len(load_table().rows)
    assert {"fix_id", "venue", "diagnosis", "title"} <= set(table.columns)


def test_pasting_invalid_signature_shows_the_credentials_fix_and_copyable_reply() -> None:
    at = _paste(_page(), "EAPI:Invalid signature")
    assert not at.exception
    row = fix_for("credentials_rejected", "kraken")
    assert row.title in [s.value for s in at.subheader]
    assert row.customer_reply in [c.value for c in at.code]
    assert any("`EAPI:Invalid signature`" in m.value for m in at.markdown)


def test_pasted_text_with_no_known_error_says_so() -> None:
    at = _paste(_page(), "my bot is sad")
    assert not at.exception
    assert "No fix matches" in at.info[0].value


def test_deep_link_by_fix_id_opens_that_fix() -> None:
    at = _page(fix="kraken-key-expired")
    assert not at.exception
    row = load_table().by_id("kraken-key-expired")
    assert row is not None
    assert at.subheader[0].value == row.title
    assert at.code[0].value == row.customer_reply


def test_unknown_fix_id_in_link_gives_a_clear_escaped_message() -> None:
    at = _page(fix=INJECTION)
    assert not at.exception
    assert "No fix with id" in at.error[0].value
    assert not at.subheader
    _assert_no_raw_html(at)


def test_injected_html_in_pasted_error_is_never_rendered_as_html() -> None:
    at = _paste(_page(), f"{INJECTION} kraken said EAPI:Invalid signature [link](javascript:alert(3))")
    assert not at.exception
    assert at.subheader[0].value == fix_for("credentials_rejected", "kraken").title
    _assert_no_raw_html(at)
    assert not any("](javascript" in m.value for m in at.markdown)
    at = _paste(at, INJECTION)
    assert not at.exception
    _assert_no_raw_html(at)


def test_search_and_filters_narrow_the_table() -> None:
    at = _page()
    at.text_input(key="table_query").input("nonce").run()
    ids = at.dataframe[0].value["fix_id"].tolist()
    assert ids and all("nonce" in fix_id for fix_id in ids)
    at.selectbox[1].select("krakenfutures").run()
    assert at.dataframe[0].value["fix_id"].tolist() == ["krakenfutures-invalid-nonce"]
    assert not at.exception


def test_selecting_a_table_row_deep_links_to_it() -> None:
    at = _page()
    at.text_input(key="table_query").input("lockout").run()
    at.session_state["fix_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.query_params["fix"] == "kraken-temporary-lockout"
    assert at.subheader[0].value == load_table().by_id("kraken-temporary-lockout").title  # type: ignore[union-attr]


def test_highlight_puts_only_the_match_in_a_code_span() -> None:
    text = "before <i>x</i> EAPI:Invalid key after"
    start = text.index("EAPI")
    out = highlight_markdown(text, (start, start + len("EAPI:Invalid key")))
    assert out.endswith("`EAPI:Invalid key` after")
    assert "\\<i\\>" in out


def test_pasting_permission_denied_shows_every_cause_ranked_with_what_tells_them_apart() -> None:
    at = _paste(_page(), 'kraken {"error":["EGeneral:Permission denied"]}')
    assert not at.exception
    table = load_table()
    missing, ip = table.by_id("kraken-missing-permission"), table.by_id("kraken-ip-not-allowed")
    assert missing is not None and ip is not None
    assert [s.value for s in at.subheader][:2] == [missing.title, ip.title]
    assert "has 2 possible causes" in at.warning[0].value
    texts = [m.value for m in at.markdown]
    assert any(t.startswith("**Cause 1 of 2:** `missing_permission`") for t in texts)
    assert any(t.startswith("**Cause 2 of 2:** `ip_not_allowed`") for t in texts)
    assert any("allowlist decides between IP and permission" in t for t in texts)
    replies = [c.value for c in at.code]
    assert missing.customer_reply in replies and ip.customer_reply in replies


def test_pasting_an_order_error_says_it_is_not_a_key_problem() -> None:
    at = _paste(_page(), 'kraken {"error":["EOrder:Insufficient funds"]}')
    assert not at.exception
    assert "Not a key problem" in at.success[0].value and "trading desk" in at.success[0].value
    assert at.subheader[0].value == load_table().by_id("kraken-not-a-key-problem").title  # type: ignore[union-attr]
    assert not at.warning
