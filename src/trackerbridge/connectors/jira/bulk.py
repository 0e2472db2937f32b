"""Jira Cloud writes through bulk edit: many issues with the same edit in one asynchronous task.

A plan's verdict changes repeat: the health option, the reasons text and the label swap are a function
of a few rule codes, so thousands of issues share a handful of payloads. Each payload goes to
`POST rest/api/2/bulk/issues/fields` (at most 1000 issues) and its task is polled on
`GET bulk/queue/{taskId}` (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-bulk-operations/).

- Which changes: Cloud only, with the Bulk change global permission (`mypermissions`), and only changes that
  write nothing but single-select options, multi-line text and label adds/removes, carry no note (a note rides
  in its issue's own PUT as `update.comment`: one call, where bulk edit plus a POST comment is one call plus a
  share of the task) and no synced field (re-read right before it is written). Everything else keeps the
  per-issue PUT, and so does every group whose PUTs cost fewer calls than the tasks, polls and stamp requests
  its bulk edit would add (`choose`: a cost model over all groups, since stamp requests and label-remove tasks
  are shared between them).
- Labels: one request takes one option per field (ADD or REMOVE, never REPLACE: people's labels stay), so an
  issue whose labels swap takes two tasks: the first sets the fields and ADDs, grouped by (fields, adds); the
  second REMOVEs, grouped by the removes alone across every first-task group (the swaps of all groups with the
  same old label share it). An issue that failed the first task is left out of the second.
- The activity stamp (`trackerbridge.activity`) cannot ride in a bulk edit, so it is set before the task,
  through `POST issue/properties/multi` (100 issues a request, each its own value; asynchronous: its task is
  polled until COMPLETE before the edit is submitted). A property changes neither `updated` nor the changelog,
  and the stamp's `at` (Jira's clock when it was set) is within `SLACK` of the task's `updated` unless the task
  ran long: then the issues it wrote are stamped again after it. A crash at any point leaves either no edit
  (and a harmless early stamp) or an edit with its stamp.
- One task at a time (Jira runs at most 5 bulk tasks across all users); a 429 is waited out (Retry-After) and
  sent again. Per-issue outcomes come from the task: `processedAccessibleIssues` are written,
  `failedAccessibleIssues` carry Jira's reasons, the rest were invalid or inaccessible.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from trackerbridge.activity import SLACK, STAMP_KEY, stamp_value
from trackerbridge.changes import Outcome, RecordChange
from trackerbridge.connectors.base import OPTION, TEXT, ConnectorError, FieldInfo
from trackerbridge.connectors.http import RETRY_STATUSES
from trackerbridge.connectors.jira.bodies import LABELS_FIELD
from trackerbridge.connectors.record_write import synced_fields

if TYPE_CHECKING:
    from trackerbridge.connectors.jira.search import JiraConnector

BULK_MAX = 1000  # issues per bulk edit request
PROPERTIES_MAX = 100  # issues per bulk set issue properties by issue
BULK_FIXED = 3  # calls bulk edit costs before its first task: `mypermissions`, a field's contexts and its options
POLL_WAIT = 0.5  # seconds between polls of a running task
POLLS_MAX = 600  # polls of one task before it is reported as not finished
BUSY_TRIES = 30  # 429s in a row on one submit before the run gives up on it
SELECT = "com.atlassian.jira.plugin.system.customfieldtypes:select"
TEXTAREA = "com.atlassian.jira.plugin.system.customfieldtypes:textarea"
DONE = frozenset({"COMPLETE", "FAILED", "CANCELLED", "DEAD"})
RETRIED = tuple(sorted({429, *RETRY_STATUSES}))


@dataclass
class Task:
    """One bulk edit: the issues (keys) and the edit they share."""

    keys: list[str]
    actions: list[str]
    edited: dict[str, Any]
    stamp: bool  # the issues' stamps are set before it (the first task of each issue)


@dataclass
class Group:
    """Changes with the same first-task payload (fields + label adds)."""

    fields: tuple[tuple[str, str], ...]  # (field id, JSON of the bulk value)
    add: tuple[str, ...]
    changes: list[RecordChange] = field(default_factory=list)


def bulk_value(fi: FieldInfo, after: Any, option_ids: Mapping[str, str]) -> tuple[str, Any] | None:
    """(the editedFieldsInput list, its item) for one field, or None when bulk edit cannot write it."""
    if fi.multiple:
        return None
    if fi.type == OPTION and fi.native_type == SELECT:
        if after is None or after == "":
            return "singleSelectClearableUnmatchedFields", {"fieldId": fi.id, "option": {"optionId": -1}}
        oid = option_ids.get(str(after))
        if oid is None:
            return None
        return "singleSelectClearableUnmatchedFields", {"fieldId": fi.id, "option": {"optionId": int(oid)}}
    if fi.type == TEXT and fi.native_type == TEXTAREA:  # an empty text clears it
        text = "\n".join(str(v) for v in after) if isinstance(after, (list, tuple)) else str(after or "")
        return "multilineTextFields", {"fieldId": fi.id, "multilineText": text}
    return None


def signature(
    change: RecordChange, fields: Mapping[str, FieldInfo], option_ids: Mapping[str, Mapping[str, str]]
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]] | None:
    """The first-task payload of a change that bulk edit can carry, else None."""
    if change.notes or synced_fields(change):
        return None
    items: list[tuple[str, str]] = []
    for fc in change.fields:
        fi = fields.get(fc.field)
        if fi is None or fi.id == LABELS_FIELD:
            return None
        got = bulk_value(fi, fc.after, option_ids.get(fi.id, {}))
        if got is None:
            return None
        items.append((fi.id, json.dumps(got, sort_keys=True)))
    add = tuple(dict.fromkeys(change.add_labels))
    return tuple(sorted(items)), add


def first_task(group: Group, keys: list[str]) -> Task | None:
    actions: list[str] = []
    edited: dict[str, list[Any]] = {}
    for fid, raw in group.fields:
        kind, item = json.loads(raw)
        edited.setdefault(kind, []).append(item)
        actions.append(fid)
    if group.add:
        edited.setdefault("labelsFields", []).append(_labels("ADD", group.add))
        actions.append(LABELS_FIELD)
    return Task(keys, actions, edited, True) if actions else None


def remove_task(remove: tuple[str, ...], keys: list[str], stamp: bool) -> Task:
    return Task(keys, [LABELS_FIELD], {"labelsFields": [_labels("REMOVE", remove)]}, stamp)


def _labels(option: str, names: Sequence[str]) -> dict[str, Any]:
    return {"fieldId": LABELS_FIELD, "bulkEditMultiSelectFieldOption": option, "labels": [{"name": x} for x in names]}


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def minimum_calls(tasks: Sequence[int], stamps: int, polls: int = 1) -> int:
    """Calls bulk edit needs at the least: per task group of W_g issues ceil(W_g/1000) x (1 + polls), plus
    the stamps' ceil(S/100) x (1 + polls) (S issues stamped, in chunks of at most 1000)."""
    edits = sum(math.ceil(w / BULK_MAX) for w in tasks if w)
    stamp_calls = math.ceil(stamps / PROPERTIES_MAX)
    return (edits + stamp_calls) * (1 + polls)


