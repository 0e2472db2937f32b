"""The sandbox's HTTPS server: routing to the services, fault injection, accounting and admin endpoints.

Jira lives under `/rest/`, Salesforce under `/services/`, and sandbox-only endpoints under
`/_sandbox/` (never counted, never faulted). One lock serialises access to the data; latency is
slept outside it so concurrent clients overlap as they would against a real service.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from trackerbridge.sandbox.accounting import Accounting, RequestRecord
from trackerbridge.sandbox.faults import FaultInjector, FaultSpecError, parse_fault_spec
from trackerbridge.sandbox.web import Request, Response

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Service(Protocol):
    def handle(self, request: Request) -> Response: ...

    def fault_response(self, kind: str, retry_after: int) -> Response: ...


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        context: ssl.SSLContext,
        services: dict[str, Service],
        faults: FaultInjector,
        accounting: Accounting,
        lock: threading.RLock,
        admin: Callable[[Request], Response],
        on_write: Callable[[], None],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if address[0] not in LOOPBACK:
            raise ValueError(f"the sandbox serves on loopback only, not {address[0]!r}")
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.context = context
        self.services = services
        self.faults = faults
        self.accounting = accounting
        self.lock = lock
        self.admin = admin
        self.on_write = on_write
        self.clock = clock

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # Headers and body go out in separate writes; without NODELAY, Nagle and the client's delayed
        # ACK add ~40 ms to every response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (or fail TLS) mid-request are normal here; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxHTTPServer
    server_version = "trackerbridge-sandbox"

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            self.rfile = self.wfile = None  # type: ignore[assignment]

    def handle(self) -> None:
        if self.rfile is not None:
            super().handle()

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header from the sandbox's clock (pinned in tests), as a real server's own."""
        if timestamp is None and self.server.clock is not None:
            timestamp = self.server.clock().timestamp()
        return formatdate(timestamp, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Request lines go to accounting, not stderr (and never carry credentials)."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        method = "GET" if self.command == "HEAD" else self.command  # HEAD: GET without the body
        request = Request(method, self.path, dict(self.headers.items()), body)
        if request.path.startswith("/_sandbox/") or request.path in ("/_sandbox", "/"):
            self._send(self.server.admin(request))
            return
        service_name = _service_for(request.path)
        service = self.server.services.get(service_name) if service_name else None
        if service is None or service_name is None:
            self._send(Response(404, {"errorMessages": [f"No such endpoint: {request.path}"], "errors": {}}))
            return
        fault = self.server.faults.decide(service_name, method)
        if fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
        if fault.kind == "drop":
            self._record(service_name, request, "(dropped)", 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault.kind == "drop-reply":  # done, but the answer is lost on the way
            with self.server.lock:
                done = service.handle(request)
            if request.method != "GET" and done.status < 300:
                self.server.on_write()
            self._record(service_name, request, request.route, 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault.kind is not None:
            kind = "rate_limit" if fault.kind == "rate-limit" else "server_error"
            response = service.fault_response(kind, fault.retry_after)
            if kind == "server_error":
                response.status = fault.status
        else:
            with self.server.lock:
                response = service.handle(request)
            if request.method != "GET" and response.status < 300:
                self.server.on_write()
        self._record(service_name, request, request.route, response.status)
        self._send(response)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _record(self, service: str, request: Request, endpoint: str, status: int) -> None:
        self.server.accounting.record(RequestRecord(service, request.method, endpoint, request.path, status))

    def _send(self, response: Response) -> None:
        payload = response.encode()
        self.send_response(response.status)
        content_type = response.content_type()
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in response.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)


def _service_for(path: str) -> str | None:
    if path.startswith("/rest/"):
        return "jira"
    if path.startswith("/services/"):
        return "salesforce"
    return None


class Admin:
    """The sandbox-only endpoints: accounting, faults and clock, for tests and benchmarks."""

    def __init__(
        self,
        accounting: Accounting,
        faults: FaultInjector,
        clock: Any,
        save: Callable[[], None],
        index: Callable[[], dict[str, Any]] | None = None,
    ):
        self.index = index  # what `GET /` answers: endpoints and credentials, for a person with a browser or curl
        self.accounting = accounting
        self.faults = faults
        self.clock = clock
        self.save = save

    def __call__(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("GET", "") and self.index is not None:
                return Response(200, self.index())
            if route == ("GET", "/_sandbox/requests"):
                detail = request.arg("detail") in ("1", "true")
                return Response(200, self.accounting.summary(with_requests=detail))
            if route == ("DELETE", "/_sandbox/requests"):
                self.accounting.reset()
                return Response(204)
            if route == ("GET", "/_sandbox/faults"):
                return Response(200, {"rules": [r.describe() for r in self.faults.rules]})
            if route == ("PUT", "/_sandbox/faults"):
                body = request.json() or {}
                self.faults.replace(parse_fault_spec(body.get("spec", "")), body.get("seed"))
                return Response(200, {"rules": [r.describe() for r in self.faults.rules]})
            if route == ("GET", "/_sandbox/clock"):
                return Response(200, {"now": self.clock.now().isoformat()})
            if route == ("PUT", "/_sandbox/clock"):
                body = request.json() or {}
                self.clock.set(datetime.fromisoformat(body["now"]) if body.get("now") else None)
                return Response(200, {"now": self.clock.now().isoformat()})
            if route == ("POST", "/_sandbox/save"):
                self.save()
                return Response(204)
        except (FaultSpecError, ValueError, KeyError, TypeError) as exc:
            return Response(400, {"error": str(exc)})
        return Response(404, {"error": f"no sandbox endpoint {request.method} {request.path}"})
