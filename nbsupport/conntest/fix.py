"""The `fix` payload of a result: the error guide's row for the diagnosis, in one place.

One exception: an IP refusal of a test that did not leave from the platform's egress address is the
console's problem, so its fix speaks to support and asks nothing of the customer.
"""

from __future__ import annotations

from typing import Any

from nbsupport.diagnosis import Diagnosis

EGRESS_MISMATCH_FIX_ID = "console-egress-mismatch"


def guide_fix(diagnosis: str, exchange: str | None) -> dict[str, Any]:
    from nbsupport.guide import fix_for

    try:
        return fix_for(diagnosis, exchange).as_fix_payload()
    except LookupError:
        # A venue without a guide of its own and no generic row yet: still name the code.
        return {"id": diagnosis, "title": Diagnosis(diagnosis).value.replace("_", " "), "steps": [],
                "customer_reply": ""}


def egress_mismatch_fix(egress_ip: str, left_from: str) -> dict[str, Any]:
    return {
        "id": EGRESS_MISMATCH_FIX_ID,
        "title": "The test did not leave from the platform's egress address",
        "steps": [
            f"The key's IP allowlist refused a test that left from {left_from}, not from {egress_ip}: "
            "this says nothing about the customer's allowlist.",
            "Set NBSUPPORT_EGRESS_PROXY to the platform egress proxy (and NBSUPPORT_EGRESS_IP to the address "
            "it leaves from), then re-test before asking the customer to change anything.",
        ],
        "customer_reply": "",
    }


def fix_payload(diagnosis: str, exchange: str | None, *, egress_mismatch: bool, egress_ip: str,
                left_from: str) -> dict[str, Any]:
    if diagnosis == Diagnosis.IP_NOT_ALLOWED and egress_mismatch:
        return egress_mismatch_fix(egress_ip, left_from)
    return guide_fix(diagnosis, exchange)