class BulkWriter:
    """The bulk half of `JiraConnector.apply` (see the module docstring)."""

    def __init__(self, connector: JiraConnector) -> None:
        self.c = connector
        self.tasks_sent = 0
        self.refused = 0  # 429s waited out
        self.written: list[dict[str, Any]] = []  # per task: what it wrote (issues, actions), for the audit
        self._shared: list[str] = []  # keys of the groups `worth` found cheaper in bulk

    # --- deciding -------------------------------------------------------------------------------

    def split(
        self, changes: Sequence[RecordChange], fields: Mapping[str, FieldInfo]
    ) -> tuple[list[Group], list[RecordChange]]:
        """(the groups bulk edit writes, the changes left to the per-issue PUT). The ids of issues in shared
        payloads that this run did not read are looked up first (one ids-only search per 1000)."""
        unread = [k for k in self._shared if k not in self.c._issue_ids]
        if len(unread) > math.ceil(len(unread) / BULK_MAX):  # a search per 1000 ids, against a PUT per issue
            self.c._learn_ids(unread)
        ids = self.c._issue_ids
        candidates = [ch for ch in changes if ch.key in ids and not ch.empty and not ch.notes]
        need = {
            fc.field
            for ch in candidates
            for fc in ch.fields
            if (fi := fields.get(fc.field)) is not None
            and fi.type == OPTION
            and fi.native_type == SELECT
            and fc.after not in (None, "")
            and str(fc.after) not in self.c._option_ids.get(fi.id, {})
        }
        for fid in sorted(need):
            self.c._load_option_ids(fid)
        groups: dict[tuple[Any, ...], Group] = {}
        rest: list[RecordChange] = []
        for ch in changes:
            sig = signature(ch, fields, self.c._option_ids) if ch.key in ids and not ch.empty else None
            if sig is None:
                rest.append(ch)
                continue
            groups.setdefault(sig, Group(sig[0], sig[1])).changes.append(ch)
        kept: list[Group] = []
        chosen = choose([candidate(g.add, g.changes) for g in groups.values()])
        for g, bulk in zip(groups.values(), chosen, strict=True):
            if bulk:
                kept.append(g)
            else:
                rest.extend(g.changes)
        return kept, rest

    def worth(self, changes: Sequence[RecordChange]) -> bool:
        """Whether bulk edit saves calls on these changes (before asking Jira anything: values stand for
        option ids), counting the calls it costs before its first task."""
        members = value_groups(changes)
        candidates = [candidate(add, group) for (_, add), group in members.items()]
        chosen = choose(candidates)
        self._shared = [ch.key for group, bulk in zip(members.values(), chosen, strict=True) if bulk for ch in group]
        kept = [c for c, bulk in zip(candidates, chosen, strict=True) if bulk]
        saved = sum(c.size for c in kept) - bulk_calls(kept)
        return saved > BULK_FIXED

    # --- writing --------------------------------------------------------------------------------

    def write(self, groups: Sequence[Group], stop: Any) -> Iterator[Outcome]:
        """Outcomes of every change in `groups`, each when its last task is done."""
        by_key = {ch.key: ch for g in groups for ch in g.changes}
        errors: dict[str, list[str]] = {}
        removes: dict[tuple[str, ...], list[str]] = {}
        first = [ch.key for g in groups if g.fields or g.add for ch in g.changes]
        later = [ch.key for g in groups if not (g.fields or g.add) for ch in g.changes]
        stamps = _Stamps([k for k in (*first, *later) if by_key[k].stamp])
        for g in groups:
            keys = [ch.key for ch in g.changes]
            for part in chunks(keys, BULK_MAX):
                task = first_task(g, part)
                ok = part if task is None else self._run(task, by_key, errors, stop, stamps)
                done_now = []
                for key in ok:
                    remove = tuple(x for x in dict.fromkeys(by_key[key].remove_labels) if x not in g.add)
                    if remove:
                        removes.setdefault(remove, []).append(key)
                    else:
                        done_now.append(key)
                yield from self._outcomes(done_now, part, errors)
        for remove, keys in removes.items():
            for part in chunks(keys, BULK_MAX):
                self._run(remove_task(remove, part, True), by_key, errors, stop, stamps)
                yield from self._outcomes(part, part, errors)

    def _outcomes(self, done: list[str], part: list[str], errors: Mapping[str, list[str]]) -> Iterator[Outcome]:
        name = self.c.name
        for key in part:
            if key in errors:
                yield Outcome(name, key, False, "; ".join(errors[key]))
        for key in done:
            if key not in errors:
                yield Outcome(name, key, True, None)

    def _run(
        self,
        task: Task,
        by_key: Mapping[str, RecordChange],
        errors: dict[str, list[str]],
        stop: Any,
        stamps: _Stamps,
    ) -> list[str]:
        """Stamp, submit, poll one task; the keys it wrote (the failures go into `errors`)."""
        if stop.is_set():
            raise _Stopped()
        keys = [k for k in task.keys if k not in errors]
        fresh_after = self.c._server_now() - (SLACK - timedelta(minutes=2))  # stamped ahead, but long ago: again
        needed = [k for k in keys if by_key[k].stamp and (k not in stamps.at or stamps.at[k] < fresh_after)]
        if needed:
            batch = stamps.batch(needed, PROPERTIES_MAX)
            at, failed = self._stamp(batch, by_key)
            stamps.at.update((k, at) for k in batch if k not in failed)
            for key in failed:
                errors[key] = ["the activity stamp could not be set, so the issue was not bulk edited"]
            keys = [k for k in keys if k not in failed]
        if not keys:
            return []
        ids = self.c._issue_ids
        body = {
            "selectedIssueIdsOrKeys": [str(ids[k]) for k in keys],
            "selectedActions": task.actions,
            "editedFieldsInput": task.edited,
            "sendBulkNotification": False,
        }
        task_id = self._submit(body)
        progress = self._poll(f"bulk/queue/{quote(task_id, safe='')}", "taskId", task_id)
        self.tasks_sent += 1
        by_id = {str(ids[k]): k for k in keys}
        processed = {str(i) for i in progress.get("processedAccessibleIssues") or []}
        failed_map = progress.get("failedAccessibleIssues") or {}
        ok: list[str] = []
        for sid, key in by_id.items():
            if sid in processed:
                ok.append(key)
            elif sid in failed_map:
                reasons = failed_map[sid]
                errors[key] = [str(r) for r in (reasons if isinstance(reasons, list) else [reasons])]
            elif progress.get("status") != "COMPLETE":
                errors[key] = [f"the bulk edit task {task_id} ended {progress.get('status')}"]
            else:
                errors[key] = ["Jira reported the issue invalid or inaccessible to the bulk edit"]
        self.written.append({"task": task_id, "issues": ok, "actions": task.actions})
        late = self._finished_at(progress)
        early = min((stamps.at[k] for k in ok if k in stamps.at), default=None)
        if early is not None and late is not None and late > early + SLACK - timedelta(minutes=1):
            stale = [k for k in ok if k in stamps.at]  # the task ran long: its `updated` may pass the slack
            at, _ = self._stamp(stale, by_key)
            stamps.at.update((k, at) for k in stale)
        return ok

    def _stamp(self, keys: list[str], by_key: Mapping[str, RecordChange]) -> tuple[datetime, set[str]]:
        """Set the stamps of `keys` (100 a request, each polled to COMPLETE); (the `at`, the keys that failed)."""
        ids = self.c._issue_ids
        at = self.c._server_now()
        failed: set[str] = set()
        for part in chunks(keys, PROPERTIES_MAX):
            issues = [{"issueID": ids[k], "properties": {STAMP_KEY: stamp_value(by_key[k].activity, at)}} for k in part]
            what = "setting the activity stamps of a bulk edit"
            response = self._post(what, "issue/properties/multi", {"issues": issues}, accept=(303,))
            progress = self._followed(response)  # the client follows the 303: that GET is the first poll
            if progress is None:
                failed.update(part)
                continue
            bad = (progress.get("result") or {}).get("failed") if isinstance(progress.get("result"), dict) else None
            if progress.get("status") != "COMPLETE":
                failed.update(part)
            elif bad:
                failed.update(k for k in part if str(ids[k]) in {str(x) for x in bad})
        return at, failed

    def _followed(self, response: Any) -> dict[str, Any] | None:
        """The task a `303 See Other` pointed at, polled until it is done (None: no task to follow)."""
        if response is None:
            return None
        location = response.headers.get("Location", "") if response.status_code == 303 else response.url
        task_id = str(location).split("?")[0].rstrip("/").rsplit("/", 1)[-1] if location else ""
        if not task_id or "/task/" not in str(location):
            return None
        if response.status_code == 200:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if isinstance(answer, dict) and str(answer.get("status")) in DONE:
                return answer
        return self._poll(f"task/{quote(task_id, safe='')}", "id", task_id)

    def _submit(self, body: dict[str, Any]) -> str:
        what = "submitting a bulk edit"
        answer = self.c._json(what, self._post(what, "bulk/issues/fields", body, tries=BUSY_TRIES))
        task_id = answer.get("taskId") if isinstance(answer, dict) else None
        if not task_id:
            raise ConnectorError(f"jira {self.c.name!r}: Jira answered without a taskId while {what}")
        return str(task_id)

    def _post(self, what: str, path: str, body: dict[str, Any], *, accept: tuple[int, ...] = (), tries: int = 0) -> Any:
        """POST that is sent again after a 429, a 5xx or a dropped connection: both bulk POSTs may land twice
        harmlessly (a property set again to its value; a bulk edit again writes nothing that changed). The
        retry layer keeps out of POSTs, so the waiting is here (Retry-After, else the policy's backoff)."""
        attempts = max(tries, _attempts_of(self.c))
        response = None
        for attempt in range(attempts):
            response = self.c._request(
                what, "POST", path, body=body, accept=(*RETRIED, *accept), uncertain=True, once=True
            )
            if response is not None and response.status_code not in RETRIED:
                return response
            if response is not None and response.status_code == 429:
                self.refused += 1
            wait = self.c._note_wait(response, min(attempt, 6))
            if wait is None or attempt == attempts - 1:
                break
            time.sleep(wait)
        if response is None:
            raise ConnectorError(f"jira {self.c.name!r}: the connection closed without an answer while {what}")
        status, reason = response.status_code, response.reason
        self.c._raise_http(status, response, what, search=False, token=False, read=0, text=reason)

    def _poll(self, path: str, id_key: str, task_id: str) -> dict[str, Any]:
        what = f"reading the progress of task {task_id}"
        for attempt in range(POLLS_MAX):
            answer = self.c._json(what, self.c._request(what, "GET", path))
            if not isinstance(answer, dict):
                raise ConnectorError(f"jira {self.c.name!r}: Jira answered without a task while {what}")
            if str(answer.get("status")) in DONE:
                return answer
            time.sleep(POLL_WAIT if attempt else POLL_WAIT / 5)
        return {"status": "not finished"}

    @staticmethod
    def _finished_at(progress: Mapping[str, Any]) -> datetime | None:
        raw = progress.get("updated")
        if isinstance(raw, (int, float)):
            return datetime.fromtimestamp(raw / 1000, tz=timezone.utc)
        return None


