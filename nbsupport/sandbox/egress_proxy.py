"""A tiny loopback HTTP forward proxy that leaves from a chosen source address (the "platform egress IP").

Clients send absolute-URI requests (`GET http://127.0.0.1:9000/0/private/Balance HTTP/1.1`), as `requests`
does for http:// targets when given `proxies={"http": proxy.url}` (ccxt: `exchange.httpProxy = proxy.url`).
The upstream connection binds `source_address=(egress_ip, 0)`; on Linux all of 127.0.0.0/8 is loopback, so a
sandbox key allowlisting 127.0.0.2 is reachable only through this proxy. Only plain HTTP; CONNECT is refused.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from urllib.parse import urlsplit

from nbsupport.sandbox.loopback import LoopbackHTTPServer

# Hop-by-hop headers (RFC 9110 §7.6.1) are for this hop only and never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class _ProxyServer(LoopbackHTTPServer):
    def __init__(self, address: tuple[str, int], proxy: EgressProxy) -> None:
        self.proxy = proxy
        super().__init__(address, _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    server: _ProxyServer

    def _forward(self) -> None:
        proxy = self.server.proxy
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self._refuse(400, "absolute http:// URI required")
            return
        if not proxy.may_reach(target.hostname):
            self._refuse(403, "target not allowed")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        path = target.path or "/"
        if target.query:
            path += "?" + target.query
        upstream = http.client.HTTPConnection(
            target.hostname,
            target.port or 80,
            timeout=proxy.upstream_timeout_s,
            source_address=(proxy.egress_ip, 0),
        )
        try:
            upstream.request(self.command, path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            # The upstream hung up or broke mid-response: hang up on the client the same way.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        finally:
            upstream.close()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        # The client may have given up meanwhile (its own timeout): no traceback for a closed socket.
        with contextlib.suppress(OSError):
            self.end_headers()
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def do_CONNECT(self) -> None:
        self._refuse(501, "CONNECT not supported")

    def _refuse(self, status: int, reason: str) -> None:
        body = reason.encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class EgressProxy:
    def __init__(
        self,
        egress_ip: str = "127.0.0.2",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        upstream_timeout_s: float = 60.0,
        allow_any_host: bool = False,
    ) -> None:
        self.egress_ip = egress_ip
        self.upstream_timeout_s = upstream_timeout_s
        # Loopback targets only unless told otherwise: this is a test tool, not an open relay.
        self.allow_any_host = allow_any_host
        self._address = (host, port)
        self._httpd: _ProxyServer | None = None

    def may_reach(self, hostname: str) -> bool:
        if self.allow_any_host:
            return True
        if hostname == "localhost":
            return True
        try:
            return ipaddress.ip_address(hostname).is_loopback
        except ValueError:
            return False

    def start(self) -> EgressProxy:
        if self._httpd is None:
            self._httpd = _ProxyServer(self._address, self)
            self._httpd.serve_in_background("sandbox-egress-proxy")
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.stop()
            self._httpd = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("egress proxy is not running")
        return f"http://{self._address[0]}:{self._httpd.server_address[1]}"

    def __enter__(self) -> EgressProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
