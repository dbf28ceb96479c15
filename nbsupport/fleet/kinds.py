"""Whose key it is: a customer's, a practice key of the sandbox cast, or one of Noon Barbari's own.

Fleet figures describe customers: practice keys (`practice+<case>@noonbarbari.local`, re-tested on
purpose against failure modes) and internal keys (staff on `@noonbarbari.*`) are left out unless a
reader asks for them. A user's kind follows from their email when the row is created (and in migration
0005's backfill); their keys carry the owner's kind so fleet queries filter without a join.
"""

from __future__ import annotations

from typing import Final

CUSTOMER: Final = "customer"
PRACTICE: Final = "practice"
INTERNAL: Final = "internal"
KINDS: Final = (CUSTOMER, PRACTICE, INTERNAL)
# The toggle every fleet view and the bulk cohort show, in these words.
INCLUDE_LABEL = "Include practice and internal keys"
# What every fleet figure counts unless the reader includes the others.
CUSTOMER_ONLY: Final = (CUSTOMER,)

PRACTICE_PREFIX = "practice+"
PRACTICE_DOMAIN = "noonbarbari.local"
INTERNAL_DOMAIN_PREFIX = "noonbarbari."
# The same rules in SQL (migration 0005 copies them; a test checks both agree).
PRACTICE_LIKE = f"{PRACTICE_PREFIX}%@{PRACTICE_DOMAIN}"
INTERNAL_LIKE = f"%@{INTERNAL_DOMAIN_PREFIX}%"


def kind_for_email(email: str) -> str:
    """customer / practice / internal for a (normalised, lower-case) email address."""
    local, _, domain = email.strip().lower().rpartition("@")
    if domain.startswith(INTERNAL_DOMAIN_PREFIX):
        if local.startswith(PRACTICE_PREFIX) and domain == PRACTICE_DOMAIN:
            return PRACTICE
        return INTERNAL
    return CUSTOMER


def kinds_counted(include_non_customer: bool) -> tuple[str, ...]:
    """The key kinds a fleet figure counts."""
    return KINDS if include_non_customer else CUSTOMER_ONLY
