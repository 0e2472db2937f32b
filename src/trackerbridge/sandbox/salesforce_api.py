"""The emulated Salesforce REST API: OAuth token, query with cursors, sObject rows, describe,
sObject Collections, Composite and limits, with Salesforce's payloads, status codes and error bodies.

Composite (`POST /services/data/vXX.X/composite`) runs up to 25 subrequests (at most 5 of them sObject
Collections or queries) in order, as one API call, and answers `{"compositeResponse": [{"body",
"httpHeaders", "httpStatusCode", "referenceId"}]}`; `@{ref.path}` in a later subrequest's url or body
takes a value from an earlier answer; with `allOrNone` true one failure rolls every subrequest back, and
the others answer 400 PROCESSING_HALTED. As Salesforce's references describe it:
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite_post.htm
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/requests_composite.htm
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_subrequest_result.htm
(the limit messages of a refused composite are the sandbox's own wording).

Writes go through one validation path (`_prepare`) so single-record and collection calls fail
the same way. Every write stamps LastModifiedDate and SystemModstamp at millisecond precision and
strictly increasing, so a client's "changed since" watermark never misses or repeats a write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trackerbridge.sandbox import salesforce_history
from trackerbridge.sandbox.bot import BOT_EMAIL
from trackerbridge.sandbox.clock import Clock
from trackerbridge.sandbox.salesforce_model import (
    BOOLEAN,
    CURRENCY,
    DATE,
    DATETIME,
    DOUBLE,
    EMAIL,
    ID,
    MULTIPICKLIST,
    PERCENT,
    PICKLIST,
    REFERENCE,
    STRING,
    SUPPORTED_VERSIONS,
    TEXTAREA,
    SalesforceData,
    SField,
    SObjectType,
    sf_value,
    to_18,
)
from trackerbridge.sandbox.soql import SoqlError, SoqlQuery, compile_soql
from trackerbridge.sandbox.web import BadJson, Request, Response, Router

VERSION_LABELS = {
    "57.0": "Spring '23",
    "58.0": "Summer '23",
    "59.0": "Winter '24",
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
}
ORG_ID = to_18("00D8d00000TbSnd")
FALLBACK_USER_ID = to_18("0058d00000Bot01")  # LastModifiedById when the org has no users at all
NOT_FOUND = "The requested resource does not exist"
READ_ONLY_MESSAGE = (
    "Unable to create/update fields: {}. Please check the security settings of this field and verify "
    "that it is read level editable for your profile or permission set."
)
UNKNOWN_EXCEPTION_MESSAGE = (
    "An unexpected error occurred. Please include this ErrorId if you contact support: {}"
)
ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using AllOrNone header"
)
QUERY_DEFAULT_BATCH, QUERY_MIN_BATCH, QUERY_MAX_BATCH = 2000, 200, 2000
COLLECTION_MAX = 200
COMPOSITE_MAX = 25  # subrequests per Composite request
COMPOSITE_BULK_MAX = 5  # of them, sObject Collections and query subrequests together
PROCESSING_HALTED = "The transaction was rolled back since another operation in the same transaction failed."
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
DEFAULT_TIME_ZONE = "GMT"  # userinfo's zoneinfo for users without a TimeZoneSidKey (the demo's have none)
# Values Salesforce fills in on create when the caller leaves them out.
CREATE_DEFAULTS: dict[tuple[str, str], Any] = {
    ("Task", "Status"): "Not Started",
    ("Task", "Priority"): "Normal",
    ("User", "IsActive"): True,
}
_ID_RE = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")
_LOCATOR_RE = re.compile(r"(01g[a-zA-Z0-9]{15})-(\d+)")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?"
)
_STRINGISH = (STRING, TEXTAREA, EMAIL, PICKLIST, MULTIPICKLIST, REFERENCE, ID)
_NUMERIC = (CURRENCY, DOUBLE, PERCENT)
_MS = timedelta(milliseconds=1)
_REFERENCE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"@\{([A-Za-z][A-Za-z0-9_]*)\.([^}]+)\}")
_BULK_SUBREQUEST = re.compile(r"/services/data/v\d+\.\d+/(?:composite/sobjects|query|queryAll)(?:[/?]|$)")


@dataclass
class SalesforceAuth:
    """Credentials the emulated org accepts. `users` maps a username to password + security token
    for the OAuth password grant; `access_tokens` are session ids valid from the start."""

    access_tokens: set[str]
    users: dict[str, str]
    client_id: str = "trackerbridge-sandbox"
    client_secret: str = "sandbox-secret"
    jwt_certificate_pem: bytes | None = None  # public cert (or key) for the JWT bearer grant, RS256


@dataclass
class DmlError:
    """One save error; REST rows call the code `errorCode`, collection results `statusCode`."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def rest(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def result(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


class _ParseError(Exception):
    """A body Salesforce's JSON deserialiser rejects: the whole request fails with JSON_PARSER_ERROR."""


@dataclass
class _Cursor:
    """An open query cursor: the matching ids are fixed at query time, rows render at fetch time."""

    ids: list[str]
    query: SoqlQuery
    batch: int
    user_id: str
    last_used: datetime


def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return Response(status, [item])


def _oauth_error(error: str, description: str) -> Response:
    return Response(400, {"error": error, "error_description": description}, {"Cache-Control": "no-store"})


def _identity_error(status: int, code: str) -> Response:
    """The identity service (id URL, userinfo) answers errors as a bare code in plain text."""
    return Response(status, code.encode(), {"Content-Type": "text/plain;charset=UTF-8"})


def _valid_id(value: str) -> bool:
    return bool(_ID_RE.fullmatch(value))


def _halted(ref: str, message: str = PROCESSING_HALTED) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref,
    }


def _subresult(ref: str, response: Response, url: str = "") -> dict[str, Any]:
    """One subrequest's answer as a Composite Subrequest Result (no Content-Length among the headers)."""
    body = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "sforce-limit-info")}
    if response.status == 201 and isinstance(body, dict) and isinstance(body.get("id"), str):
        headers.setdefault("Location", f"{url.split('?')[0].rstrip('/')}/{body['id']}")
    return {"body": body, "httpHeaders": headers, "httpStatusCode": response.status, "referenceId": ref}