class _Stamps:
    """Which issues carry their stamp already, and the order the tasks reach the rest: a stamp request is
    topped up to 100 issues with the next ones, so small groups share requests (ceil(S/100) in all)."""

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.cursor = 0
        self.at: dict[str, datetime] = {}

    def batch(self, needed: list[str], size: int) -> list[str]:
        out = list(dict.fromkeys(needed))
        taken = set(out)
        while len(out) % size and self.cursor < len(self.order):
            key = self.order[self.cursor]
            self.cursor += 1
            if key not in taken and key not in self.at:
                out.append(key)
                taken.add(key)
        return out


class _Stopped(Exception):
    """The run is stopping: no new task starts."""


def _attempts_of(connector: JiraConnector) -> int:
    total = getattr(connector._retry, "total", None)
    return int(total) + 1 if isinstance(total, int) else 7


@dataclass(frozen=True)
class Candidate:
    """What a first-task group costs either way: its issues (a PUT each), whether it needs a first task,
    how many it stamps and the label removes its issues share with other groups' second tasks."""

    size: int
    first: bool
    stamped: int
    removes: tuple[tuple[tuple[str, ...], int], ...]


def candidate(add: tuple[str, ...], changes: Sequence[RecordChange]) -> Candidate:
    removes: dict[tuple[str, ...], int] = {}
    for ch in changes:
        remove = tuple(x for x in dict.fromkeys(ch.remove_labels) if x not in add)
        if remove:
            removes[remove] = removes.get(remove, 0) + 1
    first = bool(add) or any(ch.fields for ch in changes)
    return Candidate(len(changes), first, sum(1 for ch in changes if ch.stamp), tuple(removes.items()))


