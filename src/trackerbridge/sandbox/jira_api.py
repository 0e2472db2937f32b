"""The emulated Jira REST API (v2), Cloud or Data Center flavour.

The flavour decides what the real `jira` client sees: `serverInfo.deploymentType`, user
identity (accountId vs name), and search: Cloud serves the enhanced `search/jql` with
`nextPageToken` and answers 410 on the removed `search`; Data Center serves `search` with
`startAt` / `total` and has no `search/jql`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from trackerbridge.sandbox import jira_model as m
from trackerbridge.sandbox.bot import BOT_EMAIL
from trackerbridge.sandbox.clock import Clock
from trackerbridge.sandbox.jira_bulk import JiraBulk
from trackerbridge.sandbox.jira_bulkfetch import JiraBulkFetch
from trackerbridge.sandbox.jira_edit import EditError, IssueEditor, comment_error
from trackerbridge.sandbox.jira_render import JiraRenderer, jira_datetime, select_fields
from trackerbridge.sandbox.jql import JqlError, compile_jql
from trackerbridge.sandbox.web import BadJson, Request, Response, Router

CLOUD_PAGE_MAX = 100  # enhanced search, when fields are asked for
CLOUD_ID_PAGE_MAX = 5000  # enhanced search, ids/keys only
DC_PAGE_MAX = 1000  # jira.search.views.default.max
DEFAULT_PAGE = 50
CURSORS_KEPT = 64
NOT_FOUND = "Issue does not exist or you do not have permission to see it."
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


@dataclass
class JiraAuth:
    """Sandbox credentials. Every user authenticates with basic auth (email on Cloud, username on
    Data Center) and the shared API token, so tests can act as a person; the PAT is the bot's."""

    api_token: str = "sandbox-jira-token"
    pat: str = "sandbox-jira-pat"
    bot_email: str = BOT_EMAIL


def _unbounded(jql: str) -> bool:
    """Cloud's enhanced search refuses queries without a restriction (empty, or ORDER BY alone)."""
    return re.sub(r"(?is)\border\s+by\b.*$", "", jql).strip() == ""


_ABSENT = object()
PROPERTY_KEY_LIMIT = 255  # characters of a property key
PROPERTY_VALUE_LIMIT = 32768  # characters of a property's JSON value


def property_error(key: str, body: bytes) -> str | None:
    """Jira's message for an entity property it refuses, as the issue-properties reference states
    the limits (a key of at most 255 characters, a non-empty JSON value of at most 32768)."""
    if not key or len(key) > PROPERTY_KEY_LIMIT:
        return f"The property key cannot be longer than {PROPERTY_KEY_LIMIT} characters."
    if not body or not body.strip():
        return "The property value cannot be empty."
    if len(body) > PROPERTY_VALUE_LIMIT:
        return f"The property value cannot be longer than {PROPERTY_VALUE_LIMIT} characters."
    try:
        json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "The property value must be a valid JSON."
    return None


def error(status: int, *messages: str, errors: dict[str, str] | None = None) -> Response:
    return Response(status, {"errorMessages": list(messages), "errors": errors or {}})


NOTIFY_REFUSED = "To discard the user notification either admin or project admin permissions are required."


