"""The connection test's cost, side by side in one run against the sandbox with injected latency:

* the project's re-test (nbsupport.conntest.check_credentials) of a healthy Kraken spot key, with
  GetApiKeyInfo and with it disabled (the scope-probe fallback), and of many keys in parallel;
* naive ccxt with default settings: `fetch_balance()` then the same scope checks through the unified API
  (fetch_open_orders, fetch_closed_orders, create_order with validate, cancel_order of an unknown id, and
  WithdrawInfo), ccxt's rate limiter on.

Requests are counted by the sandbox's request log (what reached the venue), wall time by the caller,
after one unmeasured warm-up re-test (first-use imports and caches are not the plan's cost).

    .venv/bin/python benchmarks/bench_retest.py                  # 50 ms latency
    .venv/bin/python benchmarks/bench_retest.py --latency-ms 20 --parallel-keys 50
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import ccxt  # noqa: E402

from nbsupport.config import Settings  # noqa: E402
from nbsupport.conntest import KeyMeta, check_credentials  # noqa: E402
from nbsupport.credentials import Credentials  # noqa: E402
from nbsupport.sandbox import SandboxKey, SandboxServer  # noqa: E402
from nbsupport.sandbox.cast import derived_api_key, derived_secret  # noqa: E402
from nbsupport.venues.urls import rewrite_urls  # noqa: E402


def new_key(server: SandboxServer, name: str, **settings: Any) -> SandboxKey:
    key = SandboxKey(api_key=derived_api_key(name), secret=derived_secret(name), name=name, **settings)
    server.add_key(key)
    return key


def project_retest(server: SandboxServer, key: SandboxKey) -> str:
    settings = Settings(exchange_urls={"kraken": server.origin, "krakenfutures": server.origin})
    result = check_credentials("kraken", Credentials(key.api_key, key.secret), KeyMeta(), settings)
    return result.diagnosis


def naive_ccxt(server: SandboxServer, key: SandboxKey) -> str:
    """What a first implementation looks like: the unified API, ccxt's defaults, one call per check."""
    exchange = ccxt.kraken({"apiKey": key.api_key, "secret": key.secret})
    exchange.urls["api"] = rewrite_urls(exchange.urls["api"], server.origin)
    checks: list[Callable[[], Any]] = [
        exchange.fetch_balance,
        lambda: exchange.fetch_open_orders(),
        lambda: exchange.fetch_closed_orders(),
        lambda: exchange.create_order("BTC/USD", "limit", "buy", 0.0001, 1, {"validate": True}),
        lambda: exchange.cancel_order("NBPRBE-XXXXX-NOORDR"),
        lambda: exchange.private_post_withdrawinfo({"asset": "XBT", "key": "none", "amount": "0.0001"}),
    ]
    failures = 0
    try:
        for check in checks:
            try:
                check()
            except ccxt.BaseError:
                failures += 1
    finally:
        exchange.close()
    # Cancel and WithdrawInfo fail by design (unknown order / withdrawal key): that is the green answer.
    return "ok" if failures <= 2 else f"{failures} checks failed"


def measure(server: SandboxServer, keys: list[SandboxKey], run: Callable[[SandboxServer, SandboxKey], str],
            parallel: bool = False) -> tuple[int, float, str]:
    before = len(server.log)
    started = time.perf_counter()
    if parallel:
        with ThreadPoolExecutor(max_workers=min(32, len(keys))) as pool:
            outcomes = list(pool.map(lambda k: run(server, k), keys))
    else:
        outcomes = [run(server, k) for k in keys]
    elapsed = time.perf_counter() - started
    verdicts = sorted(set(outcomes))
    return len(server.log) - before, elapsed, ",".join(verdicts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox delay per request")
    parser.add_argument("--parallel-keys", type=int, default=20, help="keys re-tested at once (project)")
    args = parser.parse_args(argv)

    rows: list[tuple[str, int, int, float, str]] = []
    with SandboxServer(latency_ms=args.latency_ms) as server:
        # One unmeasured run loads what every process loads once (ccxt's kraken description, the guides).
        project_retest(server, new_key(server, "bench-warm-up"))
        rows.append(("project: re-test, key info", 1,
                     *measure(server, [new_key(server, "bench-info")], project_retest)))
        probes = new_key(server, "bench-probes", key_info_enabled=False)
        rows.append(("project: re-test, scope probes", 1, *measure(server, [probes], project_retest)))
        many = [new_key(server, f"bench-many-{i}") for i in range(args.parallel_keys)]
        rows.append((f"project: {args.parallel_keys} keys in parallel", args.parallel_keys,
                     *measure(server, many, project_retest, parallel=True)))
        rows.append(("naive ccxt: fetch_balance + checks", 1,
                     *measure(server, [new_key(server, "bench-naive")], naive_ccxt)))
        overlap = server.max_overlap_per_key()

    print(f"sandbox latency {args.latency_ms:.0f} ms/request; max requests in flight for one key: {overlap}")
    header = (f"{'approach':<40} {'keys':>5} {'requests':>9} {'req/key':>8} {'wall s':>8} {'s/key':>7}  "
              "verdict")
    print(header)
    print("-" * len(header))
    for name, keys, requests, elapsed, verdict in rows:
        print(f"{name:<40} {keys:>5} {requests:>9} {requests / keys:>8.1f} {elapsed:>8.2f} "
              f"{elapsed / keys:>7.2f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
