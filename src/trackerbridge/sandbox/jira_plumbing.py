"""The emulated Jira's plumbing: authentication, Cloud's rate limit, routing and Jira's error body; the
base of the service's parts (`JiraService` in jira_api.py puts them together).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import trackerbridge.sandbox.jira_model as m
from trackerbridge.sandbox.clock import Clock
from trackerbridge.sandbox.jira_edit import IssueEditor
from trackerbridge.sandbox.jira_render import JiraRenderer, jira_datetime
from trackerbridge.sandbox.web import BadJson, Request, Response, Router

if TYPE_CHECKING:
    from trackerbridge.sandbox.jira_api import JiraAuth


NOT_FOUND = "Issue does not exist or you do not have permission to see it."


def error(status: int, *messages: str, errors: dict[str, str] | None = None) -> Response:
    return Response(status, {"errorMessages": list(messages), "errors": errors or {}})


class JiraPlumbing:
    """What every part of the Jira service shares."""

    # set by JiraService.__init__; declared here for the parts that use them
    data: m.JiraData
    clock: Clock
    auth: JiraAuth
    flavor: str
    cloud: bool
    editor: IssueEditor
    rate_limit: int
    _window: tuple[datetime, int] | None
    _cursors: OrderedDict[str, tuple[list[str], str]]
    _search_cache: tuple[tuple[Any, ...], list[str]] | None
    contexts: dict[str, list[dict[str, Any]]]
    live_pages: bool
    _sent_order: dict[tuple[str, str], tuple[Any, str]]
    hide_deployment_type: bool
    notify_probes: int
    notify_requires_admin: bool
    version: int
    router: Router
    render: JiraRenderer

    # --- plumbing -----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if not self.rate_limit:
            return self._handle(request)
        return self._rate_limited(request)

    def _rate_limited(self, request: Request) -> Response:
        """Jira Cloud's rate-limit headers on every answer, as the reference describes them
        (https://developer.atlassian.com/cloud/jira/platform/rate-limiting): `X-RateLimit-Limit`,
        `X-RateLimit-Remaining`, `X-RateLimit-Reset` (ISO 8601, when the window resets) and
        `X-RateLimit-NearLimit: true` once less than 20% is left; past the limit, 429 with `Retry-After`
        and `RateLimit-Reason`. The window here is one hour of the sandbox clock."""
        now = self.clock.now()
        start = now.replace(minute=0, second=0, microsecond=0)
        used = self._window[1] if self._window and self._window[0] == start else 0
        reset = start + timedelta(hours=1)
        headers = {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ")}
        if used >= self.rate_limit:
            wait = max(int((reset - now).total_seconds()), 1)
            limited = {
                "Retry-After": str(wait),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-NearLimit": "true",
                "RateLimit-Reason": "jira-quota-tenant-based",
            }
            return Response(429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, {**headers, **limited})
        self._window = (start, used + 1)
        response = self._handle(request)
        remaining = self.rate_limit - used - 1
        response.headers.update(headers)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        if remaining < self.rate_limit * 0.2:
            response.headers["X-RateLimit-NearLimit"] = "true"
        return response

    def _handle(self, request: Request) -> Response:
        caller = self.authenticate(request)
        if caller is None:
            response = error(401, "Client must be authenticated to access this resource.")
            response.headers["WWW-Authenticate"] = 'Basic realm="protected-area"'
            return response
        handler = self.router.match(request)
        if handler is None:
            return error(404, f"No resource found for {request.method} {request.path}")
        if handler is True:
            return error(405, f"Method {request.method} is not allowed for {request.path}")
        request.caller = caller  # type: ignore[attr-defined]
        try:
            return handler(request)  # type: ignore[operator]
        except BadJson as exc:
            return error(400, f"Unexpected character in the request body: {exc}")

    def authenticate(self, request: Request) -> m.JiraUser | None:
        header = request.header("authorization") or ""
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "bearer" and not self.cloud and secrets.compare_digest(credential, self.auth.pat):
            return self.data.user_for(self.auth.bot_email)
        if scheme.lower() != "basic":
            return None
        try:
            login, _, token = base64.b64decode(credential).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not secrets.compare_digest(token.encode(), self.auth.api_token.encode()):
            return None
        for u in self.data.users.values():
            if u.active and (login.casefold() == u.email.casefold() if self.cloud else login == u.name):
                return u
        return None

    def fault_response(self, kind: str, retry_after: int) -> Response:
        if kind == "rate_limit":
            reset = jira_datetime(self.clock.now())
            return Response(
                429,
                {"errorMessages": ["Rate limit exceeded."], "errors": {}},
                {
                    "Retry-After": str(retry_after),
                    "X-RateLimit-Limit": "100",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                    "RateLimit-Reason": "jira-burst-based",
                },
            )
        return error(503, "Service Unavailable")

    def _issue(self, request: Request) -> m.Issue | None:
        return self.data.issue(request.path_params["key"])

    def _caller(self, request: Request) -> m.JiraUser:
        return request.caller  # type: ignore[attr-defined]

    def _wrote(self) -> None:
        self.version += 1
