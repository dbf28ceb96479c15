"""A loopback server serving canned venue answers to the real ccxt client (venues the sandbox does not speak).

The ccxt client signs and sends each request exactly as in production; the stub records it, checks its
authentication with the test's own verifier (headers present, signature valid for the test's secret), and
answers from `answers[path]`. A request whose authentication does not check out gets `rejected` instead and
is listed in `auth_problems`, so a test asserting a healthy result also proves the signing:

    @pytest.fixture(scope="module")
    def venue() -> Iterator[CannedVenue]:
        with canned_venue(verify_okx, rejected=(401, {"code": "50113", "msg": "Invalid Sign"})) as stub:
            yield stub
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from nbsupport.sandbox.loopback import LoopbackHTTPServer

# A canned answer: HTTP status and a JSON-able body; a `str` body is sent as it is (text/html when it looks
# like a page, text/plain otherwise).
Answer = tuple[int, Any]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str  # the raw query string, as signed
    headers: dict[str, str]  # lower-case names
    body: str = ""


Verifier = Callable[[Request], str | None]  # a reason the request's authentication is wrong, or None


@dataclass
class CannedVenue:
    origin: str = ""
    answers: dict[str, Answer] = field(default_factory=dict)
    seen: list[Request] = field(default_factory=list)
    auth_problems: list[str] = field(default_factory=list)

    def serve(self, answers: dict[str, Answer]) -> None:
        """Answer these from now on, forgetting what earlier tests sent."""
        self.answers = dict(answers)
        self.seen.clear()
        self.auth_problems.clear()

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.seen]


def _handler(stub: CannedVenue, verify: Verifier | None, rejected: Answer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            path, _, query = self.path.partition("?")
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(self.command, path, query, headers, body)
            stub.seen.append(request)
            problem = verify(request) if verify is not None else None
            if problem:
                stub.auth_problems.append(f"{path}: {problem}")
                status, payload = rejected
            else:
                status, payload = stub.answers.get(path, (404, {"error": "no canned answer for this path"}))
            if isinstance(payload, str):
                data = payload.encode()
                kind = "text/html" if payload.lstrip().startswith("<") else "text/plain"
            else:
                data, kind = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def canned_venue(verify: Verifier | None = None, rejected: Answer = (401, {"error": "unauthorized"})
                 ) -> Iterator[CannedVenue]:
    stub = CannedVenue()
    server = LoopbackHTTPServer(("127.0.0.1", 0), _handler(stub, verify, rejected))
    server.serve_in_background("canned-venue")
    stub.origin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stub
    finally:
        server.stop()


def leaked(result: Any, *secrets: str) -> list[int]:
    """Positions of the `secrets` found, whole or as a 16-character piece, in a result's JSON or repr."""
    text = json.dumps(result.as_dict(), default=str) + repr(result)
    pieces = [{s} | {s[i:i + 16] for i in range(0, max(len(s) - 16, 0) + 1, 8)} for s in secrets]
    return [n for n, parts in enumerate(pieces) if any(p and p in text for p in parts)]