class JiraService:
    def __init__(
        self,
        data: m.JiraData,
        clock: Clock,
        auth: JiraAuth,
        *,
        flavor: str = "cloud",
        base_url: str = "",
        rate_limit: int = 0,
    ) -> None:
        """`rate_limit`: requests per hour a caller may make (0: unlimited, and no rate-limit headers)."""
        if flavor not in ("cloud", "datacenter"):
            raise ValueError(f"unknown Jira flavour {flavor!r}; expected cloud or datacenter")
        self.data = data
        self.clock = clock
        self.auth = auth
        self.flavor = flavor
        self.cloud = flavor == "cloud"
        self.editor = IssueEditor(data, self.cloud)
        self.rate_limit = rate_limit
        self._window: tuple[datetime, int] | None = None  # (the hour's start, requests made in it)
        self._cursors: OrderedDict[str, tuple[list[str], str]] = OrderedDict()
        self._search_cache: tuple[tuple[Any, ...], list[str]] | None = None
        self.contexts: dict[str, list[dict[str, Any]]] = {}  # field id -> its contexts (Cloud), kept in memory
        self.live_pages = False  # Cloud search pages follow edits made during a read (configurable shape)
        self._sent_order: dict[tuple[str, str], tuple[Any, str]] = {}
        self.hide_deployment_type = False  # serverInfo without deploymentType (configurable shape)
        self.notify_probes = 0  # PUTs that asked for notifyUsers=false
        # notifyUsers=false needs Administer Jira or project admin (https://developer.atlassian.com/cloud/jira/
        # platform/rest/v2/api-group-issues/#api-rest-api-2-issue-issueidorkey-put); the bot has neither when set.
        self.notify_requires_admin = False
        self.version = 0  # bumped on every write, so cached searches see fresh data
        self.base_url = base_url
        self.router = Router()
        self.bulk = JiraBulk(self)  # bulk edit, its queue, bulk properties, mypermissions (jira_bulk.py)
        self.bulkfetch = JiraBulkFetch(self)  # POST issue/bulkfetch, Cloud (jira_bulkfetch.py)
        for ver in ("2", "latest"):
            self._routes(f"/rest/api/{ver}")
        if self.cloud:  # Atlassian's current Cloud reference documents v3; the same answers, rich text as ADF
            add = self.router.add
            add("GET", "/rest/api/3/serverInfo", self.server_info)
            add("GET", "/rest/api/3/myself", self.myself)
            add("GET", "/rest/api/3/search/jql", self.search_jql_v3)
            add("POST", "/rest/api/3/search/jql", self.search_jql_v3)
            add("GET", "/rest/api/3/mypermissions", self.bulk.my_permissions)
            self.bulk.routes("/rest/api/3")

    @property
    def base_url(self) -> str:
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value
        self.render = JiraRenderer(self.data, value, self.flavor)

    def _routes(self, api: str) -> None:
        add = self.router.add
        add("GET", f"{api}/serverInfo", self.server_info)
        add("GET", f"{api}/myself", self.myself)
        add("GET", f"{api}/field", self.fields)
        add("GET", f"{api}/status", self.statuses)
        add("GET", f"{api}/project", self.projects)
        add("GET", f"{api}/project/{{key}}/statuses", self.project_statuses)
        add("GET", f"{api}/priority", self.priorities)
        add("GET", f"{api}/issueLinkType", self.link_types)
        add("GET", f"{api}/user", self.user)
        add("GET", f"{api}/user/search", self.user_search)
        add("GET", f"{api}/mypermissions", self.bulk.my_permissions)
        if self.cloud:
            self.bulk.routes(api)
            add("GET", f"{api}/search/jql", self.search_jql)
            add("POST", f"{api}/search/jql", self.search_jql)
            add("POST", f"{api}/search/approximate-count", self.approximate_count)
            add("GET", f"{api}/search", self.search_removed)
            add("POST", f"{api}/search", self.search_removed)
            add("GET", f"{api}/issue/{{key}}/changelog", self.changelog)
        else:
            add("GET", f"{api}/search", self.search)
            add("POST", f"{api}/search", self.search)
        add("GET", f"{api}/issue/{{key}}", self.get_issue)
        add("PUT", f"{api}/issue/{{key}}", self.edit_issue)
        add("GET", f"{api}/issue/{{key}}/properties", self.property_keys)
        add("GET", f"{api}/issue/{{key}}/properties/{{property}}", self.get_property)
        add("PUT", f"{api}/issue/{{key}}/properties/{{property}}", self.set_property)
        add("DELETE", f"{api}/issue/{{key}}/properties/{{property}}", self.delete_property)
        add("GET", f"{api}/issue/{{key}}/comment", self.list_comments)
        add("POST", f"{api}/issue/{{key}}/comment", self.add_comment)
        add("GET", f"{api}/issue/{{key}}/transitions", self.transitions)
        add("POST", f"{api}/issue/{{key}}/transitions", self.do_transition)
        add("POST", f"{api}/issueLink", self.link_issues)
        add("POST", f"{api}/field", self.create_field)
        if self.cloud:
            add("GET", f"{api}/field/{{field}}/context", self.field_contexts)
            add("POST", f"{api}/field/{{field}}/context", self.create_context)
            add("POST", f"{api}/field/{{field}}/context/{{context}}/option", self.create_options)
            add("GET", f"{api}/field/{{field}}/context/{{context}}/option", self.context_options)

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
        return request.caller  # type: ignore[attr-defined,no-any-return]

    def _wrote(self) -> None:
        self.version += 1

    # --- server, users, catalog ---------------------------------------------------------------

    def server_info(self, request: Request) -> Response:
        now = jira_datetime(self.clock.now())
        if self.cloud:
            version, numbers, deployment, build = "1001.0.0-SNAPSHOT", [1001, 0, 0], "Cloud", 100282
        else:
            version, numbers, deployment, build = "9.12.15", [9, 12, 15], "Server", 9120015
        response = Response(
            200,
            {
                "baseUrl": self.base_url,
                "version": version,
                "versionNumbers": numbers,
                "deploymentType": deployment,
                "buildNumber": build,
                "buildDate": "2026-10-01T00:00:00.000+0000",
                "serverTime": now,
                "scmInfo": "sandbox",
                "serverTitle": "trackerbridge sandbox Jira",
            },
        )
        if self.hide_deployment_type:  # older servers and some proxies answer without it
            del response.body["deploymentType"]
        return response

    def myself(self, request: Request) -> Response:
        out = self.render.user(self._caller(request).account_id) or {}
        out.update(
            {"locale": "en_US", "groups": {"size": 1, "items": []}, "applicationRoles": {"size": 1, "items": []}}
        )
        return Response(200, out)

    def fields(self, request: Request) -> Response:
        return Response(200, [self.render.field(f) for f in self.data.fields.values()])

    def statuses(self, request: Request) -> Response:
        return Response(200, [self.render.status(sid) for sid in self.data.statuses])

    def projects(self, request: Request) -> Response:
        return Response(200, [self.render.project(k) for k in sorted(self.data.projects)])

    def project_statuses(self, request: Request) -> Response:
        """Each issue type of the project with the statuses of its workflow
        (https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-projects/#api-rest-api-2-project-projectidorkey-statuses-get)."""
        key = str(request.path_params.get("key") or "").upper()
        if key not in self.data.projects:
            return error(404, f"No project could be found with key '{key}'.")
        used = self.data.project_statuses.get(key) or list(self.data.statuses)
        statuses = [self.render.status(sid) for sid in used if sid in self.data.statuses]
        return Response(
            200,
            [
                {
                    "self": f"{self.render.api}/issuetype/{tid}",
                    "id": tid,
                    "name": name,
                    "subtask": False,
                    "statuses": statuses,
                }
                for name, tid in m.ISSUE_TYPES.items()
            ],
        )

    def priorities(self, request: Request) -> Response:
        return Response(200, [self.render.priority(n) for n in m.PRIORITIES])

    def link_types(self, request: Request) -> Response:
        return Response(200, {"issueLinkTypes": [self.render.link_type(n) for n in m.LINK_TYPES]})

    def user(self, request: Request) -> Response:
        ident = request.arg("accountId") if self.cloud else request.arg("username") or request.arg("key")
        u = next((x for x in self.data.users.values() if ident in (x.account_id, x.name, x.key)), None)
        if not ident:
            return error(
                400,
                "The 'accountId' query parameter needs to be provided."
                if self.cloud
                else "The username query parameter was not provided",
            )
        if u is None:
            return error(
                404,
                f"User '{ident}' does not exist."
                if not self.cloud
                else f"Specified user does not exist or you do not have required permissions: {ident}",
            )
        return Response(200, self.render.user(u.account_id))

    def user_search(self, request: Request) -> Response:
        query = (request.arg("query") if self.cloud else request.arg("username")) or ""
        low = query.casefold()
        found = [
            u
            for u in self.data.users.values()
            if low and (low in u.email.casefold() or low in u.display_name.casefold() or low == u.name)
        ]
        start = int(request.arg("startAt", "0") or 0)
        size = min(int(request.arg("maxResults", "50") or 50), 1000)
        return Response(200, [self.render.user(u.account_id) for u in found[start : start + size]])

    # --- search -------------------------------------------------------------------------------

    def _params(self, request: Request) -> dict[str, Any]:
        """GET query parameters and POST bodies carry the same search options."""
        if request.method == "POST":
            body = request.json() or {}
            if not isinstance(body, dict):
                raise BadJson("expected a JSON object")
            fields = body.get("fields")
            return {
                "jql": body.get("jql") or "",
                "fields": [fields] if isinstance(fields, str) else list(fields or []),
                "expand": body.get("expand") or "",
                "maxResults": body.get("maxResults"),
                "startAt": body.get("startAt"),
                "nextPageToken": body.get("nextPageToken"),
                "properties": self._property_keys(body.get("properties")),
            }
        return {
            "jql": request.arg("jql", "") or "",
            "fields": request.args("fields"),
            "expand": request.arg("expand", "") or "",
            "maxResults": request.arg("maxResults"),
            "startAt": request.arg("startAt"),
            "nextPageToken": request.arg("nextPageToken"),
            "properties": self._property_keys(request.args("properties")),
        }

    @staticmethod
    def _property_keys(raw: Any) -> list[str]:
        """`properties`: a comma-separated list in a query, an array in a POST body."""
        parts = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
        return [k.strip() for p in parts for k in str(p).split(",") if k.strip()]

    def _matching_keys(self, jql: str, caller: m.JiraUser, now: datetime) -> list[str]:
        """Evaluate a query; the last result is reused while the data and query are unchanged."""
        signature = (jql, caller.account_id, self.version, now.replace(second=0, microsecond=0))
        if self._search_cache and self._search_cache[0] == signature:
            return self._search_cache[1]
        query = compile_jql(jql, self.data, now=now, current_user=caller.account_id)
        keys = [i.key for i in query.order([i for i in self.data.issues.values() if query.matches(i)])]
        self._search_cache = (signature, keys)
        return keys

    def _expand(self, raw: Any) -> set[str]:
        parts = raw if isinstance(raw, list) else str(raw or "").split(",")
        return {p.strip() for p in parts if p.strip()}

    def _page_size(self, raw: Any, cap: int) -> int | Response:
        if raw in (None, ""):
            return min(DEFAULT_PAGE, cap)
        try:
            size = int(raw)
        except (TypeError, ValueError):
            return error(400, f"The value '{raw}' is invalid for the maxResults parameter.")
        if size < 0:
            return error(400, "The maxResults parameter must be zero or greater.")
        return min(size or DEFAULT_PAGE, cap)

    def search(self, request: Request) -> Response:
        """Data Center: offset paging with a total."""
        p = self._params(request)
        size = self._page_size(p["maxResults"], DC_PAGE_MAX)
        if isinstance(size, Response):
            return size
        try:
            start = max(int(p["startAt"] or 0), 0)
        except (TypeError, ValueError):
            return error(400, f"The value '{p['startAt']}' is invalid for the startAt parameter.")
        try:
            keys = self._matching_keys(p["jql"], self._caller(request), self.clock.now())
        except JqlError as exc:
            return error(400, str(exc))
        field_ids = select_fields(self.data, p["fields"], "*navigable")
        expand = self._expand(p["expand"])
        props = p["properties"]
        issues = [
            self.render.issue(self.data.issues[k], field_ids, expand, props) for k in keys[start : start + size]
        ]
        return Response(
            200, {"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(keys), "issues": issues}
        )

    def _order(self, key: str) -> tuple[Any, str]:
        """Where an issue sorts in `ORDER BY updated ASC, key ASC`, the order trackerbridge asks for."""
        issue = self.data.issues[key]
        return (issue.fields.get("updated"), f"{issue.project}-{int(key.split('-')[1]):09d}")
    def search_jql_v3(self, request: Request) -> Response:
        """v3's enhanced search: as v2's, but textarea fields and comment bodies are Atlassian Document Format
        documents, not strings ("in Jira Cloud platform, the text in issue comments and in textarea custom
        fields is stored as ADF": https://developer.atlassian.com/cloud/jira/platform/apis/document/structure;
        the endpoint: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/)."""
        response = self.search_jql(request)
        if response.status != 200:
            return response
        rich = {f.id for f in self.data.fields.values() if f.kind == m.TEXT}
        for issue in response.body["issues"]:
            fields = issue.get("fields") or {}
            for fid in rich & fields.keys():
                if isinstance(fields[fid], str):
                    fields[fid] = adf(fields[fid])
            comments = fields.get("comment")
            if isinstance(comments, dict):
                for c in comments.get("comments", []):
                    if isinstance(c.get("body"), str):
                        c["body"] = adf(c["body"])
        return response

    def search_jql(self, request: Request) -> Response:
        """Cloud's enhanced search: token paging, no total; bigger pages when only ids are asked."""
        p = self._params(request)
        field_ids = select_fields(self.data, p["fields"], "id")
        ids_only = not field_ids
        size = self._page_size(p["maxResults"], CLOUD_ID_PAGE_MAX if ids_only else CLOUD_PAGE_MAX)
        if isinstance(size, Response):
            return size
        token = p["nextPageToken"]
        if token:
            cursor = self._cursors.get(str(token))
            if cursor is None:
                return error(400, "The provided next page token is invalid or expired.")
            keys, jql = cursor
            if jql != p["jql"]:
                return error(400, "The provided next page token does not belong to this query.")
            start = int(str(token).rsplit(".", 1)[1])
            if self.live_pages and start > 0:
                # Resume after the last issue sent, in today's order: one edited since moved later, so it
                # comes again on a later page, as an issue edited during a read does on Cloud.
                last = keys[start - 1]
                try:
                    fresh = self._matching_keys(p["jql"], self._caller(request), self.clock.now())
                except JqlError as exc:
                    return error(400, str(exc))
                marker = self._sent_order.get((str(token).rsplit(".", 1)[0], last))
                keys = [k for k in fresh if marker is None or self._order(k) > marker]
                keys = [*[None] * start, *keys]  # type: ignore[list-item]
        else:
            if _unbounded(p["jql"]):
                return error(400, UNBOUNDED)
            try:
                keys = self._matching_keys(p["jql"], self._caller(request), self.clock.now())
            except JqlError as exc:
                return error(400, str(exc))
            start = 0
        expand = self._expand(p["expand"])
        page = keys[start : start + size]
        out: dict[str, Any] = {
            "issues": [
                self.render.issue(self.data.issues[k], field_ids, expand, p["properties"])
                for k in page
                if k in self.data.issues
            ]
        }
        end = start + len(page)
        if end < len(keys):
            base = str(token).rsplit(".", 1)[0] if token else secrets.token_urlsafe(12)
            next_token = f"{base}.{end}"
            if self.live_pages and page:
                if len(self._sent_order) > 10_000:
                    self._sent_order.clear()  # old reads' markers; a token that lost its own starts over
                self._sent_order[(base, page[-1])] = self._order(page[-1])
            self._cursors[next_token] = (keys, p["jql"])
            while len(self._cursors) > CURSORS_KEPT:
                self._cursors.popitem(last=False)
            out["nextPageToken"] = next_token
        out["isLast"] = end >= len(keys)
        return Response(200, out)

    def approximate_count(self, request: Request) -> Response:
        body = request.json() or {}
        jql = str(body.get("jql") or "") if isinstance(body, dict) else ""
        if _unbounded(jql):
            return error(400, UNBOUNDED)
        try:
            keys = self._matching_keys(jql, self._caller(request), self.clock.now())
        except JqlError as exc:
            return error(400, str(exc))
        return Response(200, {"count": len(keys)})

    def search_removed(self, request: Request) -> Response:
        return error(
            410,
            "The requested API has been removed. Please migrate to the /rest/api/2/search/jql API. "
            "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
        )

    # --- issues -------------------------------------------------------------------------------

    def get_issue(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        field_ids = select_fields(self.data, request.args("fields"), "*all")
        props = self._property_keys(request.args("properties"))
        return Response(200, self.render.issue(issue, field_ids, self._expand(request.arg("expand")), props))

    def edit_issue(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        notify = request.arg("notifyUsers", "true")
        if notify not in ("true", "false"):
            return error(400, f"The value '{notify}' is invalid for the notifyUsers parameter.")
        if notify == "false":
            self.notify_probes += 1
            if self.notify_requires_admin:  # the bot is not a Jira or project administrator
                return error(403, NOTIFY_REFUSED)
        try:
            body = request.json()
            changes = self.editor.plan(issue, body)
            properties = self.editor.properties(body)
        except EditError as exc:
            return error(400, *exc.messages, errors=exc.errors)
        self.editor.apply(issue, changes, self._caller(request).account_id, self.clock.now())
        issue.properties.update(properties)
        self._wrote()
        return Response(204)

    # --- entity properties: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-properties/
    # (Data Center: /rest/api/2/issue/{issueIdOrKey}/properties). A property is an app's own JSON
    # next to the issue: setting one changes neither `updated` nor the changelog.

    def property_keys(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        base = f"{self.render.api}/issue/{issue.key}/properties"
        return Response(200, {"keys": [{"self": f"{base}/{k}", "key": k} for k in sorted(issue.properties)]})

    def get_property(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        key = request.path_params["property"]
        if key not in issue.properties:
            return error(404, f"The property with key '{key}' does not exist.")
        return Response(200, {"key": key, "value": issue.properties[key]})

    def set_property(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        key = request.path_params["property"]
        problem = property_error(key, request.body)
        if problem is not None:
            return error(400, problem)
        created = key not in issue.properties
        issue.properties[key] = request.json()
        self._wrote()
        return Response(201 if created else 200, {})

    def delete_property(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        key = request.path_params["property"]
        if issue.properties.pop(key, _ABSENT) is _ABSENT:
            return error(404, f"The property with key '{key}' does not exist.")
        self._wrote()
        return Response(204)

    def changelog(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        start = max(int(request.arg("startAt", "0") or 0), 0)
        size = min(int(request.arg("maxResults", "100") or 100), 100)
        values = [self.render.history(h) for h in issue.changelog[start : start + size]]
        return Response(
            200,
            {
                "self": f"{self.render.api}/issue/{issue.key}/changelog",
                "maxResults": size,
                "startAt": start,
                "total": len(issue.changelog),
                "isLast": start + size >= len(issue.changelog),
                "values": values,
            },
        )

    def list_comments(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        start = max(int(request.arg("startAt", "0") or 0), 0)
        size = min(int(request.arg("maxResults", "5000") or 5000), 5000)
        comments = [self.render.comment(issue, c) for c in issue.comments[start : start + size]]
        return Response(200, {"startAt": start, "maxResults": size, "total": len(issue.comments), "comments": comments})

    def add_comment(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        body = request.json()
        text = body.get("body") if isinstance(body, dict) else None
        problem = comment_error(text)
        if problem is not None or not isinstance(text, str):
            return error(400, errors={"comment": problem or ""})
        now = self.clock.now()
        comment = m.Comment(self.data.next_comment_id, self._caller(request).account_id, text, now, now)
        self.data.next_comment_id += 1
        issue.comments.append(comment)
        issue.fields["updated"] = now
        self._wrote()
        return Response(201, self.render.comment(issue, comment))

    def transitions(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        current = issue.fields["status"]
        out = [
            {
                "id": sid,
                "name": s.name,
                "to": self.render.status(sid),
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isConditional": False,
            }
            for sid, s in self.data.statuses.items()
            if sid != current
        ]
        return Response(200, {"expand": "transitions", "transitions": out})

    def do_transition(self, request: Request) -> Response:
        issue = self._issue(request)
        if issue is None:
            return error(404, NOT_FOUND)
        body = request.json()
        wanted = body.get("transition") if isinstance(body, dict) else None
        tid = str(wanted.get("id", "")) if isinstance(wanted, dict) else ""
        target = self.data.statuses.get(tid)
        if target is None or tid == issue.fields["status"]:
            return error(400, f"Transition id '{tid}' is not valid for this issue.")
        changes = []
        if isinstance(body, dict) and (body.get("fields") or body.get("update")):
            try:
                changes = self.editor.plan(issue, {"fields": body.get("fields"), "update": body.get("update")})
            except EditError as exc:
                return error(400, *exc.messages, errors=exc.errors)
        author, now = self._caller(request).account_id, self.clock.now()
        self.editor.transition(issue, target, author, now)
        self.editor.apply(issue, changes, author, now)
        self._wrote()
        return Response(204)

    def link_issues(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return error(400, "Expected a JSON object.")
        type_name = (body.get("type") or {}).get("name")
        if type_name not in m.LINK_TYPES:
            return error(404, f"No issue link type with name '{type_name}' found.")
        keys = []
        for side in ("inwardIssue", "outwardIssue"):
            ref = body.get(side) or {}
            issue = self.data.issue(str(ref.get("key") or ref.get("id") or ""))
            if issue is None:
                return error(404, NOT_FOUND)
            keys.append(issue.key)
        self.data.add_link(type_name, keys[0], keys[1])
        now = self.clock.now()
        for key in keys:
            self.data.issues[key].fields["updated"] = now
        self._wrote()
        return Response(201)

    # --- administration: custom fields ------------------------------------------------------------

    def _admin(self, request: Request) -> Response | None:
        """Only the bot administers the sandbox; anyone else gets Jira's 403."""
        if self._caller(request).email.casefold() == self.auth.bot_email.casefold():
            return None
        return error(403, "You are not authorized to perform this action. Administrator privileges are required.")

    def create_field(self, request: Request) -> Response:
        """POST field: a new custom field with the next id. Jira allows duplicate names, so does this."""
        denied = self._admin(request)
        if denied is not None:
            return denied
        body = request.json()
        body = body if isinstance(body, dict) else {}
        name, type_, searcher = body.get("name"), body.get("type"), body.get("searcherKey")
        if not isinstance(name, str) or not name.strip():
            return error(400, errors={"name": "The custom field name must not be empty."})
        if len(name) > 255:
            return error(400, errors={"name": "The custom field name must be at most 255 characters long."})
        kind = CREATABLE_TYPES.get(type_.removeprefix(m.CF)) if isinstance(type_, str) else None
        if kind is None or not str(type_).startswith(m.CF):
            return error(400, errors={"customFieldType": f"Custom field type '{type_}' does not exist."})
        expected = m.CF + SEARCHERS[kind]
        if searcher is not None and searcher != expected:
            return error(
                400, errors={"searcherKey": f"Searcher '{searcher}' is not valid for custom field type '{type_}'."}
            )
        numbers = [f.custom_id for f in self.data.fields.values() if f.custom and f.custom_id is not None]
        fid = f"customfield_{max([10099, *numbers]) + 1}"
        fd = m.FieldDef(fid, name, kind, custom=True)
        self.data.fields[fid] = fd
        self._wrote()
        return Response(201, self.render.field(fd))

    def _custom_field(self, request: Request) -> m.FieldDef | Response:
        fd = self.data.fields.get(request.path_params["field"])
        if fd is None or not fd.custom:
            return error(404, "The custom field was not found.")
        return fd

    def field_contexts(self, request: Request) -> Response:
        fd = self._custom_field(request)
        if isinstance(fd, Response):
            return fd
        values = self._contexts(fd)
        return Response(200, {"maxResults": 50, "startAt": 0, "total": len(values), "isLast": True, "values": values})

    def _contexts(self, fd: m.FieldDef) -> list[dict[str, Any]]:
        """The contexts made through the API; a select field that has options and none made has Jira's
        default global context (the one the field's options were made in)."""
        made = self.contexts.get(fd.id)
        if made or fd.kind != m.OPTION or not fd.allowed_values:
            return made or []
        name = f"Default Configuration Scheme for {fd.name}"
        return [{"id": str(fd.custom_id), "name": name, "description": "", "isGlobalContext": True,
                 "isAnyIssueType": True}]

    def context_options(self, request: Request) -> Response:
        """Get custom field options (context), as https://developer.atlassian.com/cloud/jira/platform/rest/v3/
        api-group-issue-custom-field-options/#api-rest-api-3-field-fieldid-context-contextid-option-get shows it."""
        fd = self._custom_field(request)
        if isinstance(fd, Response):
            return fd
        if not any(c["id"] == request.path_params["context"] for c in self._contexts(fd)):
            return error(404, "The context was not found.")
        values = [{"id": fd.option_id(v), "value": v, "disabled": False} for v in fd.allowed_values]
        return Response(200, {"maxResults": 100, "startAt": 0, "total": len(values), "isLast": True, "values": values})

    def create_context(self, request: Request) -> Response:
        denied = self._admin(request)
        if denied is not None:
            return denied
        fd = self._custom_field(request)
        if isinstance(fd, Response):
            return fd
        body = request.json()
        body = body if isinstance(body, dict) else {}
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return error(400, errors={"name": "The context name must not be empty."})
        projects, types = body.get("projectIds") or [], body.get("issueTypeIds") or []
        number = 10000 + sum(len(c) for c in self.contexts.values())
        ctx = {
            "id": str(number),
            "name": name,
            "description": str(body.get("description") or ""),
            "isGlobalContext": not projects,
            "isAnyIssueType": not types,
        }
        self.contexts.setdefault(fd.id, []).append(ctx)
        return Response(
            201, {**{k: ctx[k] for k in ("id", "name", "description")}, "projectIds": projects, "issueTypeIds": types}
        )

    def create_options(self, request: Request) -> Response:
        """Options go to a context; the emulator keeps one option list per field (its allowed values)."""
        denied = self._admin(request)
        if denied is not None:
            return denied
        fd = self._custom_field(request)
        if isinstance(fd, Response):
            return fd
        if not any(c["id"] == request.path_params["context"] for c in self._contexts(fd)):
            return error(404, "The context was not found.")
        if fd.kind != m.OPTION:
            return error(400, "The custom field doesn't support options.")
        body = request.json()
        raw = body.get("options") if isinstance(body, dict) else None
        if not isinstance(raw, list) or not raw:
            return error(400, errors={"options": "At least one option must be provided."})
        values = [o.get("value") if isinstance(o, dict) else None for o in raw]
        if any(not isinstance(v, str) or not v.strip() for v in values):
            return error(400, errors={"value": "The option value must not be empty."})
        taken = {v.casefold() for v in fd.allowed_values}
        for v in values:
            if str(v).casefold() in taken:
                return error(400, f"The option '{v}' already exists.")
            taken.add(str(v).casefold())
        updated = replace(fd, allowed_values=(*fd.allowed_values, *(str(v) for v in values)))
        self.data.fields[fd.id] = updated
        self._wrote()
        made = [{"id": updated.option_id(str(v)), "value": v, "disabled": False} for v in values]
        return Response(200, {"options": made})


CREATABLE_TYPES = {
    "select": m.OPTION,
    "textarea": m.TEXT,
    "textfield": m.STRING,
    "userpicker": m.USER,
    "datepicker": m.DATE,
    "datetime": m.DATETIME,
    "float": m.NUMBER,
    "labels": m.LABELS,
}
"""Custom field types `POST field` accepts (the types the emulator can store) -> their kind."""
SEARCHERS = {
    m.OPTION: "multiselectsearcher",
    m.TEXT: "textsearcher",
    m.STRING: "textsearcher",
    m.USER: "userpickergroupsearcher",
    m.DATE: "daterange",
    m.DATETIME: "datetimerange",
    m.NUMBER: "exactnumber",
    m.LABELS: "labelsearcher",
}


def adf(value: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: one paragraph per line, an empty line an empty
    paragraph (https://developer.atlassian.com/cloud/jira/platform/apis/document/nodes/paragraph)."""
    paragraphs = [{"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
                  for line in value.split("\n")]
    return {"type": "doc", "version": 1, "content": paragraphs}
