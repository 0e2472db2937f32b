"""The emulated Jira's issue resources: get and edit, entity properties, changelog, comments, transitions
and issue links.
"""

from __future__ import annotations

import json

import trackerbridge.sandbox.jira_model as m
from trackerbridge.sandbox.jira_edit import EditError, comment_error
from trackerbridge.sandbox.jira_plumbing import NOT_FOUND, error
from trackerbridge.sandbox.jira_render import select_fields
from trackerbridge.sandbox.jira_search import JiraSearch
from trackerbridge.sandbox.web import Request, Response

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


NOTIFY_REFUSED = "To discard the user notification either admin or project admin permissions are required."


class JiraIssues(JiraSearch):
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