def _resolve(text: str, answers: dict[str, Any], *, quote_values: bool = False) -> str:
    """`@{ref.path}` (path: names and [n] indexes, e.g. `records[0].Id`) replaced by the earlier answer's
    value (URL-quoted in a url, JSON-escaped inside a body's string); LookupError names a reference that
    has no such value."""

    def value(m: re.Match[str]) -> str:
        ref, path = m.group(1), m.group(2)
        if ref not in answers:
            raise LookupError(f"No response for referenceId {ref} (it failed, or comes later)")
        found: Any = answers[ref]
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
            if part.startswith("["):
                index = int(part[1:-1])
                if not isinstance(found, list) or index >= len(found):
                    raise LookupError(f"No value for {ref}.{path} found in {ref}")
                found = found[index]
            elif isinstance(found, dict) and part in found:
                found = found[part]
            else:
                raise LookupError(f"No value for {ref}.{path} found in {ref}")
        if quote_values:
            return quote(found if isinstance(found, str) else json.dumps(found), safe="")
        return json.dumps(found)[1:-1] if isinstance(found, str) else json.dumps(found)

    return _REFERENCE.sub(value, text)


def _truncate_ms(value: datetime) -> datetime:
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(timezone.utc), usegmt=True)


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_sf_datetime(text: str) -> datetime | None:
    """The datetime forms Salesforce accepts in JSON: ISO 8601 with Z, +hhmm, +hh:mm or no zone (UTC)."""
    m = _DATETIME_RE.fullmatch(text.strip())
    if not m:
        return None
    day, hh, mm, ss, frac, zone = m.groups()
    try:
        value = datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss or '00'}")
    except ValueError:
        return None
    value = value.replace(microsecond=int((frac or "0")[:6].ljust(6, "0")))
    offset = timedelta(0)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return _truncate_ms(value.replace(tzinfo=timezone(offset)))


def _json_token(value: Any) -> tuple[str, str]:
    """Jackson's token name and text for a value, as Salesforce's parser errors quote them."""
    if isinstance(value, bool):
        return ("VALUE_TRUE" if value else "VALUE_FALSE", json.dumps(value))
    if isinstance(value, int):
        return "VALUE_NUMBER_INT", str(value)
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT", repr(value)
    if isinstance(value, dict):
        return "START_OBJECT", "{"
    if isinstance(value, list):
        return "START_ARRAY", "["
    return "VALUE_STRING", str(value)


def _locate(text: str, key: str, value: Any) -> tuple[int, int]:
    """Line and column just past `"key": value` in the body, where Jackson would report the error."""
    decoder = json.JSONDecoder()
    for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:\s*", text):
        try:
            found, end = decoder.raw_decode(text, m.end())
        except json.JSONDecodeError:
            continue
        if found == value:
            line = text.count("\n", 0, end) + 1
            return line, end - (text.rfind("\n", 0, end) + 1) + 1
    return 1, 1


def _deserialize_error(type_name: str, value: Any, line: int, column: int) -> str:
    token, shown = _json_token(value)
    return (
        f"Cannot deserialize instance of {type_name} from {token} value {shown} "
        f"or request may be missing a required field at [line:{line}, column:{column}]"
    )


