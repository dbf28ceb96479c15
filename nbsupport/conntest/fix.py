"""The `fix` payload of a result: the error guide's row for the diagnosis, in one place.

One exception: an IP refusal of a test that did not leave from the platform's egress address is the
console's problem, so it gets the guide's `console-egress-mismatch` row, which asks nothing of the user.
"""

from __future__ import annotations

from typing import Any

from nbsupport.diagnosis import Diagnosis
from nbsupport.guide import fix_for, get_fix

EGRESS_MISMATCH_FIX_ID = "console-egress-mismatch"


def fix_payload(diagnosis: str, exchange: str | None, *, egress_mismatch: bool) -> dict[str, Any]:
    if diagnosis == Diagnosis.IP_NOT_ALLOWED and egress_mismatch:
        row = get_fix(EGRESS_MISMATCH_FIX_ID)
        if row is None:
            raise LookupError(f"the error guide lost its {EGRESS_MISMATCH_FIX_ID} entry")
        return row.as_fix_payload()
    return fix_for(diagnosis, exchange).as_fix_payload()
