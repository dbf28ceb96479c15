"""One folded form of names and email parts for search, written with every user row and applied to what an
agent types alike: lower case (Unicode case folding), accents off, one space between words.

`users.name_search` holds the folded display name, `users.surname_search` what follows its first word,
`users.email_local` / `users.email_domain` the email's two halves; each has a B-tree index, so a name, a
surname, a first name, the start of an email or its domain is one index range (`nbsupport.lookup`).
"""

from __future__ import annotations

import unicodedata

NAME_LENGTH = 200
EMAIL_PART_LENGTH = 320
SEARCH_COLUMNS = ("name_search", "surname_search", "email_local", "email_domain")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def name_columns(display_name: str | None) -> tuple[str, str]:
    """(name_search, surname_search): the whole folded name, and what follows its first word."""
    name = fold(display_name or "")[:NAME_LENGTH]
    return name, name.partition(" ")[2]


def email_columns(email: str | None) -> tuple[str, str]:
    """(email_local, email_domain), folded like a query; an address without @ is all local part."""
    email = fold(email or "")
    local, _, domain = email.rpartition("@") if "@" in email else (email, "", "")
    return local[:EMAIL_PART_LENGTH], domain[:EMAIL_PART_LENGTH]


def search_columns(email: str | None, display_name: str | None) -> dict[str, str]:
    """The four search columns of a user row, for writers that bypass the ORM (the demo's bulk load)."""
    return dict(zip(SEARCH_COLUMNS, (*name_columns(display_name), *email_columns(email)), strict=True))
