"""Jira Cloud's Bulk fetch issues, emulated: `POST /rest/api/{2,3,latest}/issue/bulkfetch`.

Reference (Jira Cloud platform REST API, group Issues, "Bulk fetch issues"):
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-bulkfetch-post
(v2: https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issues/#api-rest-api-2-issue-bulkfetch-post).
The request (BulkFetchIssueRequestBean): `issueIdsOrKeys` (required; ids and keys may be mixed), `fields`,
`expand` (a list, not a comma string), `properties` (at most 5 keys), `fieldsByKeys`. The answer
(BulkIssueResults): `issues` in ascending id order, and `issueErrors` only for issues Jira could not return for a
retriable error or a payload constraint; "issues which aren't found or that the user doesn't have permission to
view won't be returned in this list": they are simply left out.

The limit: "By default you can request up to 100 issues in a single call. You can request up to 1000 issues in a
single call when the request is shaped so that it can be served efficiently", that is when `fields` explicitly
names at least one field (not only exclusions, not `*all` / `*navigable`, not the default), at most 100 of them,
none that "returns multiple values (for example comment, worklog, or attachment)", and `expand` holds none of
changelog, editmeta, operations, renderedFields, transitions, versionedRepresentations; otherwise more than 100 is
a 400 (quoted from the reference's operation text as the jira.js mirror carries it:
https://mrrefactoring.github.io/jira.js/api/functions/cloud.bulkFetchIssues). Which fields "return multiple
values" the reference names by example only. The sandbox reads it as the fields that return a collection of
separately stored entities (comments, worklogs, attachments, links, sub-tasks); `strict = True` also counts every
array-valued field (labels, multi-selects, multi-user pickers, components), the narrowest reading, so a client
can be tested against both.

Knobs for tests: `hidden` (keys the caller may not browse: left out), `errors` (key -> message: in `issueErrors`,
as a retriable failure), `before` (called with the ids asked, before the answer is built: an edit or a delete
between a search and its fetch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trackerbridge.sandbox.jira_model as m
from trackerbridge.sandbox.jira_render import select_fields
from trackerbridge.sandbox.jira_search import adf
from trackerbridge.sandbox.web import BadJson, Request, Response

if TYPE_CHECKING:
    from trackerbridge.sandbox.jira_api import JiraService

BULKFETCH_MAX = 100  # issues per request by default
BULKFETCH_EFFICIENT_MAX = 1000  # issues per request when the request meets the documented conditions
BULKFETCH_FIELDS_MAX = 100  # explicitly included fields, for the larger limit
BULKFETCH_PROPERTIES_MAX = 5
SLOW_EXPANDS = frozenset(
    {"changelog", "editmeta", "operations", "renderedFields", "transitions", "versionedRepresentations"}
)
ENTITY_LISTS = frozenset({"comment", "worklog", "attachment", "issuelinks", "subtasks"})
"""System fields that return a collection of separately stored entities ("multiple values")."""
ARRAY_KINDS = frozenset({m.LABELS, m.USERS, m.MULTI_OPTION, m.COMPONENTS, m.LINKS, m.COMMENTS})


def _error(status: int, *messages: str) -> Response:
    return Response(status, {"errorMessages": list(messages), "errors": {}})


class JiraBulkFetch:
    """Registers itself on the service's router (Cloud only: Data Center has no bulkfetch)."""

    def __init__(self, service: JiraService) -> None:
        self.service = service
        self.strict = False
        self.hidden: set[str] = set()
        self.errors: dict[str, str] = {}
        self.before: Callable[[list[str]], None] | None = None
        self.requests: list[dict[str, Any]] = []  # bodies as received, for tests
        if service.cloud:
            for api in ("/rest/api/2", "/rest/api/latest", "/rest/api/3"):
                service.router.add("POST", f"{api}/issue/bulkfetch", self.bulkfetch)

    def limit(self, spec: list[str], fields: list[str], expand: set[str]) -> int:
        """100, or 1000 when the request is shaped as the reference's conditions say."""
        named = [s.strip() for part in spec for s in part.split(",") if s.strip()]
        explicit = [s for s in named if not s.startswith("-") and s not in ("*all", "*navigable")]
        if not explicit or len(explicit) != len([s for s in named if not s.startswith("-")]):
            return BULKFETCH_MAX  # nothing named, or a wildcard
        if len(explicit) > BULKFETCH_FIELDS_MAX or expand & SLOW_EXPANDS:
            return BULKFETCH_MAX
        data = self.service.data
        for fid in fields:
            kind = data.fields[fid].kind
            if fid in ENTITY_LISTS or kind in (m.COMMENTS, m.LINKS) or (self.strict and kind in ARRAY_KINDS):
                return BULKFETCH_MAX
        return BULKFETCH_EFFICIENT_MAX

    def bulkfetch(self, request: Request) -> Response:
        service = self.service
        try:
            body = request.json()
        except BadJson as exc:
            return _error(400, f"Invalid request payload: {exc}")
        if not isinstance(body, dict):
            return _error(400, "Invalid request payload. Refer to the REST API documentation and try again.")
        self.requests.append(body)
        wanted = body.get("issueIdsOrKeys")
        if not isinstance(wanted, list) or not wanted or not all(isinstance(i, (str, int)) for i in wanted):
            return _error(400, "issueIdsOrKeys must not be empty.")
        spec = body.get("fields") or []
        expand_raw = body.get("expand") or []
        props = body.get("properties") or []
        if not isinstance(spec, list) or not isinstance(expand_raw, list) or not isinstance(props, list):
            return _error(400, "fields, expand and properties are lists.")
        if len(props) > BULKFETCH_PROPERTIES_MAX:
            return _error(400, f"A maximum of {BULKFETCH_PROPERTIES_MAX} issue property keys can be specified.")
        expand = {str(e).strip() for e in expand_raw if str(e).strip()}
        field_ids = select_fields(service.data, [str(s) for s in spec], "*navigable")
        cap = self.limit([str(s) for s in spec], field_ids, expand)
        if len(wanted) > cap:
            return _error(400, f"The number of issues requested ({len(wanted)}) exceeds the maximum of {cap}.")
        asked = [str(i) for i in wanted]
        if self.before is not None:
            self.before(asked)
        found: dict[int, m.Issue] = {}
        errors = []
        for ident in asked:
            issue = service.data.issue(ident)
            if issue is None or service.data.issues.get(issue.key) is not issue or issue.key in self.hidden:
                continue  # not found (or deleted), or not visible: left out, not an error
            if issue.key in self.errors:
                errors.append({"id": str(issue.id), "errorMessage": self.errors[issue.key]})
                continue
            found[issue.id] = issue
        keys = [str(p) for p in props]
        rendered = [service.render.issue(found[i], field_ids, expand, keys) for i in sorted(found)]
        if request.path.startswith("/rest/api/3/"):
            rich = {f.id for f in service.data.fields.values() if f.kind == m.TEXT}
            for one in rendered:
                values = one.get("fields") or {}
                for fid in rich & values.keys():
                    if isinstance(values[fid], str):
                        values[fid] = adf(values[fid])
        return Response(200, {"issues": rendered, "issueErrors": errors})
