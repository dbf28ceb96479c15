"""The connection-test engine: re-test a stored key and say exactly what is wrong and what to do.

`run_retest()` (nbsupport.conntest.retest) is what pages, the CLI and bulk re-tests call;
`check_credentials()` runs the same plan without the database (tests, benchmarks). Both answer with a
`ConnectionOutcome` (nbsupport.conntest.outcome); `recorded_tests()` reads a key's stored tests back. The
probe plan and its request cost are documented in `nbsupport.conntest.runner`, the diagnosis rules in
`nbsupport.conntest.classify`.

Thread-safe: each test has a ccxt client to itself (nbsupport.venues.client); calls for different keys run
in parallel, calls for one key are serialised by the lease in `retest_leases` (others get `RetestRefused`;
nbsupport.conntest.leased).
"""

from __future__ import annotations

from nbsupport.conntest.outcome import ConnectionOutcome, RecordedTest
from nbsupport.conntest.persist import recorded_tests
from nbsupport.conntest.result import KeyMeta, ProgressEvent, RetestRefused
from nbsupport.conntest.retest import run_retest
from nbsupport.conntest.runner import check_credentials
from nbsupport.conntest.scope_probe import ScopeAnswer, probe_scope

__all__ = [
    "ConnectionOutcome",
    "KeyMeta",
    "ProgressEvent",
    "RecordedTest",
    "RetestRefused",
    "ScopeAnswer",
    "check_credentials",
    "probe_scope",
    "recorded_tests",
    "run_retest",
]