def _coerce(f: SField, raw: Any) -> Any:
    """Turn a JSON value into the stored Python value for `f`, or raise _ParseError (no message)."""
    if raw is None:
        return False if f.type == BOOLEAN else None
    if isinstance(raw, (dict, list)):
        raise _ParseError
    if f.type in _STRINGISH:
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        elif isinstance(raw, (int, float)):
            raw = str(raw)
        return raw if raw != "" else None  # Salesforce stores an empty string as null
    if f.type == BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise _ParseError
    if f.type == DATE:
        if isinstance(raw, str) and _DATE_RE.fullmatch(raw):
            try:
                return date.fromisoformat(raw)
            except ValueError:
                pass
        raise _ParseError
    if f.type == DATETIME:
        parsed = parse_sf_datetime(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise _ParseError
        return parsed
    if f.type in _NUMERIC:
        if isinstance(raw, bool):
            raise _ParseError
        if isinstance(raw, (int, float)):
            return float(raw)
        try:
            number = float(raw)
        except ValueError:
            raise _ParseError from None
        if number != number or number in (float("inf"), float("-inf")):
            raise _ParseError
        return number
    return raw


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class SalesforceService:
    """Turns `/services/...` requests into responses against one `SalesforceData` org."""

    CURSOR_IDLE = timedelta(minutes=15)  # Salesforce closes idle query cursors after 15 minutes
    MAX_CURSORS_PER_USER = 10  # ... and keeps at most 10 open per user, dropping the oldest

    def __init__(
        self,
        data: SalesforceData,
        clock: Clock,
        auth: SalesforceAuth,
        *,
        daily_api_limit: int = 15000,
        base_url: str = "",
    ) -> None:
        self.data = data
        self.clock = clock
        self.auth = auth
        self.daily_api_limit = daily_api_limit
        self.base_url = base_url
        self.login_url = ""  # set: the token endpoint answers only at this origin (see SandboxConfig)
        self.api_requests_used = 0
        self._token_users: dict[str, str] = {}  # tokens issued by the OAuth endpoint -> user id
        self._cursors: dict[str, _Cursor] = {}
        self._cursor_serial = 0
        self._last_stamp: datetime | None = None
        self._caller = FALLBACK_USER_ID
        self._journal: list[Callable[[], None]] | None = None  # undo steps, while a composite may roll back
        self.router = Router()
        self._routes()
        salesforce_history.install(self.data)

    def _routes(self) -> None:
        add = self.router.add
        add("GET", "/services/data", self.versions)
        add("POST", "/services/oauth2/token", self.token)
        add("GET", "/services/oauth2/userinfo", self.userinfo)
        add("POST", "/services/oauth2/userinfo", self.userinfo)
        api = "/services/data/v{version}"
        add("GET", api, self.resources)
        add("GET", f"{api}/limits", self.limits)
        add("GET", f"{api}/query", self.query)
        add("GET", f"{api}/queryAll", self.query_all)
        add("GET", f"{api}/query/{{locator}}", self.query_more)
        add("GET", f"{api}/queryAll/{{locator}}", self.query_more)
        add("GET", f"{api}/sobjects", self.describe_global)
        add("GET", f"{api}/sobjects/{{sobject}}", self.sobject_info)
        add("POST", f"{api}/sobjects/{{sobject}}", self.create_record)
        add("GET", f"{api}/sobjects/{{sobject}}/describe", self.describe)
        add("GET", f"{api}/sobjects/{{sobject}}/{{record_id}}", self.get_record)
        add("PATCH", f"{api}/sobjects/{{sobject}}/{{record_id}}", self.update_record)
        add("DELETE", f"{api}/sobjects/{{sobject}}/{{record_id}}", self.delete_record)
        add("POST", f"{api}/composite/sobjects", self.create_collection)
        add("PATCH", f"{api}/composite/sobjects", self.update_collection)
        add("GET", f"{api}/composite", self.composite_resources)
        add("POST", f"{api}/composite", self.composite)

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

    def _data_request(
        self, request: Request, handler: Callable[[Request], Response] | bool | None
    ) -> Response:
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
            return Response(
                503, page, {"Content-Type": "text/html;charset=UTF-8", "Retry-After": str(retry_after)}
            )
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

    # --- OAuth --------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        """The OAuth 2.0 token endpoint: username-password and JWT bearer flows."""
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}

        def param(name: str) -> str | None:
            values = form.get(name) or request.args(name)
            return values[-1] if values else None

        if self.login_url and not self._at_login_host(request):
            # An org's credentials sent to another login host: that host knows no such user.
            return _oauth_error("invalid_grant", "authentication failure")
        grant = param("grant_type")
        if grant == "password":
            if param("client_id") != self.auth.client_id:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            if param("client_secret") != self.auth.client_secret:
                return _oauth_error("invalid_client", "invalid client credentials")
            username = param("username") or ""
            expected = self.auth.users.get(username)
            if expected is None or not hmac.compare_digest(expected, param("password") or ""):
                return _oauth_error("invalid_grant", "authentication failure")
            user_id = self._user_by_username(username)
            if user_id is False:
                return _oauth_error("invalid_grant", "authentication failure")
            return self._issue_token(user_id or self.default_user_id(), scope=None)
        if grant == JWT_GRANT:
            return self._jwt_grant(param("assertion") or "")
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    def _at_login_host(self, request: Request) -> bool:
        """Whether the request's Host is the configured login host (the port is the same socket's)."""
        wanted = urlsplit(self.login_url).hostname or ""
        sent = request.header("Host") or ""
        host = urlsplit(f"//{sent}").hostname or ""
        return host.casefold() == wanted.casefold()

    def _user_by_username(self, username: str) -> str | bool | None:
        """The User record's id; False for an inactive user; None when the org has no such record."""
        for user_id, user in self.data.records.get("User", {}).items():
            if str(user.get("Username") or "").lower() == username.lower():
                return user_id if user.get("IsActive", True) is not False else False
        return None

    def _jwt_grant(self, assertion: str) -> Response:
        claims = self._verified_claims(assertion)
        if claims is None:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.auth.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        allowed = {*JWT_AUDIENCES, self.base_url.rstrip("/"), self.login_url.rstrip("/")} - {""}
        if not any(isinstance(a, str) and a.rstrip("/") in allowed for a in audiences):
            return _oauth_error("invalid_grant", "audience is invalid")
        try:
            expires = float(claims.get("exp"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return _oauth_error("invalid_grant", "invalid assertion")
        if expires <= self.clock.now().timestamp():
            return _oauth_error("invalid_grant", "expired authorization code")
        subject = claims.get("sub")
        user_id = self._user_by_username(subject) if isinstance(subject, str) else None
        if user_id is False or (user_id is None and subject not in self.auth.users):
            return _oauth_error("invalid_grant", "invalid assertion")
        return self._issue_token(user_id or self.default_user_id(), scope="api")

    def _verified_claims(self, assertion: str) -> dict[str, Any] | None:
        """The JWT's claims if it is a well-formed RS256 token signed by the configured certificate."""
        pem = self.auth.jwt_certificate_pem
        parts = assertion.split(".")
        if pem is None or len(parts) != 3:
            return None
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            return None
        if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
            return None
        try:
            if b"BEGIN CERTIFICATE" in pem:
                key = x509.load_pem_x509_certificate(pem).public_key()
            else:
                key = serialization.load_pem_public_key(pem)
        except ValueError:
            return None
        if not isinstance(key, rsa.RSAPublicKey):
            return None
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return None
        return claims

    def expire_sessions(self) -> int:
        """End every session the token endpoint issued, as the org's session timeout does: the next call
        with one gets 401 INVALID_SESSION_ID. Returns how many ended."""
        issued = [t for t in self._token_users if t in self.auth.access_tokens]
        self.auth.access_tokens.difference_update(issued)
        return len(issued)

    def _issue_token(self, user_id: str, *, scope: str | None) -> Response:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"
        self.auth.access_tokens.add(token)
        self._token_users[token] = user_id
        issued_at = str(int(self.clock.now().timestamp() * 1000))
        identity = f"{self.base_url or 'https://login.salesforce.com'}/id/{ORG_ID}/{user_id}"
        digest = hmac.new(self.auth.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
        body: dict[str, Any] = {
            "access_token": token,
            "instance_url": self.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(digest.digest()).decode(),
        }
        if scope:
            body["scope"] = scope
        return Response(200, body, {"Cache-Control": "no-store"})

    def userinfo(self, request: Request) -> Response:
        """OpenID Connect UserInfo for the token's user, shaped as Salesforce answers it.

        An identity call, not a REST API call: not counted against DailyApiRequests, and a bad token
        gets the identity service's plain-text 403 (`Bad_OAuth_Token`), not INVALID_SESSION_ID.
        """
        token = self._bearer(request) or request.arg("oauth_token") or ""
        if not token:
            return _identity_error(403, "Missing_OAuth_Token")
        if token not in self.auth.access_tokens:
            return _identity_error(403, "Bad_OAuth_Token")
        users = self.data.records.get("User", {})
        user_id = self._token_users.get(token)
        if user_id not in users:
            user_id = self.default_user_id()
        user = users.get(user_id)
        if user is None:
            return _identity_error(404, "Bad_Id")
        if user.get("IsActive") is False:
            return _identity_error(404, "Inactive")
        return Response(200, self._userinfo_body(user_id, user), {"Cache-Control": "no-cache,must-revalidate"})

    def _userinfo_body(self, user_id: str, user: dict[str, Any]) -> dict[str, Any]:
        base = self.base_url or "https://login.salesforce.com"
        org = ORG_ID[:15]
        zone = user.get("TimeZoneSidKey") or DEFAULT_TIME_ZONE
        offset = ZoneInfo(zone).utcoffset(self.clock.now()) or timedelta(0)
        username = str(user.get("Username") or "")
        modified = user.get("LastModifiedDate")
        data = f"{base}/services/data/v{{version}}"
        return {
            "sub": f"{base}/id/{ORG_ID}/{user_id}",
            "user_id": user_id,
            "organization_id": ORG_ID,
            "preferred_username": username,
            "nickname": username.split("@")[0],
            "name": user.get("Name"),
            "email": user.get("Email"),
            "email_verified": True,
            "given_name": user.get("FirstName"),
            "family_name": user.get("LastName"),
            "zoneinfo": zone,
            "photos": {"picture": f"{base}/profilephoto/005/F", "thumbnail": f"{base}/profilephoto/005/T"},
            "profile": f"{base}/{user_id}",
            "picture": f"{base}/profilephoto/005/F",
            "address": {},
            "is_salesforce_integration_user": False,
            "urls": {
                "enterprise": f"{base}/services/Soap/c/{{version}}/{org}",
                "metadata": f"{base}/services/Soap/m/{{version}}/{org}",
                "partner": f"{base}/services/Soap/u/{{version}}/{org}",
                "rest": f"{data}/",
                "sobjects": f"{data}/sobjects/",
                "search": f"{data}/search/",
                "query": f"{data}/query/",
                "recent": f"{data}/recent/",
                "tooling_soap": f"{base}/services/Soap/T/{{version}}/{org}",
                "tooling_rest": f"{data}/tooling/",
                "profile": f"{base}/{user_id}",
                "feeds": f"{data}/chatter/feeds",
                "groups": f"{data}/chatter/groups",
                "users": f"{data}/chatter/users",
                "feed_items": f"{data}/chatter/feed-items",
                "feed_elements": f"{data}/chatter/feed-elements",
                "custom_domain": base,
            },
            "active": user.get("IsActive") is not False,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": int(offset.total_seconds() * 1000),
            "updated_at": (
                modified.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                if isinstance(modified, datetime)
                else None
            ),
            "is_app_installed": True,
        }

    # --- query --------------------------------------------------------------------------------

    def query(self, request: Request) -> Response:
        return self._run_query(request, include_deleted=False)

    def query_all(self, request: Request) -> Response:
        return self._run_query(request, include_deleted=True)

    def _run_query(self, request: Request, *, include_deleted: bool) -> Response:
        text = request.arg("q")
        if text is None or not text.strip():
            return _error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            compiled = compile_soql(text, self.data, now=self.clock.now())
            rows = compiled.run(self.data, include_deleted=include_deleted)
        except SoqlError as exc:
            return _error(400, exc.error_code, exc.message)
        if compiled.count_only:
            return Response(200, {"totalSize": len(rows), "done": True, "records": []})
        version = self._version(request)
        batch = self._batch_size(request, QUERY_DEFAULT_BATCH)
        body: dict[str, Any] = {"totalSize": len(rows), "done": len(rows) <= batch}
        if len(rows) > batch:
            locator = self._open_cursor([r["Id"] for r in rows], compiled, batch)
            endpoint = "queryAll" if include_deleted else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{batch}"
        body["records"] = [compiled.render(r, version) for r in rows[:batch]]
        return Response(200, body)

    def query_more(self, request: Request) -> Response:
        m = _LOCATOR_RE.fullmatch(request.path_params["locator"])
        locator, offset = (m.group(1), int(m.group(2))) if m else ("", 0)
        now = self.clock.now()
        cursor = self._cursors.get(locator)
        if cursor is not None and now - cursor.last_used > self.CURSOR_IDLE:
            del self._cursors[locator]
            cursor = None
        if cursor is None or offset > len(cursor.ids):
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.last_used = now
        batch = self._batch_size(request, cursor.batch)
        version = self._version(request)
        page = cursor.ids[offset : offset + batch]
        records = []
        for record_id in page:
            record = self._stored(record_id)
            if record is not None:
                records.append(cursor.query.render(record, version))
        end = offset + len(page)
        body: dict[str, Any] = {"totalSize": len(cursor.ids), "done": end >= len(cursor.ids)}
        if end < len(cursor.ids):
            endpoint = "queryAll" if "/queryAll/" in request.path else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
        body["records"] = records
        return Response(200, body)

    def _batch_size(self, request: Request, default: int) -> int:
        """Sforce-Query-Options: batchSize=N is a hint Salesforce keeps within 200..2000."""
        m = re.search(r"batchSize\s*=\s*(\d+)", request.header("Sforce-Query-Options") or "")
        if not m:
            return default
        return min(max(int(m.group(1)), QUERY_MIN_BATCH), QUERY_MAX_BATCH)

    def _open_cursor(self, ids: list[str], compiled: SoqlQuery, batch: int) -> str:
        now = self.clock.now()
        mine = [k for k, c in self._cursors.items() if c.user_id == self._caller]
        for stale in mine[: max(len(mine) - self.MAX_CURSORS_PER_USER + 1, 0)]:
            del self._cursors[stale]
        self._cursor_serial += 1
        locator = to_18(f"01g8d00{self._cursor_serial:08d}")
        self._cursors[locator] = _Cursor(ids, compiled, batch, self._caller, now)
        return locator

    def _stored(self, record_id: str) -> dict[str, Any] | None:
        """A record as stored now, live or in the recycle bin."""
        found = self.data.get(record_id)
        if found is not None:
            return found[1]
        sobject = self.data.type_of_id(record_id)
        return self.data.deleted.get(sobject.name, {}).get(record_id) if sobject else None

    # --- describe -----------------------------------------------------------------------------

    def _basic_info(self, t: SObjectType, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{t.name}"
        plural = t.label[:-1] + "ies" if t.label.endswith("y") else t.label + "s"
        deletable = t.name != "User"
        return {
            "activateable": False,
            "createable": t.updateable,
            "custom": t.custom,
            "customSetting": False,
            "deletable": deletable and t.updateable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isSubtype": False,
            "keyPrefix": t.key_prefix,
            "label": t.label,
            "labelPlural": plural,
            "layoutable": True,
            "mergeable": t.name == "Account",
            "mruEnabled": True,
            "name": t.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": deletable,
            "updateable": t.updateable,
            "urls": {"rowTemplate": f"{base}/{{ID}}", "describe": f"{base}/describe", "sobject": base},
        }

    def describe_global(self, request: Request) -> Response:
        version = self._version(request)
        return Response(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": COLLECTION_MAX,
                "sobjects": [self._basic_info(t, version) for t in self.data.types.values()],
            },
        )

    def sobject_info(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        version = self._version(request)
        rows = sorted(
            self.data.records.get(t.name, {}).values(),
            key=lambda r: r.get("LastModifiedDate") or datetime.min.replace(tzinfo=timezone.utc),
            reverse=True,
        )[:10]
        name_field = "Name" if t.field("Name") else "Subject" if t.field("Subject") else None
        recent = []
        for row in rows:
            item = self._attributes(t, row["Id"], version)
            item["Id"] = row["Id"]
            if name_field:
                item[name_field] = row.get(name_field)
            recent.append(item)
        return Response(200, {"objectDescribe": self._basic_info(t, version), "recentItems": recent})

    def describe(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        version = self._version(request)
        body = self._basic_info(t, version)
        children = [
            {
                "cascadeDelete": False,
                "childSObject": other.name,
                "field": f.name,
                "relationshipName": None,
                "restrictedDelete": False,
            }
            for other in self.data.types.values()
            for f in other.fields.values()
            if f.type == REFERENCE
            and t.name in f.reference_to
            and f.name not in ("CreatedById", "LastModifiedById")
        ]
        body.update(
            {
                "childRelationships": children,
                "fields": [f.describe() for f in t.fields.values()],
                "recordTypeInfos": [],
                "supportedScopes": [{"label": "All " + body["labelPlural"].lower(), "name": "everything"}],
            }
        )
        body["urls"] = {**body["urls"], "uiDetailTemplate": None, "uiEditTemplate": None, "uiNewRecord": None}
        return Response(200, dict(sorted(body.items())))

    # --- sObject rows -------------------------------------------------------------------------

    @staticmethod
    def _attributes(t: SObjectType, record_id: str, version: str) -> dict[str, Any]:
        return {
            "attributes": {"type": t.name, "url": f"/services/data/v{version}/sobjects/{t.name}/{record_id}"}
        }

    def _render(
        self, t: SObjectType, record: dict[str, Any], version: str, names: list[str] | None = None
    ) -> dict[str, Any]:
        body = self._attributes(t, record["Id"], version)
        for name in names or list(t.fields):
            body[name] = sf_value(record.get(name))
        return body

    def _etag(self, t: SObjectType, record: dict[str, Any]) -> str:
        canonical = json.dumps(self._render(t, record, "0"), sort_keys=True, default=str).encode()
        return '"' + base64.b64encode(hashlib.sha1(canonical).digest()).decode() + '"'

    def get_record(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        record_id = request.path_params["record_id"]
        if not _valid_id(record_id):
            message = f"Provided external ID field does not exist or is not accessible: {record_id}"
            return _error(404, "NOT_FOUND", message)
        found = self.data.get(record_id)
        if found is None or found[0] is not t:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        record = found[1]
        names = None
        requested = request.arg("fields")
        if requested:
            names = ["Id"]
            for raw in requested.split(","):
                f = t.field(raw.strip())
                if f is None:
                    return _error(400, "INVALID_FIELD", self._no_such_column(raw.strip(), t))
                if f.name not in names:
                    names.append(f.name)
        etag = self._etag(t, record)
        headers = {"ETag": etag}
        modified = record.get("LastModifiedDate")
        if isinstance(modified, datetime):
            headers["Last-Modified"] = _http_date(modified)
            since = _parse_http_date(request.header("If-Modified-Since") or "")
            if since is not None and modified.replace(microsecond=0) <= since:
                return Response(304, None, headers)
        none_match = request.header("If-None-Match")
        if none_match and (
            etag in [tag.strip() for tag in none_match.split(",")] or none_match.strip() == "*"
        ):
            return Response(304, None, headers)
        return Response(200, self._render(t, record, self._version(request), names), headers)

    @staticmethod
    def _no_such_column(name: str, t: SObjectType) -> str:
        return (
            f"No such column '{name}' on entity '{t.name}'. If you are attempting to use a custom field, "
            "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
            "describe call for the appropriate names."
        )

    def create_record(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        parsed = self._json_object(request, t.name)
        if isinstance(parsed, Response):
            return parsed
        body, text = parsed
        if any(key.lower() == "id" for key in body):
            return Response(
                400,
                [DmlError("INVALID_FIELD", "Record ID: cannot specify Id in an insert call", ["Id"]).rest()],
            )
        try:
            values, errors = self._prepare(t, body, text, creating=True)
        except _ParseError as exc:
            return _error(400, "JSON_PARSER_ERROR", str(exc))
        if errors:
            return Response(400, [e.rest() for e in errors])
        record_id = self._insert(t, values)
        return Response(201, {"id": record_id, "success": True, "errors": []})

    def update_record(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        record_id = request.path_params["record_id"]
        if not _valid_id(record_id) or not record_id.startswith(t.key_prefix):
            return Response(400, [self._malformed_id(t, record_id).rest()])
        parsed = self._json_object(request, t.name)
        if isinstance(parsed, Response):
            return parsed
        body, text = parsed
        found = self.data.get(record_id)
        if found is None:
            return self._missing_row(t, record_id)
        record = found[1]
        for key in [k for k in body if k.lower() == "id"]:
            if not isinstance(body[key], str) or to_18(body[key]) != record["Id"]:
                return _error(
                    400, "INVALID_FIELD", "The Id field should not be specified in the sobject data."
                )
            del body[key]
        failed = self._precondition(request, t, record)
        if failed is not None:
            return failed
        try:
            values, errors = self._prepare(t, body, text, creating=False)
        except _ParseError as exc:
            return _error(400, "JSON_PARSER_ERROR", str(exc))
        if errors:
            return Response(400, [e.rest() for e in errors])
        self._update(t, record, values)
        return Response(204)

    def delete_record(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        record_id = request.path_params["record_id"]
        if not _valid_id(record_id) or not record_id.startswith(t.key_prefix):
            return Response(400, [self._malformed_id(t, record_id).rest()])
        found = self.data.get(record_id)
        if found is None:
            return self._missing_row(t, record_id)
        if t.name == "User" or not t.updateable:
            return _error(
                400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", []
            )
        self._delete(t, found[1])
        return Response(204)

    def _missing_row(self, t: SObjectType, record_id: str) -> Response:
        if to_18(record_id) in self.data.deleted.get(t.name, {}):
            return _error(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return _error(404, "NOT_FOUND", NOT_FOUND)

    @staticmethod
    def _malformed_id(t: SObjectType, record_id: str) -> DmlError:
        return DmlError("MALFORMED_ID", f"{t.label} ID: id value of incorrect type: {record_id}", ["Id"])

    def _precondition(self, request: Request, t: SObjectType, record: dict[str, Any]) -> Response | None:
        """If-Unmodified-Since compares at HTTP-date (second) precision; If-Match / If-None-Match by ETag."""
        unmodified = request.header("If-Unmodified-Since")
        if unmodified is not None:
            since = _parse_http_date(unmodified)
            if since is None:
                return _error(400, "BAD_REQUEST", f"Invalid If-Unmodified-Since header value: {unmodified}")
            modified = record.get("LastModifiedDate")
            if isinstance(modified, datetime) and modified.replace(microsecond=0) > since:
                return _error(
                    412,
                    "PRECONDITION_FAILED",
                    f"The requested resource's state has changed since {unmodified}",
                )
        for name, must_match in (("If-Match", True), ("If-None-Match", False)):
            value = request.header(name)
            if value is None:
                continue
            tags = [tag.strip() for tag in value.split(",") if tag.strip()]
            if not tags or any(tag != "*" and not re.fullmatch(r'(W/)?"[^"]*"', tag) for tag in tags):
                return _error(400, "BAD_REQUEST", f"Invalid {name} header value: {value}")
            matches = "*" in tags or self._etag(t, record) in tags
            if matches != must_match:
                return _error(
                    412, "PRECONDITION_FAILED", "The requested resource's ETag does not match " + name
                )
        return None

    # --- sObject Collections ------------------------------------------------------------------

    def create_collection(self, request: Request) -> Response:
        return self._collection(request, creating=True)

    def update_collection(self, request: Request) -> Response:
        return self._collection(request, creating=False)

    def _collection(self, request: Request, *, creating: bool) -> Response:
        """Up to 200 records, each saved or failed in order; allOrNone rolls every save back on a failure.

        The whole body is deserialised first (a type error fails the request with 400), then
        records are validated and saved one by one, so later records see earlier ones.
        """
        parsed = self._json_object(request, "SObjectCollectionRequest")
        if isinstance(parsed, Response):
            return parsed
        body, text = parsed
        records = body.get("records")
        all_or_none = body.get("allOrNone", False)
        if not isinstance(records, list) or not isinstance(all_or_none, bool):
            return _error(400, "INVALID_FIELD", "records: must be a list of sObjects, allOrNone: a boolean")
        if len(records) > COLLECTION_MAX:
            return _error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        try:
            for item in records:
                t = self._collection_type(item)
                if isinstance(t, SObjectType):
                    self._prepare(t, self._fields_of(item), text, creating=creating)
        except _ParseError as exc:
            return _error(400, "JSON_PARSER_ERROR", str(exc))
        undo: list[Callable[[], None]] = []
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        for item in records:
            outcome = self._save_one(item, text, creating=creating, seen=seen, undo=undo)
            if isinstance(outcome, str):
                results.append({"id": outcome, "success": True, "errors": []})
            else:
                results.append({"success": False, "errors": [e.result() for e in outcome]})
        if all_or_none and any(not r["success"] for r in results):
            for step in reversed(undo):
                step()
            rolled_back = DmlError("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK).result()
            results = [
                r if not r["success"] else {"success": False, "errors": [rolled_back]} for r in results
            ]
        return Response(200, results)

    def _collection_type(self, item: Any) -> SObjectType | DmlError:
        attributes = item.get("attributes") if isinstance(item, dict) else None
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(name, str) or not name:
            return DmlError("INVALID_TYPE", "Must send a concrete entity type.")
        t = self.data.sobject(name)
        return t if t is not None else DmlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")

    @staticmethod
    def _fields_of(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != "attributes" and k.lower() != "id"}

    def _save_one(
        self,
        item: Any,
        text: str,
        *,
        creating: bool,
        seen: set[str],
        undo: list[Callable[[], None]],
    ) -> str | list[DmlError]:
        """Save one collection record: its id, or its errors."""
        t = self._collection_type(item)
        if isinstance(t, DmlError):
            return [t]
        ids = [v for k, v in item.items() if k.lower() == "id"]
        if creating:
            if ids:
                return [DmlError("INVALID_FIELD", "Record ID: cannot specify Id in an insert call", ["Id"])]
            values, errors = self._prepare(t, self._fields_of(item), text, creating=True)
            if errors:
                return errors
            record_id = self._insert(t, values)
            undo.append(lambda: self.data.records[t.name].pop(record_id, None))
            return record_id
        if not ids or ids[0] in (None, ""):
            return [DmlError("MISSING_ARGUMENT", "Id not specified in an update call")]
        raw_id = ids[0]
        if not isinstance(raw_id, str) or not _valid_id(raw_id) or not raw_id.startswith(t.key_prefix):
            return [self._malformed_id(t, str(raw_id))]
        found = self.data.get(raw_id)
        if found is None:
            if to_18(raw_id) in self.data.deleted.get(t.name, {}):
                return [DmlError("ENTITY_IS_DELETED", "entity is deleted")]
            return [DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")]
        record = found[1]
        if record["Id"] in seen:
            return [DmlError("DUPLICATE_VALUE", f"Duplicate id in list: {record['Id']}")]
        seen.add(record["Id"])
        values, errors = self._prepare(t, self._fields_of(item), text, creating=False)
        if errors:
            return errors
        before = dict(record)

        def restore() -> None:
            record.clear()
            record.update(before)

        self._update(t, record, values)
        undo.append(restore)
        return record["Id"]

    # --- Composite ----------------------------------------------------------------------------

    def composite_resources(self, request: Request) -> Response:
        version = self._version(request)
        return Response(200, {"sobjects": f"/services/data/v{version}/composite/sobjects"})

    def composite(self, request: Request) -> Response:
        """Subrequests in order, in the caller's session, answered together; the whole request is one
        API call (`_data_request` counted it), its subrequests are not counted again."""
        parsed = self._json_object(request, "CompositeRequest")
        if isinstance(parsed, Response):
            return parsed
        body, _ = parsed
        subrequests = body.get("compositeRequest")
        all_or_none = body.get("allOrNone", False)
        collate = body.get("collateSubrequests", True)
        if not isinstance(all_or_none, bool) or not isinstance(collate, bool):
            return _error(400, "JSON_PARSER_ERROR", "allOrNone and collateSubrequests must be booleans")
        if not isinstance(subrequests, list) or not subrequests:
            return _error(400, "INVALID_API_INPUT", "compositeRequest: a list of at least one subrequest is required")
        if len(subrequests) > COMPOSITE_MAX:
            return _error(
                400, "LIMIT_EXCEEDED", f"Composite requests can have at most {COMPOSITE_MAX} subrequests"
            )
        seen: set[str] = set()
        bulk = 0
        for sub in subrequests:
            problem = self._subrequest_problem(sub, seen)
            if problem is not None:
                return _error(400, "INVALID_API_INPUT", problem)
            bulk += bool(_BULK_SUBREQUEST.match(sub["url"]))
        if bulk > COMPOSITE_BULK_MAX:
            return _error(
                400,
                "LIMIT_EXCEEDED",
                f"Composite requests can have at most {COMPOSITE_BULK_MAX} sObject Collections or query subrequests",
            )
        answers: dict[str, Any] = {}  # referenceId -> its answer's body, for @{ref.path}
        results: list[dict[str, Any]] = []
        journal: list[Callable[[], None]] | None = [] if all_or_none else None
        outer, self._journal = self._journal, journal
        failed = False
        try:
            for sub in subrequests:
                ref = sub["referenceId"]
                if failed and all_or_none:
                    results.append(_halted(ref))
                    continue
                result = self._run_subrequest(request, sub, answers)
                results.append(result)
                if result["httpStatusCode"] >= 400:
                    failed = True
                else:
                    answers[ref] = result["body"]
        finally:
            self._journal = outer
        if failed and all_or_none:
            for step in reversed(journal or []):
                step()
            results = [r if r["httpStatusCode"] >= 400 else _halted(r["referenceId"]) for r in results]
        return Response(200, {"compositeResponse": results})

    @staticmethod
    def _subrequest_problem(sub: Any, seen: set[str]) -> str | None:
        if not isinstance(sub, dict):
            return "each subrequest must be an object with method, url and referenceId"
        method, url, ref = sub.get("method"), sub.get("url"), sub.get("referenceId")
        if method not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            return f"subrequest {ref!r}: method must be one of GET, POST, PATCH, PUT, DELETE"
        if not isinstance(url, str) or not url.startswith("/services/data/v"):
            return f"subrequest {ref!r}: url must start with /services/data/vXX.X/"
        if not isinstance(ref, str) or not _REFERENCE_ID.fullmatch(ref):
            return f"Invalid referenceId {ref!r}: use letters, numbers and underscores, starting with a letter"
        if ref in seen:
            return f"Duplicate referenceId provided in the request: {ref}"
        seen.add(ref)
        return None

    def _run_subrequest(self, outer: Request, sub: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
        ref = sub["referenceId"]
        try:
            url = _resolve(sub["url"], answers, quote_values=True)
            payload = json.loads(_resolve(json.dumps(sub["body"]), answers)) if sub.get("body") is not None else None
        except LookupError as exc:
            return _halted(ref, f"Invalid reference specified. {exc}")
        if re.match(r"/services/data/v\d+\.\d+/composite/?(?:\?|$)", url):
            return _subresult(ref, _error(400, "INVALID_API_INPUT", "A composite request cannot contain a composite"))
        m = re.match(r"/services/data/v(\d+\.\d+)(?:/|$)", url)
        if not m or m.group(1) not in SUPPORTED_VERSIONS:
            return _subresult(ref, _error(404, "NOT_FOUND", NOT_FOUND))
        headers = {"Authorization": outer.header("Authorization") or "", "Content-Type": "application/json"}
        for name, value in (sub.get("httpHeaders") or {}).items():
            headers[str(name)] = str(value)
        inner = Request(sub["method"], url, headers, json.dumps(payload).encode() if payload is not None else b"")
        return _subresult(ref, self._dispatch(inner, self.router.match(inner)), url)

    # --- validation and saving ----------------------------------------------------------------

    def _json_object(self, request: Request, type_name: str) -> tuple[dict[str, Any], str] | Response:
        """The body as a JSON object plus its text, or the JSON_PARSER_ERROR Salesforce would send."""
        if not request.body.strip():
            return _error(
                400,
                "JSON_PARSER_ERROR",
                "The HTTP entity body is required, but this request has no entity body.",
            )
        try:
            body = request.json()
        except BadJson as exc:
            cause = exc.__cause__
            if isinstance(cause, json.JSONDecodeError):
                where = f"[line:{cause.lineno}, column:{cause.colno}]"
                if cause.pos < len(cause.doc):
                    ch = cause.doc[cause.pos]
                    message = (
                        f"Unexpected character ('{ch}' (code {ord(ch)})): expected a valid value "
                        f"(number, String, array, object, 'true', 'false' or 'null') at {where}"
                    )
                else:
                    message = f"Unexpected end-of-input at {where}"
            else:
                message = "Invalid UTF-8 in the request body at [line:1, column:1]"
            return _error(400, "JSON_PARSER_ERROR", message)
        if not isinstance(body, dict):
            return _error(400, "JSON_PARSER_ERROR", _deserialize_error(type_name, body, 1, 1))
        return body, request.body.decode("utf-8")

    def _prepare(
        self, t: SObjectType, body: dict[str, Any], text: str, *, creating: bool
    ) -> tuple[dict[str, Any], list[DmlError]]:
        """Check a record's fields as Salesforce's save does: the values to store, or the errors.

        Raises _ParseError (with Salesforce's message) when a value cannot be read as the field's type.
        """
        values: dict[str, Any] = {}
        read_only: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = t.field(key)
            if f is None:
                return {}, [DmlError("INVALID_FIELD", f"No such column '{key}' on sobject of type {t.name}")]
            try:
                values[f.name] = _coerce(f, raw)
            except _ParseError:
                line, column = _locate(text, key, raw)
                raise _ParseError(_deserialize_error(f.type, raw, line, column)) from None
            if not (f.createable if creating else f.updateable):
                read_only.append(f.name)
        if read_only:
            message = READ_ONLY_MESSAGE.format(", ".join(read_only))
            return {}, [DmlError("INVALID_FIELD_FOR_INSERT_UPDATE", message, read_only)]
        errors: list[DmlError] = []
        for name, value in list(values.items()):
            checked, error = self._check_value(t.fields[name], value)
            values[name] = checked
            if error is not None:
                errors.append(error)
        if creating:
            missing = [
                f.name
                for f in t.fields.values()
                if not f.nillable
                and f.createable
                and f.type != BOOLEAN
                and f.name != "OwnerId"
                and (t.name, f.name) not in CREATE_DEFAULTS
                and values.get(f.name) is None
            ]
        else:
            missing = [n for n, v in values.items() if v is None and not t.fields[n].nillable]
        if missing:
            errors.append(
                DmlError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
                )
            )
        return values, errors

    def _check_value(self, f: SField, value: Any) -> tuple[Any, DmlError | None]:
        """Per-field rules: length, email shape, restricted picklists, and lookups to live records."""
        if value is None:
            return None, None
        if f.type in (STRING, TEXTAREA, EMAIL) and f.length and len(value) > f.length:
            shown = value if len(value) <= 200 else value[:200] + "..."
            message = f"{f.label}: data value too large: {shown} (max length={f.length})"
            return value, DmlError("STRING_TOO_LONG", message, [f.name])
        if f.type == EMAIL and not _EMAIL_RE.fullmatch(value):
            return value, DmlError(
                "INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {value}", [f.name]
            )
        if f.type == MULTIPICKLIST and f.picklist and (bad := [v for v in value.split(";") if v not in f.picklist]):
            message = f"bad value for restricted picklist field: {bad[0]}"
            return value, DmlError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", message, [f.name])
        if f.type == PICKLIST and f.picklist and value not in f.picklist:
            message = f"bad value for restricted picklist field: {value}"
            return value, DmlError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", message, [f.name])
        if f.type == REFERENCE:
            prefixes = [t.key_prefix for t in map(self.data.sobject, f.reference_to) if t is not None]
            if not _valid_id(value) or not any(value.startswith(p) for p in prefixes):
                return value, DmlError(
                    "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name]
                )
            found = self.data.get(value)
            if found is None:
                return value, DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
            return found[1]["Id"], None
        return value, None

    def _stamp(self, floor: datetime | None = None) -> datetime:
        """The clock's time at ms precision, but always after every earlier stamp (and after `floor`)."""
        if self._last_stamp is None:
            stamps = [
                r.get("SystemModstamp")
                for table in (*self.data.records.values(), *self.data.deleted.values())
                for r in table.values()
            ]
            known = [s for s in stamps if isinstance(s, datetime)]
            self._last_stamp = _truncate_ms(max(known)) if known else None
        stamp = _truncate_ms(self.clock.now())
        for earlier in (self._last_stamp, floor):
            if earlier is not None and stamp <= earlier:
                stamp = _truncate_ms(earlier) + _MS
        self._last_stamp = stamp
        return stamp

    @staticmethod
    def _derive(t: SObjectType, record: dict[str, Any]) -> None:
        """Fields Salesforce computes: an opportunity's closed/won flags, a user's full name."""
        if t.name == "Opportunity":
            stage = record.get("StageName") or ""
            record["IsClosed"] = stage.startswith("Closed")
            record["IsWon"] = stage == "Closed Won"
        elif t.name == "User":
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(p for p in parts if p) or None

    def _insert(self, t: SObjectType, values: dict[str, Any]) -> str:
        record: dict[str, Any] = {f.name: (False if f.type == BOOLEAN else None) for f in t.fields.values()}
        for (type_name, name), default in CREATE_DEFAULTS.items():
            if type_name == t.name and name in t.fields:
                record[name] = default
        record.update(
            {k: v for k, v in values.items() if v is not None or (t.name, k) not in CREATE_DEFAULTS}
        )
        record_id = self.data.new_id(t)
        while self.data.get(record_id) is not None:  # demo data may already use the next serial
            record_id = self.data.new_id(t)
        stamp = self._stamp()
        record.update(
            {
                "Id": record_id,
                "CreatedDate": stamp,
                "CreatedById": self._caller,
                "LastModifiedDate": stamp,
                "LastModifiedById": self._caller,
                "SystemModstamp": stamp,
            }
        )
        if "OwnerId" in t.fields and record.get("OwnerId") is None:
            record["OwnerId"] = self._caller
        self._derive(t, record)
        self.data.records.setdefault(t.name, {})[record_id] = record
        if self._journal is not None:
            self._journal.append(lambda: self.data.records[t.name].pop(record_id, None))
        salesforce_history.record_created(self.data, t, record, self._journal)
        return record_id

    def _touch(self, record: dict[str, Any]) -> None:
        previous = record.get("SystemModstamp")
        stamp = self._stamp(previous if isinstance(previous, datetime) else None)
        record.update({"LastModifiedDate": stamp, "SystemModstamp": stamp, "LastModifiedById": self._caller})

    def _update(self, t: SObjectType, record: dict[str, Any], values: dict[str, Any]) -> None:
        before = dict(record)
        if self._journal is not None:
            self._journal.append(lambda: (record.clear(), record.update(before)))
        record.update(values)
        self._derive(t, record)
        self._touch(record)
        salesforce_history.record_changes(self.data, t, record, before, self._journal)

    def _delete(self, t: SObjectType, record: dict[str, Any]) -> None:
        """Move to the recycle bin, where queryAll still sees it with IsDeleted = true."""
        if self._journal is not None:
            before = dict(record)

            def undelete() -> None:
                self.data.deleted.get(t.name, {}).pop(before["Id"], None)
                record.clear()
                record.update(before)
                self.data.records[t.name][before["Id"]] = record

            self._journal.append(undelete)
        self.data.records[t.name].pop(record["Id"], None)
        self._touch(record)
        record["IsDeleted"] = True
        self.data.deleted.setdefault(t.name, {})[record["Id"]] = record