def bulk_calls(groups: Sequence[Candidate], polls: int = 1) -> int:
    """Calls bulk edit makes for these groups together: their first tasks, the shared second tasks and
    the shared stamp requests, each with its polls."""
    firsts = [g.size for g in groups if g.first]
    return minimum_calls([*firsts, *second_tasks(groups).values()], sum(g.stamped for g in groups), polls)


def second_tasks(groups: Sequence[Candidate]) -> dict[tuple[str, ...], int]:
    """The label removes these groups' issues share, and how many issues each second task takes."""
    second: dict[tuple[str, ...], int] = {}
    for g in groups:
        for remove, n in g.removes:
            second[remove] = second.get(remove, 0) + n
    return second


def choose(groups: Sequence[Candidate], polls: int = 1) -> list[bool]:
    """Which groups go to bulk edit, for the fewest calls in all. Starting from every group in bulk (but a
    one-issue group's task, which costs more than its PUT), groups leave, smallest first, while the calls
    their leaving saves (the first task, their share of the second tasks and of the stamp requests, 100
    issues each) are at least their PUTs; passes repeat until none leaves (each pass is linear: thousands
    of groups stay cheap). Each step costs no call more, and the result is never worse than all PUTs."""
    unit = 1 + polls
    kept = [g.size > 1 or not g.first for g in groups]
    second = second_tasks([g for g, k in zip(groups, kept, strict=True) if k])
    stamped = sum(g.stamped for g, k in zip(groups, kept, strict=True) if k)

    def saving(g: Candidate) -> int:  # calls saved by sending g by PUT, minus its PUTs
        saved = math.ceil(g.size / BULK_MAX) if g.first else 0
        saved += sum(math.ceil(second[r] / BULK_MAX) - math.ceil((second[r] - n) / BULK_MAX) for r, n in g.removes)
        saved += math.ceil(stamped / PROPERTIES_MAX) - math.ceil((stamped - g.stamped) / PROPERTIES_MAX)
        return saved * unit - g.size

    order = sorted(range(len(groups)), key=lambda i: groups[i].size)
    left = True
    while left:
        left = False
        for i in order:
            g = groups[i]
            if kept[i] and saving(g) >= 0:
                kept[i], left = False, True
                for remove, n in g.removes:
                    second[remove] -= n
                stamped -= g.stamped
    chosen = [g for g, k in zip(groups, kept, strict=True) if k]
    if chosen and bulk_calls(chosen, polls) >= sum(g.size for g in chosen):
        return [False] * len(groups)
    return kept


