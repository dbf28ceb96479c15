"""The threaded HTTP server both loopback services (sandbox, egress proxy) stand on."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer

# What socketserver hands its hooks: an accepted socket (TCP), or a datagram and its socket (UDP).
_Request = socket.socket | tuple[bytes, socket.socket]


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Tracks open connections so stop() can wake handlers parked on idle keep-alive sockets."""

    daemon_threads = True
    # stop() must not wait for a handler that is deliberately hanging (the timeout fault).
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: more simultaneous connects (a bulk re-test, a benchmark)
    # would have their SYNs dropped and retried a second later, i.e. time out in the client.
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], handler: type) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._serving: threading.Thread | None = None
        super().__init__(address, handler)

    def process_request(self, request: _Request, client_address: object) -> None:
        assert isinstance(request, socket.socket)  # a TCP server's requests are its accepted sockets
        # http.server sends the headers and the body in two writes; with Nagle on, the body waits for the
        # client's delayed ACK (40 ms on Linux), which a real venue's edge does not add to each response.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        assert isinstance(request, socket.socket)
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def serve_in_background(self, name: str) -> None:
        self._serving = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )
        self._serving.start()

    def stop(self) -> None:
        """Stop serving, wake idle keep-alive handlers, close the socket, wait for the serving thread."""
        self.shutdown()
        self.close_connections()
        self.server_close()
        if self._serving is not None:
            self._serving.join(timeout=5)

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive sockets so they exit now, not at client close."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
