"""`python -m nbsupport.sandbox`: run the sandbox venue in the foreground and print its origin.

The first stdout line is the origin (e.g. `http://127.0.0.1:9000`); with `--egress-ip` a second line gives
the egress proxy's URL. Runs until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from nbsupport.sandbox.cast import demo_cast
from nbsupport.sandbox.egress_proxy import EgressProxy
from nbsupport.sandbox.keys import Fault
from nbsupport.sandbox.server import SandboxServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nbsupport.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=9000, help="port to bind; 0 picks a free one (default 9000)"
    )
    parser.add_argument("--cast", choices=("demo", "none"), default="demo", help="keys to register")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every request")
    parser.add_argument(
        "--timeout-fault-s", type=float, default=30.0, help="how long the timeout fault hangs"
    )
    parser.add_argument("--fault", choices=[f.value for f in Fault], default=None, help="fail every request")
    parser.add_argument(
        "--egress-ip", default=None, help="also run an egress proxy leaving from this address"
    )
    parser.add_argument("--egress-port", type=int, default=0, help="port for the egress proxy (default: any)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    server = SandboxServer(
        args.host, args.port, latency_ms=args.latency_ms, timeout_fault_s=args.timeout_fault_s
    )
    if args.cast == "demo":
        server.add_cast(demo_cast())
    proxy = EgressProxy(args.egress_ip, args.host, args.egress_port) if args.egress_ip else None
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    server.set_fault(args.fault)
    try:
        server.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        print(server.origin, flush=True)
        if proxy is not None:
            proxy.start()
            print(proxy.url, flush=True)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
