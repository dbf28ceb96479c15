"""Rejected credentials are tried once on the sibling product; a sibling that could not answer is said so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_conntest_support import TIMEOUT_FAULT_S, make_key, paths, run_key

from nbsupport.conntest import ConnectionOutcome
from nbsupport.credentials import Credentials
from nbsupport.sandbox import Fault, Product, SandboxKey, SandboxServer

UNCHECKED = "could not be checked"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(timeout_fault_s=TIMEOUT_FAULT_S) as running:
        yield running


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    try:
        yield server
    finally:
        server.set_fault(None)


def wrong_secret(sandbox: SandboxServer, key: SandboxKey) -> Credentials:
    return Credentials(key.api_key, make_key(sandbox, "other").secret)


def sibling_warnings(result: ConnectionOutcome) -> list[str]:
    return [w for w in result.warnings if UNCHECKED in w]


@pytest.mark.parametrize(("fault", "reason"), [
    (Fault.TIMEOUT, "(timeout: timeout)"),
    (Fault.HTML_502, "(unavailable: HTTP 502"),
    (Fault.SERVICE_UNAVAILABLE, "(unavailable: "),
    (Fault.HTTP_429, "(rate_limit: HTTP 429)"),
])
def test_spot_rejection_with_futures_down_stays_rejected_but_warns_the_sibling_was_not_checked(
    sandbox: SandboxServer, fault: Fault, reason: str
) -> None:
    key = make_key(sandbox, f"sibling-down-{fault.value}")
    sandbox.set_fault(fault, product="futures")
    result = run_key(sandbox, key, credentials=wrong_secret(sandbox, key))
    assert (result.diagnosis, result.exchange_error) == ("credentials_rejected", "EAPI:Invalid signature")
    [warning] = sibling_warnings(result)
    assert warning.startswith(f"krakenfutures {UNCHECKED} {reason}")
    assert "wrong product is not ruled out" in warning
    assert result.detail["sibling"]["checked"] is False
    assert result.requests == 2 and result.fix["id"] == "kraken-credentials-rejected"


def test_futures_rejection_with_spot_down_warns_that_spot_was_not_checked(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "sibling-spot-down", product="futures")
    sandbox.set_fault(Fault.HTML_502, product="spot")
    result = run_key(sandbox, key, credentials=wrong_secret(sandbox, key))
    assert result.diagnosis == "credentials_rejected"
    assert [w.split(" (")[0] for w in sibling_warnings(result)] == [f"kraken {UNCHECKED}"]
    assert result.detail["sibling"] == {"exchange": "kraken", "error": result.detail["sibling"]["error"],
                                        "kind": "unavailable", "checked": False}


def test_sibling_that_rejects_the_credentials_too_gives_no_warning(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "sibling-rejects")
    result = run_key(sandbox, key, credentials=wrong_secret(sandbox, key))
    assert result.diagnosis == "credentials_rejected"
    assert sibling_warnings(result) == []
    assert result.detail["sibling"] == {"exchange": "krakenfutures", "error": "authenticationError",
                                        "kind": "auth", "checked": True}


@pytest.mark.parametrize(("product", "claimed"), [("futures", "kraken"), ("spot", "krakenfutures")])
def test_sibling_that_accepts_is_wrong_product_without_a_warning(
    sandbox: SandboxServer, product: Product, claimed: str
) -> None:
    key = make_key(sandbox, f"sibling-accepts-{product}", product=product)
    result = run_key(sandbox, key, claimed)
    assert result.diagnosis == "wrong_product" and sibling_warnings(result) == []


def test_a_fault_of_one_product_leaves_the_other_answering(sandbox: SandboxServer) -> None:
    spot = make_key(sandbox, "one-product-spot")
    futures = make_key(sandbox, "one-product-futures", product="futures")
    sandbox.set_fault(Fault.SERVICE_UNAVAILABLE, product="futures")
    assert (run_key(sandbox, spot).diagnosis, run_key(sandbox, futures).diagnosis) == (
        "ok", "exchange_unavailable")
    sandbox.set_fault(None)
    assert run_key(sandbox, futures).diagnosis == "ok"
    assert paths(sandbox, futures) == ["accounts", "accounts", "check"]