def value_groups(changes: Sequence[RecordChange]) -> dict[tuple[Any, ...], list[RecordChange]]:
    """The changes bulk edit may carry, by first-task payload with values standing for option ids."""
    first: dict[tuple[Any, ...], list[RecordChange]] = {}
    for ch in changes:
        if ch.empty or ch.notes or synced_fields(ch):
            continue
        values = tuple(sorted((fc.field, json.dumps(fc.after, sort_keys=True, default=str)) for fc in ch.fields))
        first.setdefault((values, tuple(dict.fromkeys(ch.add_labels))), []).append(ch)
    return first


@dataclass(frozen=True)
class BulkPlan:
    """What bulk edit needs for a plan at the least (benchmarks): the issues of each task group, the
    issues stamped, and the changes that keep a PUT because a note cannot ride in a bulk edit."""

    tasks: tuple[int, ...]
    stamped: int
    puts: int

    def calls(self, polls: int = 1) -> int:
        return minimum_calls(self.tasks, self.stamped, polls) + self.puts


def bulk_plan(changes: Sequence[RecordChange]) -> BulkPlan:
    """Group a plan's changes as bulk edit must (one option per field a request): the first tasks by
    (field values, label adds), the second by the label removes alone; the groups `choose` finds cheaper
    as PUTs (each carries its removes and its stamp), and every change with a note or a synced field, keep
    their PUTs. Pure: values stand for option ids."""
    first = value_groups(changes)
    puts = sum(1 for ch in changes if not ch.empty) - sum(len(group) for group in first.values())
    groups = [candidate(add, group) for (_, add), group in first.items()]
    chosen = [g for g, bulk in zip(groups, choose(groups), strict=True) if bulk]
    puts += sum(g.size for g in groups) - sum(g.size for g in chosen)
    tasks = [g.size for g in chosen if g.first]
    return BulkPlan((*tasks, *second_tasks(chosen).values()), sum(g.stamped for g in chosen), puts)
