"""The emulated Jira REST API (v2), Cloud or Data Center flavour.

The flavour decides what the real `jira` client sees: `serverInfo.deploymentType`, user
identity (accountId vs name), and search: Cloud serves the enhanced `search/jql` with
`nextPageToken` and answers 410 on the removed `search`; Data Center serves `search` with
`startAt` / `total` and has no `search/jql`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import trackerbridge.sandbox.jira_model as m
from trackerbridge.sandbox.bot import BOT_EMAIL
from trackerbridge.sandbox.clock import Clock
from trackerbridge.sandbox.jira_bulk import JiraBulk
from trackerbridge.sandbox.jira_bulkfetch import JiraBulkFetch
from trackerbridge.sandbox.jira_edit import IssueEditor
from trackerbridge.sandbox.jira_fields import JiraFields
from trackerbridge.sandbox.jira_issues import JiraIssues
from trackerbridge.sandbox.jira_plumbing import error
from trackerbridge.sandbox.jira_render import JiraRenderer, jira_datetime
from trackerbridge.sandbox.web import Request, Response, Router


@dataclass
class JiraAuth:
    """Sandbox credentials. Every user authenticates with basic auth (email on Cloud, username on
    Data Center) and the shared API token, so tests can act as a person; the PAT is the bot's."""

    api_token: str = "sandbox-jira-token"
    pat: str = "sandbox-jira-pat"
    bot_email: str = BOT_EMAIL


class JiraService(JiraIssues, JiraFields):
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
