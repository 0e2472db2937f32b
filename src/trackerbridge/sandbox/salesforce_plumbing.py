"""The emulated Salesforce's plumbing: routing, the session check, the daily API limit and injected faults,
plus the versions, resources and limits answers; the base of the service's parts (`SalesforceService` in
salesforce_api.py puts them together).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from trackerbridge.sandbox.bot import BOT_EMAIL
from trackerbridge.sandbox.clock import Clock
from trackerbridge.sandbox.salesforce_errors import NOT_FOUND, UNKNOWN_EXCEPTION_MESSAGE, _error
from trackerbridge.sandbox.salesforce_model import SUPPORTED_VERSIONS, SalesforceData, SObjectType, to_18
from trackerbridge.sandbox.web import Request, Response, Router

if TYPE_CHECKING:
    from trackerbridge.sandbox.salesforce_auth import SalesforceAuth
    from trackerbridge.sandbox.salesforce_query import _Cursor


VERSION_LABELS = {
    "57.0": "Spring '23",
    "58.0": "Summer '23",
    "59.0": "Winter '24",
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
}


FALLBACK_USER_ID = to_18("0058d00000Bot01")  # LastModifiedById when the org has no users at all


class SalesforcePlumbing:
    """What every part of the Salesforce service shares."""

    # set by SalesforceService.__init__; declared here for the parts that use them
    data: SalesforceData
    clock: Clock
    auth: SalesforceAuth
    daily_api_limit: int
    base_url: str
    login_url: str
    api_requests_used: int
    _token_users: dict[str, str]
    _cursors: dict[str, _Cursor]
    _cursor_serial: int
    _last_stamp: datetime | None
    _caller: str
    _journal: list[Callable[[], object]] | None
    router: Router

    # --- plumbing -----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Route, authenticate and count one request; every /services/data answer carries the usage."""
        handler = self.router.match(request)
        path = request.path.rstrip("/")
        if not path.startswith("/services/data/"):
            response = self._dispatch(request, handler)
        else:
            response = self._data_request(request, handler)
        if path.startswith("/services/data"):
            response.headers["Sforce-Limit-Info"] = self._limit_info()
        return response

    def _data_request(self, request: Request, handler: Callable[[Request], Response] | bool | None) -> Response:
        caller = self._authenticate(request)
        if caller is None:
            response = _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            response.headers["WWW-Authenticate"] = "Token"
            return response
        if self.api_requests_used >= self.daily_api_limit:
            return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self.api_requests_used += 1
        m = re.match(r"/services/data/v(\d+\.\d+)(?:/|$)", request.path)
        if not m or m.group(1) not in SUPPORTED_VERSIONS:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        self._caller = caller
        return self._dispatch(request, handler)

    def _dispatch(self, request: Request, handler: Callable[[Request], Response] | bool | None) -> Response:
        if handler is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        if not callable(handler):
            allowed = self._allowed_methods(request)
            response = _error(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(allowed)}",
            )
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return handler(request)

    def _allowed_methods(self, request: Request) -> list[str]:
        allowed = []
        for method in ("GET", "POST", "PATCH", "DELETE"):
            probe = Request(method, request.target)
            if callable(self.router.match(probe)):
                allowed.append(method)
        return ["HEAD", *allowed] if "GET" in allowed else allowed

    def _limit_info(self) -> str:
        return f"api-usage={self.api_requests_used}/{self.daily_api_limit}"

    @staticmethod
    def _bearer(request: Request) -> str:
        """The session id sent as `Bearer` (or the older `OAuth`), or an empty string."""
        header = request.header("Authorization") or ""
        scheme, _, token = header.strip().partition(" ")
        return token.strip() if scheme.lower() in ("bearer", "oauth") else ""

    def _authenticate(self, request: Request) -> str | None:
        """The calling user's id for a valid session id."""
        token = self._bearer(request)
        if not token or token not in self.auth.access_tokens:
            return None
        user_id = self._token_users.get(token)
        return user_id if user_id in self.data.records.get("User", {}) else self.default_user_id()

    def default_user_id(self) -> str:
        """The integration user (by its well-known email) acts for the preset tokens; else the first user."""
        users = self.data.records.get("User", {})
        for user_id, user in users.items():
            if str(user.get("Email") or "").lower() == BOT_EMAIL:
                return user_id
        return next(iter(users), FALLBACK_USER_ID)

    def fault_response(self, kind: str, retry_after: int) -> Response:
        """What Salesforce answers when it is throttling or down; the server injects these.

        A rate-limit fault is the transient concurrency limit (same 403 REQUEST_LIMIT_EXCEEDED as the
        daily limit, different message), since the daily limit is enforced for real by `handle`.
        Salesforce sends no Retry-After on its 403; the 503s carry one, as a maintenance edge does.
        """
        if kind == "rate_limit":
            response = _error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
            response.headers["Sforce-Limit-Info"] = self._limit_info()
            return response
        if kind == "server_error":
            error_id = f"{secrets.randbelow(10**9):09d}-{secrets.randbelow(10**5):05d}"
            message = UNKNOWN_EXCEPTION_MESSAGE.format(error_id)
            return Response(
                503,
                [{"message": message, "errorCode": "UNKNOWN_EXCEPTION"}],
                {"Retry-After": str(retry_after)},
            )
        if kind == "unavailable":
            page = (
                b"<html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1>"
                b"<p>The service is temporarily unavailable. Please try again later.</p></body></html>"
            )
            return Response(503, page, {"Content-Type": "text/html;charset=UTF-8", "Retry-After": str(retry_after)})
        raise ValueError(f"unknown fault kind {kind!r}; expected rate_limit, server_error or unavailable")

    def _sobject(self, request: Request) -> SObjectType | None:
        return self.data.sobject(request.path_params["sobject"])

    def _version(self, request: Request) -> str:
        return request.path_params.get("version", "")

    # --- versions, resources, limits ----------------------------------------------------------

    def versions(self, request: Request) -> Response:
        return Response(
            200,
            [
                {"label": VERSION_LABELS.get(v, v), "url": f"/services/data/v{v}", "version": v}
                for v in SUPPORTED_VERSIONS
            ],
        )

    def resources(self, request: Request) -> Response:
        base = f"/services/data/v{self._version(request)}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "search", "tooling", "recent")
        return Response(200, {name: f"{base}/{name}" for name in names})

    def limits(self, request: Request) -> Response:
        """DailyApiRequests is live; the rest are a Developer-Edition-like org at rest."""
        rows = sum(len(r) for r in self.data.records.values())
        storage_max = 1024
        fixed = {
            "ConcurrentAsyncGetReportInstances": 200,
            "ConcurrentSyncReportRuns": 20,
            "DailyAsyncApexExecutions": 250000,
            "DailyBulkApiBatches": 15000,
            "DailyBulkV2QueryFileStorageMB": 976562,
            "DailyBulkV2QueryJobs": 10000,
            "DailyStreamingApiEvents": 10000,
            "FileStorageMB": 1024,
            "HourlyTimeBasedWorkflow": 1000,
            "MassEmail": 10,
            "SingleEmail": 15,
        }
        body: dict[str, Any] = {
            "DailyApiRequests": {
                "Max": self.daily_api_limit,
                "Remaining": max(self.daily_api_limit - self.api_requests_used, 0),
            },
            "DataStorageMB": {"Max": storage_max, "Remaining": max(storage_max - rows * 2 // 1024, 0)},
        }
        body.update({name: {"Max": n, "Remaining": n} for name, n in fixed.items()})
        return Response(200, dict(sorted(body.items())))
