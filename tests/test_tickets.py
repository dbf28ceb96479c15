"""The session ticket's parser: every form agents paste, one spelling out, anything else refused."""

from __future__ import annotations

import pytest

from nbsupport.tickets import TicketError, is_ticket, parse_ticket


@pytest.mark.parametrize(
    ("text", "ticket"),
    [
        ("ZD-1234", "ZD-1234"),
        ("ZD 1234", "ZD-1234"),
        ("zd1234", "ZD-1234"),
        ("zd-1234", "ZD-1234"),
        ("  ZD 9998 ", "ZD-9998"),
        ("#1234", "ZD-1234"),
        ("ZD-0042", "ZD-42"),
        ("FD-77", "FD-77"),
        ("fd 77", "FD-77"),
        ("https://noonbarbari.zendesk.com/agent/tickets/1234", "ZD-1234"),
        ("http://nb-support.zendesk.com/agent/tickets/1234/", "ZD-1234"),
        ("noonbarbari.zendesk.com/agent/tickets/1234?tab=events#comment", "ZD-1234"),
        ("https://noonbarbari.freshdesk.com/a/tickets/555", "FD-555"),
        ("https://noonbarbari.freshdesk.com/helpdesk/tickets/555", "FD-555"),
        ("HTTPS://NOONBARBARI.FRESHDESK.COM/A/TICKETS/555", "FD-555"),
    ],
)
def test_every_accepted_form_becomes_one_spelling(text: str, ticket: str) -> None:
    assert parse_ticket(text) == ticket
    assert parse_ticket(ticket) == ticket  # the normalised form is accepted as it is


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_no_text_is_no_ticket(empty: str | None) -> None:
    assert parse_ticket(empty) == "" and not is_ticket(empty)


@pytest.mark.parametrize(
    "text",
    [
        "1234",  # which desk?
        "hello",
        "not a ticket",
        "ZD-",
        "ZD-12a",
        "ZD--12",
        "JIRA-9",
        "ZD-1234567890123",  # 13 digits
        "ZD-１２３",  # full-width digits
        "<img src=x onerror=alert(1)>",
        "' OR 1=1 --",
        "ZD-1\x00",
        "https://evil.example.com/agent/tickets/1234",
        "https://nb.zendesk.com.evil.example/agent/tickets/1234",
        "https://nb.zendesk.com/agent/tickets/1234/../../admin",
        "https://nb.zendesk.com/agent/users/1234",
        "https://nb.freshdesk.com/support/tickets/1234",
        "javascript:alert(1)//nb.zendesk.com/agent/tickets/1",
        "x" * 10_000,
    ],
)
def test_anything_else_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(TicketError, match="not a ticket reference; write it as ZD-1234"):
        parse_ticket(text)
    assert not is_ticket(text)
