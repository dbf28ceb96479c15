"""Helpers for tests that talk to the sandbox venue through the real ccxt clients.

A test module wraps `running_sandbox()` in its own fixture (importing a fixture by name would shadow it):

    @pytest.fixture
    def sandbox() -> Iterator[SandboxServer]:
        with running_sandbox() as server:
            yield server
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ccxt

from nbsupport.sandbox import CastMember, SandboxServer, demo_cast
from nbsupport.venues.urls import rewrite_urls

# Long enough for a loaded CI machine, short enough that the timeout fault costs well under a second.
FAST_CLIENT_TIMEOUT_MS = 400


@contextmanager
def running_sandbox(**options: Any) -> Iterator[SandboxServer]:
    """A running sandbox holding the demo cast; the timeout fault hangs 5 s unless told otherwise."""
    options.setdefault("timeout_fault_s", 5.0)
    server = SandboxServer(**options)
    server.add_cast(demo_cast())
    with server:
        yield server


def ccxt_client(exchange_id: str, api_key: str, secret: str, origin: str, **options: Any) -> ccxt.Exchange:
    """A real sync ccxt client whose every API URL points at `origin`, without client-side throttling."""
    config: dict[str, Any] = {"apiKey": api_key, "secret": secret, "enableRateLimit": False, "timeout": 5000}
    config.update(options)
    exchange: ccxt.Exchange = getattr(ccxt, exchange_id)(config)
    exchange.urls["api"] = rewrite_urls(exchange.urls["api"], origin)
    return exchange


def client_for(member: CastMember, origin: str, **options: Any) -> ccxt.Exchange:
    """The client the user's stored credential would get: the exchange they claimed, their key and secret."""
    return ccxt_client(member.claimed_exchange, member.api_key, member.secret, origin, **options)
