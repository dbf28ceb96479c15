"""Helpers the connection-test suites share: sandbox keys, settings that point ccxt at the sandbox.

Kept as a module of plain functions (no tests, no fixtures) so every `test_conntest_*` file can import it
and define its own module-scoped sandbox fixture.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from nbsupport.config import Settings
from nbsupport.conntest import ConnectionOutcome, KeyMeta, check_credentials
from nbsupport.credentials import Credentials
from nbsupport.sandbox import SandboxKey, SandboxServer
from nbsupport.sandbox.cast import derived_api_key, derived_secret

# Short enough to keep the timeout cases fast, long enough for a loaded CI machine's loopback.
TIMEOUT_MS = 700
TIMEOUT_FAULT_S = 2.0

_names = itertools.count()


def unique(name: str) -> str:
    """A key name no other test (or xdist worker) uses, so request logs and nonces never mix."""
    return f"{name}-{os.getpid()}-{next(_names)}"


def sandbox_settings(server: SandboxServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "exchange_urls": {"kraken": server.origin, "krakenfutures": server.origin},
        "request_timeout_ms": TIMEOUT_MS,
        "retest_cooldown_s": 0,
    }
    values.update(overrides)
    return Settings(**values)


def make_key(server: SandboxServer, name: str, **settings: Any) -> SandboxKey:
    """Register a fresh sandbox key (spot unless `product="futures"`) with derived credentials."""
    name = unique(name)
    key = SandboxKey(api_key=derived_api_key(name), secret=derived_secret(name), name=name, **settings)
    server.add_key(key)
    return key


def credentials_of(key: SandboxKey) -> Credentials:
    return Credentials(key.api_key, key.secret)


def run_key(
    server: SandboxServer,
    key: SandboxKey,
    exchange: str | None = None,
    *,
    settings: Settings | None = None,
    meta: dict[str, Any] | None = None,
    credentials: Credentials | None = None,
) -> ConnectionOutcome:
    exchange = exchange or ("kraken" if key.product == "spot" else "krakenfutures")
    return check_credentials(
        exchange,
        credentials or credentials_of(key),
        KeyMeta(exchange=exchange, **(meta or {})),
        settings or sandbox_settings(server),
    )


def paths(server: SandboxServer, key: SandboxKey) -> list[str]:
    return [entry.path.rsplit("/", 1)[-1] for entry in server.requests_for(key.api_key)]
