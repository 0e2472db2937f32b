"""Jira Cloud's bulk endpoints, emulated: permissions, bulk edit, its queue, bulk issue properties.

References (Jira Cloud platform REST API; the v2 paths answer the same as v3):
- My permissions, `GET /rest/api/3/mypermissions?permissions=BULK_CHANGE`:
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-permissions/#api-rest-api-3-mypermissions-get
  (Data Center: https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/mypermissions, same
  `permissions.{KEY}.havePermission` shape).
- Bulk edit, `POST /rest/api/3/bulk/issues/fields` (IssueBulkEditPayload: `selectedIssueIdsOrKeys`, at most
  1000; `selectedActions`, the field ids edited; `editedFieldsInput` (JiraIssueFields: `labelsFields` with
  `bulkEditMultiSelectFieldOption` ADD / REMOVE / REPLACE / REMOVE_ALL and `labels: [{name}]`,
  `singleSelectClearableUnmatchedFields` with `option: {optionId}` (-1 clears), `multilineTextFields` with
  `multilineText`, `richTextFields` with `richText: {adfValue}`); `sendBulkNotification`, default true), answering
  201 `{"taskId"}`; and `GET /rest/api/3/bulk/queue/{taskId}` (BulkOperationProgress: `status` ENQUEUED / RUNNING
  / COMPLETE / FAILED / CANCEL_REQUESTED / CANCELLED / DEAD, `progressPercent`, `processedAccessibleIssues` (ids),
  `failedAccessibleIssues` (id -> reasons), `invalidOrInaccessibleIssueCount`, `totalIssueCount`). At most 5 bulk
  tasks run at once across all users of a site; another is refused with 429:
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-bulk-operations/
- Bulk set issue properties by issue, `POST /rest/api/3/issue/properties/multi` (`issues: [{issueID, properties}]`,
  at most 100 issues and 10 properties each; asynchronous and non-transactional: 303 with the task's `Location`),
  and Get task, `GET /rest/api/3/task/{taskId}`:
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-properties/#api-rest-api-3-issue-properties-multi-post
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-tasks/#api-rest-api-3-task-taskid-get

The emulation carries a task out when it is submitted (by the caller, with a fresh `updated` and changelog
entries, exactly as the same edit through PUT issue), and reports it RUNNING for `running_polls` polls before
COMPLETE; a task counts against the 5 until it has been reported finished (or `task_seconds` of the sandbox
clock have passed). `foreign_tasks` are other users' tasks (finish times), to load the limit in tests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from trackerbridge.sandbox.jira_edit import EditError
from trackerbridge.sandbox.jira_render import jira_datetime
from trackerbridge.sandbox.web import Request, Response

if TYPE_CHECKING:
    from trackerbridge.sandbox.jira_api import JiraService

BULK_EDIT_MAX = 1000  # issues per bulk edit request
BULK_TASKS_MAX = 5  # bulk tasks running at once across the site
PROPERTIES_ISSUES_MAX = 100  # issues per bulk set issue properties by issue
PROPERTIES_PER_ISSUE_MAX = 10
LABEL_OPTIONS = ("ADD", "REMOVE", "REPLACE", "REMOVE_ALL")
FIELD_LISTS = ("labelsFields", "singleSelectClearableUnmatchedFields", "multilineTextFields", "richTextFields")


def _error(status: int, *messages: str) -> Response:
    return Response(status, {"errorMessages": list(messages), "errors": {}})


@dataclass
class BulkTask:
    id: str
    kind: str  # "bulk" (queue) or "task" (task API)
    submitted_by: str
    created: datetime
    total: int
    processed: list[int] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)
    invalid: int = 0
    polls: int = 0
    finished: bool = False
    notify: bool = True
    payload: dict[str, Any] = field(default_factory=dict)  # what the task wrote, for tests


class JiraBulk:
    """The bulk endpoints of one emulated Jira Cloud site (see the module docstring)."""

    def __init__(self, service: JiraService) -> None:
        self.service = service
        self.tasks: dict[str, BulkTask] = {}
        self._ids = itertools.count(10000)
        self.running_polls = 0  # polls that answer RUNNING before COMPLETE
        self.task_seconds = 60.0  # a task no one polls stops counting against the limit after this long
        self.foreign_tasks: list[datetime] = []  # other users' running tasks: when each finishes
        self.bulk_change = True  # the caller holds the Bulk change global permission
        self.fail: dict[str, str] = {}  # issue key -> the reason a bulk edit fails on it
        self.refused = 0  # bulk edits refused with 429

    def routes(self, api: str) -> None:
        add = self.service.router.add
        add("POST", f"{api}/bulk/issues/fields", self.submit_edit)
        add("GET", f"{api}/bulk/queue/{{taskId}}", self.queue)
        add("POST", f"{api}/issue/properties/multi", self.set_properties)
        add("GET", f"{api}/task/{{taskId}}", self.task)

    # --- permissions (Cloud and Data Center) -----------------------------------------------------

    def my_permissions(self, request: Request) -> Response:
        """Only the keys asked for; Cloud requires `permissions`, Data Center lists all without it."""
        wanted = [k for raw in request.args("permissions") for k in raw.split(",") if k]
        if not wanted and self.service.cloud:
            return _error(400, "The 'permissions' query parameter is required.")
        known = {"BULK_CHANGE": ("33", "Bulk Change", "GLOBAL", "Ability to modify a collection of issues at once.")}
        out: dict[str, Any] = {}
        for key in wanted or list(known):
            if key not in known:
                return _error(404, f"Permission key '{key}' does not exist.")
            pid, name, kind, description = known[key]
            entry = {"id": pid, "key": key, "name": name, "type": kind, "description": description}
            out[key] = {**entry, "havePermission": self.bulk_change}
        return Response(200, {"permissions": out})

    # --- bulk edit ---------------------------------------------------------------------------------

    def _active(self, now: datetime) -> int:
        self.foreign_tasks = [t for t in self.foreign_tasks if t > now]
        limit = timedelta(seconds=self.task_seconds)
        own = sum(1 for t in self.tasks.values() if t.kind == "bulk" and not t.finished and now - t.created < limit)
        return own + len(self.foreign_tasks)

    def submit_edit(self, request: Request) -> Response:
        body = request.json()
        if not self.bulk_change:
            return _error(403, "You don't have the Bulk change global permission.")
        if not isinstance(body, dict):
            return _error(400, "The request body must be an IssueBulkEditPayload object.")
        keys = body.get("selectedIssueIdsOrKeys")
        actions = body.get("selectedActions")
        edited = body.get("editedFieldsInput") or {}
        if not isinstance(keys, list) or not keys or not all(isinstance(k, (str, int)) for k in keys):
            return _error(400, "selectedIssueIdsOrKeys must list at least one issue id or key.")
        if len(keys) > BULK_EDIT_MAX:
            return _error(400, f"A bulk edit can include at most {BULK_EDIT_MAX} issues.")
        if not isinstance(actions, list) or not actions or not isinstance(edited, dict):
            return _error(400, "selectedActions must list the fields to edit.")
        notify = body.get("sendBulkNotification", True)
        try:
            edit, named = self._edit_body(edited)
        except EditError as exc:
            return _error(400, *exc.messages)
        if sorted(set(actions)) != sorted(named):
            return _error(400, "selectedActions must name exactly the fields in editedFieldsInput.")
        now = self.service.clock.now()
        if self._active(now) >= BULK_TASKS_MAX:
            self.refused += 1
            return Response(
                429,
                {"errorMessages": ["Too many concurrent bulk operations. Try again later."], "errors": {}},
                {"Retry-After": "1"},
            )
        caller = self.service._caller(request)
        task = BulkTask(str(next(self._ids)), "bulk", caller.account_id, now, len(keys), notify=bool(notify))
        task.payload = {"issues": [str(k) for k in keys], "edit": edit}
        editor = self.service.editor
        for ref in keys:
            issue = self.service.data.issue(str(ref))
            if issue is None:
                task.invalid += 1
                continue
            if issue.key in self.fail:
                task.failed[str(issue.id)] = [self.fail[issue.key]]
                continue
            try:
                changes = editor.plan(issue, edit)
            except EditError as exc:
                task.failed[str(issue.id)] = [*exc.messages, *exc.errors.values()]
                continue
            editor.apply(issue, changes, caller.account_id, now)
            task.processed.append(issue.id)
        self.tasks[task.id] = task
        self.service._wrote()
        return Response(201, {"taskId": task.id})

    def _edit_body(self, edited: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The Edit issue body the bulk edit amounts to, and the field ids it names."""
        fields: dict[str, Any] = {}
        update: dict[str, Any] = {}
        named: list[str] = []
        unknown = sorted(set(edited) - set(FIELD_LISTS))
        if unknown:
            raise EditError({}, [f"Bulk edit of {', '.join(unknown)} is not emulated."])
        for item in edited.get("labelsFields") or []:
            fid, option = item.get("fieldId"), item.get("bulkEditMultiSelectFieldOption")
            if option not in LABEL_OPTIONS:
                raise EditError({}, [f"bulkEditMultiSelectFieldOption must be one of {', '.join(LABEL_OPTIONS)}."])
            names = [str(x.get("name")) for x in item.get("labels") or [] if isinstance(x, dict) and x.get("name")]
            named.append(fid)
            if fid in fields or fid in update:
                raise EditError({}, [f"Field '{fid}' can take one bulk edit option per request."])
            if option == "ADD":
                update[fid] = [{"add": n} for n in names]
            elif option == "REMOVE":
                update[fid] = [{"remove": n} for n in names]
            elif option == "REPLACE":
                fields[fid] = names
            else:
                fields[fid] = []
        for item in edited.get("singleSelectClearableUnmatchedFields") or []:
            fid = item.get("fieldId")
            fd = self.service.data.fields.get(fid)
            option = (item.get("option") or {}).get("optionId")
            named.append(fid)
            if fd is None:
                raise EditError({}, [f"Field '{fid}' does not exist."])
            if str(option) == "-1":
                fields[fid] = None
                continue
            value = next((v for v in fd.allowed_values if fd.option_id(v) == str(option)), None)
            if value is None:
                raise EditError({}, [f"Option id '{option}' is not valid for field '{fid}'."])
            fields[fid] = {"value": value}
        for item in edited.get("multilineTextFields") or []:  # an empty text clears the field, as Jira stores it
            named.append(item.get("fieldId"))
            fields[item.get("fieldId")] = item.get("multilineText") or None
        for item in edited.get("richTextFields") or []:
            named.append(item.get("fieldId"))
            fields[item.get("fieldId")] = _adf_text((item.get("richText") or {}).get("adfValue"))
        body: dict[str, Any] = {}
        if fields:
            body["fields"] = fields
        if update:
            body["update"] = update
        return body, [str(n) for n in named]

    def queue(self, request: Request) -> Response:
        task = self.tasks.get(request.path_params["taskId"])
        if task is None or task.kind != "bulk":
            return _error(404, "The task does not exist.")
        return Response(200, self._progress(task))

    def _progress(self, task: BulkTask) -> dict[str, Any]:
        task.polls += 1
        running = task.polls <= self.running_polls
        out: dict[str, Any] = {
            "taskId": task.id,
            "status": "RUNNING" if running else "COMPLETE",
            "progressPercent": 50 if running else 100,
            "submittedBy": {"accountId": task.submitted_by},
            "created": int(task.created.timestamp() * 1000),
            "started": int(task.created.timestamp() * 1000),
            "updated": int(self.service.clock.now().timestamp() * 1000),
        }
        if not running:
            task.finished = True
            out.update(
                {
                    "processedAccessibleIssues": list(task.processed),
                    "invalidOrInaccessibleIssueCount": task.invalid,
                    "totalIssueCount": task.total,
                }
            )
            if task.failed:
                out["failedAccessibleIssues"] = dict(task.failed)
        return out

    # --- bulk issue properties -------------------------------------------------------------------

    def set_properties(self, request: Request) -> Response:
        body = request.json()
        issues = body.get("issues") if isinstance(body, dict) else None
        if not isinstance(issues, list) or not issues:
            return _error(400, "issues must list at least one issue with its properties.")
        if len(issues) > PROPERTIES_ISSUES_MAX:
            return _error(400, f"At most {PROPERTIES_ISSUES_MAX} issues can be updated in one request.")
        for item in issues:
            props = item.get("properties") if isinstance(item, dict) else None
            if not isinstance(item, dict) or not isinstance(item.get("issueID"), int) or not isinstance(props, dict):
                return _error(400, "Each item needs an integer issueID and a properties object.")
            if not props or len(props) > PROPERTIES_PER_ISSUE_MAX:
                return _error(400, f"Each issue takes 1 to {PROPERTIES_PER_ISSUE_MAX} properties.")
        caller = self.service._caller(request)
        now = self.service.clock.now()
        task = BulkTask(str(next(self._ids)), "task", caller.account_id, now, len(issues))
        for item in issues:  # non-transactional: an issue that is gone is skipped, the others are set
            issue = self.service.data.issue(str(item["issueID"]))
            if issue is None:
                task.failed[str(item["issueID"])] = ["Issue does not exist."]
                continue
            issue.properties.update(item["properties"])  # neither `updated` nor the changelog moves
            task.processed.append(issue.id)
        self.tasks[task.id] = task
        self.service._wrote()
        location = f"{self.service.render.api}/task/{task.id}"
        return Response(303, None, {"Location": location})

    def task(self, request: Request) -> Response:
        """TaskProgressBeanObject; `result` names the issues whose properties could not be set."""
        task = self.tasks.get(request.path_params["taskId"])
        if task is None or task.kind != "task":
            return _error(404, f"The task with id {request.path_params['taskId']} does not exist.")
        task.polls += 1
        running = task.polls <= self.running_polls
        now = self.service.clock.now()
        out: dict[str, Any] = {
            "self": f"{self.service.render.api}/task/{task.id}",
            "id": task.id,
            "description": "Bulk set issue properties",
            "status": "RUNNING" if running else "COMPLETE",
            "submittedBy": 0,
            "progress": 50 if running else 100,
            "elapsedRuntime": 1,
            "submitted": int(task.created.timestamp() * 1000),
            "lastUpdate": int(now.timestamp() * 1000),
            "message": jira_datetime(now),
        }
        if not running:
            task.finished = True
            out["finished"] = int(now.timestamp() * 1000)
            out["result"] = {"failed": dict(task.failed)} if task.failed else {}
        return Response(200, out)


def _adf_text(doc: Any) -> str:
    """The plain text of an Atlassian Document Format value, paragraphs joined by newlines."""
    if not isinstance(doc, dict):
        return "" if doc is None else str(doc)
    if doc.get("type") == "text":
        return str(doc.get("text", ""))
    parts = [_adf_text(c) for c in doc.get("content") or []]
    return ("\n" if doc.get("type") == "doc" else "").join(parts)
