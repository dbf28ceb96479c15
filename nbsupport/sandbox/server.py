"""The loopback sandbox: one threaded HTTP server speaking Kraken spot and Kraken Futures on one port.

Requests are told apart by path (`/0/...` is spot; `/derivatives/...`, `/api/history/...`, `/api/auth/...` are
futures), as the real hosts' paths differ. Edge faults (HTML 502, timeouts, dropped connections...) are
applied before routing; venue faults (rate limit, lockout) after the request authenticated.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from nbsupport.sandbox.futures import FUTURES_PATH_PREFIXES, FuturesVenue
from nbsupport.sandbox.keys import AUTHENTICATED_FAULTS, Fault, Product, SandboxKey
from nbsupport.sandbox.loopback import LoopbackHTTPServer
from nbsupport.sandbox.ratelimit import FUTURES_DEFAULT_POLICY, RateLimitPolicy
from nbsupport.sandbox.requestlog import RecordedRequest, RequestLog
from nbsupport.sandbox.spot import SpotVenue
from nbsupport.sandbox.state import KeyRegistry
from nbsupport.sandbox.wire import SPOT_INVALID_SIGNATURE, Incoming, Reply, fault_reply, spot_error

if TYPE_CHECKING:
    from nbsupport.sandbox.cast import CastMember

_INTERNAL_ERROR = "EGeneral:Internal error"


class _HTTPServer(LoopbackHTTPServer):
    def __init__(self, address: tuple[str, int], app: SandboxServer) -> None:
        self.app = app
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Kraken's edge answers as Cloudflare; Python's default banner would give the sandbox away.
    server_version = "cloudflare"
    sys_version = ""
    timeout = 60
    server: _HTTPServer

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        target = urlsplit(self.path)
        req = Incoming(
            method=self.command,
            path=target.path,
            query=target.query,
            headers=dict(self.headers.items()),
            body=body,
            peer_ip=self.client_address[0],
        )
        self.server.app.serve(self, req)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: object) -> None:
        # Request lines carry API keys in headers only, but stay quiet anyway: the RequestLog is the record.
        return

    def write_reply(self, reply: Reply) -> None:
        declared = len(reply.body) + (64 if reply.drop else 0)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(declared))
        if reply.drop:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """A Kraken-speaking venue on loopback. Use as a context manager, or call start() and stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        spot_rate_limit: RateLimitPolicy | None = None,
        futures_rate_limit: RateLimitPolicy | None = None,
        timeout_fault_s: float = 30.0,
        latency_ms: float = 0.0,
        bad_signature_error: str = SPOT_INVALID_SIGNATURE,
        log_limit: int | None = 200_000,
    ) -> None:
        self._address = (host, port)
        self.latency_ms = latency_ms
        self.timeout_fault_s = timeout_fault_s
        self.log = RequestLog(max_entries=log_limit)
        self._fault: Fault | None = None
        # Faults of one product only: Kraken spot and Futures are separate hosts that fail independently.
        self._product_faults: dict[Product, Fault] = {}
        self._stopping = threading.Event()
        self._registry = KeyRegistry(
            {
                "spot": spot_rate_limit or RateLimitPolicy(),
                "futures": futures_rate_limit or FUTURES_DEFAULT_POLICY,
            }
        )
        self._spot = SpotVenue(self._registry, lambda: self.current_fault("spot"), timeout_fault_s,
                               bad_signature_error)
        self._futures = FuturesVenue(self._registry, lambda: self.current_fault("futures"), timeout_fault_s)
        self._httpd: _HTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer(self._address, self)
        self._httpd.serve_in_background("sandbox-server")
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.stop()
        self._httpd = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("sandbox server is not running")
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    # --- keys and faults ---------------------------------------------------------------------------------

    def add_key(self, key: SandboxKey) -> None:
        self._registry.add(key)

    def add_keys(self, keys: Iterable[SandboxKey]) -> None:
        for key in keys:
            self.add_key(key)

    def add_cast(self, members: Iterable[CastMember]) -> None:
        self.add_keys(m.key for m in members if m.key is not None)

    def remove_key(self, product: Product, api_key: str) -> None:
        self._registry.remove(product, api_key)

    def set_fault(self, fault: Fault | str | None, *, product: Product | None = None) -> None:
        """A fault for every request from now on, or only for `product`'s requests; None restores normal
        service (everywhere, or for that product)."""
        value = Fault(fault) if fault is not None else None
        if product is not None:
            if value is None:
                self._product_faults.pop(product, None)
            else:
                self._product_faults[product] = value
            return
        self._fault = value
        if value is None:
            self._product_faults.clear()

    def current_fault(self, product: Product | None = None) -> Fault | None:
        """The server-wide fault, else (when asked about a product) that product's own."""
        if self._fault is not None or product is None:
            return self._fault
        return self._product_faults.get(product)

    # --- request log -------------------------------------------------------------------------------------

    def requests_for(self, api_key: str) -> list[RecordedRequest]:
        return self.log.requests_for(api_key)

    def max_overlap_per_key(self) -> int:
        return self.log.max_overlap_per_key()

    @property
    def state_change_attempts(self) -> int:
        return self.log.state_change_attempts

    def clear(self) -> None:
        self.log.clear()

    # --- serving -----------------------------------------------------------------------------------------

    def serve(self, handler: _Handler, req: Incoming) -> None:
        product: Product = "futures" if req.path.startswith(FUTURES_PATH_PREFIXES) else "spot"
        venue = self._futures if product == "futures" else self._spot
        api_key = venue.api_key_of(req)
        token = self.log.begin(
            RecordedRequest(
                api_key=api_key,
                product=product,
                method=req.method,
                path=req.path,
                nonce=venue.nonce_of(req),
                peer_ip=req.peer_ip,
                started_at=time.monotonic(),
                finished_at=None,
                status=None,
                error=None,
                state_change=venue.is_state_change(req),
            )
        )
        try:
            reply = self._answer(venue, product, api_key, req)
        except Exception:
            # The sandbox must never leak a traceback (or anything in it) onto the wire.
            reply = spot_error(_INTERNAL_ERROR, status=500)
        if reply.hang_s > 0:
            self._stopping.wait(reply.hang_s)
        # Finish the record before the last byte leaves, so a strictly sequential client can never appear
        # to overlap with itself.
        self.log.finish(token, None if reply.drop else reply.status, reply.error)
        try:
            handler.write_reply(reply)
        except OSError:
            handler.close_connection = True

    def _answer(
        self, venue: SpotVenue | FuturesVenue, product: Product, api_key: str | None, req: Incoming
    ) -> Reply:
        if self.latency_ms > 0:
            self._stopping.wait(self.latency_ms / 1000)
        fault = self.current_fault(product) or self._registry.fault_for(api_key)
        if fault is not None and (fault not in AUTHENTICATED_FAULTS or api_key is None):
            return fault_reply(fault, product, self.timeout_fault_s)
        return venue.handle(req)
