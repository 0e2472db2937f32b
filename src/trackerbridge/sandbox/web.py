"""A minimal request/response model and router for the emulated services.

The services (Jira, Salesforce) are plain objects that turn a `Request` into a `Response`; the
HTTP server, fault injection and accounting live in `server.py`, so services are testable
without a socket.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    target: str  # path with query string, as sent
    headers: dict[str, str] = field(default_factory=dict)  # keys lower-cased
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)
    route: str = "(unrouted)"  # the matched route pattern, for accounting by endpoint

    def __post_init__(self) -> None:
        self.headers = {k.lower(): v for k, v in self.headers.items()}
        parts = urlsplit(self.target)
        self.path = parts.path
        self.query: dict[str, list[str]] = parse_qs(parts.query, keep_blank_values=True)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """Decode the JSON body; raise `BadJson` with the parser's message when it is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadJson(str(exc)) from exc


class BadJson(ValueError):
    pass


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()

    def content_type(self) -> str | None:
        if self.body is None:
            return None
        if isinstance(self.body, bytes):
            return self.headers.get("Content-Type", "text/plain;charset=UTF-8")
        return "application/json;charset=UTF-8"


Handler = Callable[[Request], Response]


class Router:
    """Method + path-pattern routing; `{name}` segments become `request.path_params`."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, pattern, re.compile(f"^{regex}/?$"), handler))

    def routes(self) -> list[tuple[str, str]]:
        """(method, pattern) of every route, in the order added: what `GET /` lists."""
        return [(method, pattern) for method, pattern, _, _ in self._routes]

    def match(self, request: Request) -> Handler | bool | None:
        """The handler, or True when the path exists under another method (a 405), or None (a 404)."""
        path_known = False
        for method, pattern, regex, handler in self._routes:
            m = regex.match(request.path)
            if not m:
                continue
            if method == request.method:
                request.path_params = m.groupdict()
                request.route = pattern
                return handler
            path_known = True
        return True if path_known else None
