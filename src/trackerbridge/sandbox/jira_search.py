"""The emulated Jira's search: Cloud's enhanced `search/jql` (v2 and v3) with `nextPageToken`, Data Center's
`search` with `startAt` / `total`, the approximate count and Cloud's 410 on the removed `search`.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

import trackerbridge.sandbox.jira_model as m
from trackerbridge.sandbox.jira_plumbing import JiraPlumbing, error
from trackerbridge.sandbox.jira_render import select_fields
from trackerbridge.sandbox.jql import JqlError, compile_jql
from trackerbridge.sandbox.web import BadJson, Request, Response

CLOUD_PAGE_MAX = 100  # enhanced search, when fields are asked for
CLOUD_ID_PAGE_MAX = 5000  # enhanced search, ids/keys only
DC_PAGE_MAX = 1000  # jira.search.views.default.max
DEFAULT_PAGE = 50
CURSORS_KEPT = 64


UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


def _unbounded(jql: str) -> bool:
    """Cloud's enhanced search refuses queries without a restriction (empty, or ORDER BY alone)."""
    return re.sub(r"(?is)\border\s+by\b.*$", "", jql).strip() == ""


def adf(value: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: one paragraph per line, an empty line an empty
    paragraph (https://developer.atlassian.com/cloud/jira/platform/apis/document/nodes/paragraph)."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []} for line in value.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


class JiraSearch(JiraPlumbing):
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
        issues = [self.render.issue(self.data.issues[k], field_ids, expand, props) for k in keys[start : start + size]]
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
