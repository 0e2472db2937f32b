"""Jira Cloud bulk edit: the sandbox's bulk endpoints through the real `jira` client's session, the connector's
grouping, stamping and per-issue outcomes against the sandbox, and canned answers (`responses`) shaped after
Atlassian's reference pages (cited in src/trackerbridge/sandbox/jira_bulk.py and connectors/jira/bulk.py)."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import responses
from jira import JIRAError

from test_connector_jira import FAST
from test_connector_jira import connection as sandbox_connection
from test_connector_jira_http import API, basics, rsps  # noqa: F401  (rsps is a fixture)
from test_connector_jira_http import connection as http_connection
from trackerbridge.activity import STAMP_KEY, read_stamp
from trackerbridge.changes import FieldChange, Note, RecordChange
from trackerbridge.connectors.base import FieldInfo
from trackerbridge.connectors.jira import JiraConnector
from trackerbridge.connectors.jira.bulk import Candidate, bulk_calls, choose, minimum_calls
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.web import Request, Response

HEALTH, REASONS = "customfield_10105", "customfield_10106"


def client_session(sb: Sandbox) -> tuple[requests.Session, str]:
    """The real `jira` client's session (signed in as the bot) and the site's v3 API root."""
    c = JiraConnector(sandbox_connection(sb), retry=FAST)
    client = c._connect()
    return client._session, f"{sb.info.jira_url}/rest/api/3"


def send(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """The answer, also when it is an error (the client's session raises JIRAError for those)."""
    try:
        return session.request(method, url, **kwargs)
    except JIRAError as exc:
        assert exc.response is not None
        return exc.response  # type: ignore[no-any-return]


def ids(sb: Sandbox, *keys: str) -> list[str]:
    return [str(sb.jira_data.issues[k].id) for k in keys]


def keys_of(sb: Sandbox, n: int, project: str = "OPS") -> list[str]:
    return [k for k in sb.jira_data.issues if k.startswith(project + "-")][:n]


def option_id(sb: Sandbox, value: str) -> int:
    fd = sb.jira_data.fields[HEALTH]
    return int(fd.option_id(value))


def edit_payload(sb: Sandbox, keys: list[str], **edited: Any) -> dict[str, Any]:
    actions = [item["fieldId"] for items in edited.values() for item in items]
    return {
        "selectedIssueIdsOrKeys": ids(sb, *keys),
        "selectedActions": actions,
        "editedFieldsInput": edited,
        "sendBulkNotification": False,
    }


# --- the sandbox --------------------------------------------------------------------------------


def test_mypermissions_answers_bulk_change_in_cloud_and_data_center_shapes(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    for flavor in ("cloud", "datacenter"):
        sb = sandbox_factory(jira_flavor=flavor)
        session, _ = client_session(sb)
        url = f"{sb.info.jira_url}/rest/api/2/mypermissions"
        answer = session.get(url, params={"permissions": "BULK_CHANGE"}).json()
        entry = answer["permissions"]["BULK_CHANGE"]
        assert entry["key"] == "BULK_CHANGE" and entry["type"] == "GLOBAL" and entry["havePermission"] is True
        sb.jira.bulk.bulk_change = False
        assert (
            session.get(url, params={"permissions": "BULK_CHANGE"}).json()["permissions"]["BULK_CHANGE"][
                "havePermission"
            ]
            is False
        )
        if flavor == "cloud":  # Cloud requires the parameter; Data Center lists every permission without it
            assert send(session, "GET", url).status_code == 400
        else:
            assert "BULK_CHANGE" in session.get(url).json()["permissions"]


def test_bulk_edit_sets_select_text_and_labels_like_a_put_and_reports_through_the_queue(sandbox: Sandbox) -> None:
    session, api = client_session(sandbox)
    keys = keys_of(sandbox, 3)
    bot = sandbox.jira_data.user_for(sandbox.info.jira_email).account_id
    sandbox.clock.advance(timedelta(minutes=1))
    red = {"fieldId": HEALTH, "option": {"optionId": option_id(sandbox, "Red")}}
    edited = {
        "singleSelectClearableUnmatchedFields": [red],
        "multilineTextFields": [{"fieldId": REASONS, "multilineText": "Red: no integrator"}],
        "labelsFields": [
            {"fieldId": "labels", "bulkEditMultiSelectFieldOption": "ADD", "labels": [{"name": "health-red"}]}
        ],
    }
    before = {k: list(sandbox.jira_data.issues[k].fields.get("labels") or []) for k in keys}
    answer = session.post(f"{api}/bulk/issues/fields", data=json.dumps(edit_payload(sandbox, keys, **edited)))
    assert answer.status_code == 201
    task = answer.json()["taskId"]
    progress = session.get(f"{api}/bulk/queue/{task}").json()
    assert progress["status"] == "COMPLETE" and progress["progressPercent"] == 100
    assert sorted(progress["processedAccessibleIssues"]) == sorted(int(i) for i in ids(sandbox, *keys))
    assert progress["totalIssueCount"] == 3 and progress["invalidOrInaccessibleIssueCount"] == 0
    for k in keys:
        issue = sandbox.jira_data.issues[k]
        assert issue.fields[HEALTH] == "Red" and issue.fields[REASONS] == "Red: no integrator"
        assert sorted(issue.fields["labels"]) == sorted({*before[k], "health-red"})  # people's labels stay
        assert issue.fields["updated"] == sandbox.clock.now()
        assert issue.changelog[-1].author == bot  # the caller's, as a PUT's would be
    remove = {
        "labelsFields": [
            {"fieldId": "labels", "bulkEditMultiSelectFieldOption": "REMOVE", "labels": [{"name": "health-red"}]}
        ]
    }
    assert session.post(f"{api}/bulk/issues/fields", data=json.dumps(edit_payload(sandbox, keys, **remove))).ok
    assert all("health-red" not in (sandbox.jira_data.issues[k].fields.get("labels") or []) for k in keys)
    clear = {"labelsFields": [{"fieldId": "labels", "bulkEditMultiSelectFieldOption": "REMOVE_ALL", "labels": []}]}
    assert session.post(f"{api}/bulk/issues/fields", data=json.dumps(edit_payload(sandbox, keys[:1], **clear))).ok
    assert not sandbox.jira_data.issues[keys[0]].fields.get("labels")


def test_bulk_edit_refuses_bad_payloads_and_more_than_1000_issues(sandbox: Sandbox) -> None:
    session, api = client_session(sandbox)
    keys = keys_of(sandbox, 2)
    text = {"multilineTextFields": [{"fieldId": REASONS, "multilineText": "x"}]}
    too_many = {**edit_payload(sandbox, keys, **text), "selectedIssueIdsOrKeys": [str(i) for i in range(1001)]}
    assert send(session, "POST", f"{api}/bulk/issues/fields", data=json.dumps(too_many)).status_code == 400
    wrong_actions = {**edit_payload(sandbox, keys, **text), "selectedActions": [HEALTH]}
    assert send(session, "POST", f"{api}/bulk/issues/fields", data=json.dumps(wrong_actions)).status_code == 400
    bad_option = {"singleSelectClearableUnmatchedFields": [{"fieldId": HEALTH, "option": {"optionId": 1}}]}
    post = f"{api}/bulk/issues/fields"
    assert send(session, "POST", post, data=json.dumps(edit_payload(sandbox, keys, **bad_option))).status_code == 400
    sandbox.jira.bulk.bulk_change = False
    assert send(session, "POST", post, data=json.dumps(edit_payload(sandbox, keys, **text))).status_code == 403
    assert all(sandbox.jira_data.issues[k].fields.get(REASONS) != "x" for k in keys)


def test_bulk_edit_reports_per_issue_failures_and_unknown_issues(sandbox: Sandbox) -> None:
    session, api = client_session(sandbox)
    keys = keys_of(sandbox, 3)
    sandbox.jira.bulk.fail[keys[1]] = "You do not have permission to edit this issue."
    body = edit_payload(sandbox, keys, multilineTextFields=[{"fieldId": REASONS, "multilineText": "bulk"}])
    body["selectedIssueIdsOrKeys"].append("999999")
    task = session.post(f"{api}/bulk/issues/fields", data=json.dumps(body)).json()["taskId"]
    progress = session.get(f"{api}/bulk/queue/{task}").json()
    assert progress["failedAccessibleIssues"] == {ids(sandbox, keys[1])[0]: [sandbox.jira.bulk.fail[keys[1]]]}
    assert progress["invalidOrInaccessibleIssueCount"] == 1 and progress["totalIssueCount"] == 4
    assert [sandbox.jira_data.issues[k].fields.get(REASONS) == "bulk" for k in keys] == [True, False, True]


def test_at_most_five_bulk_tasks_run_at_once(sandbox: Sandbox) -> None:
    session, api = client_session(sandbox)
    sandbox.jira.bulk.running_polls = 1  # each task answers RUNNING once, then COMPLETE
    keys = keys_of(sandbox, 6)
    tasks = []
    for k in keys[:5]:
        body = edit_payload(sandbox, [k], multilineTextFields=[{"fieldId": REASONS, "multilineText": "t"}])
        answer = session.post(f"{api}/bulk/issues/fields", data=json.dumps(body))
        assert answer.status_code == 201
        tasks.append(answer.json()["taskId"])
    sixth = edit_payload(sandbox, keys[5:], multilineTextFields=[{"fieldId": REASONS, "multilineText": "t"}])
    refused = send(session, "POST", f"{api}/bulk/issues/fields", data=json.dumps(sixth))
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert session.get(f"{api}/bulk/queue/{tasks[0]}").json()["status"] == "RUNNING"
    assert session.get(f"{api}/bulk/queue/{tasks[0]}").json()["status"] == "COMPLETE"
    assert send(session, "POST", f"{api}/bulk/issues/fields", data=json.dumps(sixth)).status_code == 201


def test_bulk_set_issue_properties_by_issue_is_a_task_that_moves_nothing(sandbox: Sandbox) -> None:
    session, api = client_session(sandbox)
    keys = keys_of(sandbox, 2)
    updated = {k: sandbox.jira_data.issues[k].fields["updated"] for k in keys}
    history = {k: len(sandbox.jira_data.issues[k].changelog) for k in keys}
    body = {"issues": [{"issueID": int(i), "properties": {"p": {"n": n}}} for n, i in enumerate(ids(sandbox, *keys))]}
    answer = session.post(f"{api}/issue/properties/multi", data=json.dumps(body), allow_redirects=False)
    assert answer.status_code == 303 and "/task/" in answer.headers["Location"]
    task = session.get(answer.headers["Location"]).json()
    assert task["status"] == "COMPLETE"
    assert [sandbox.jira_data.issues[k].properties["p"] for k in keys] == [{"n": 0}, {"n": 1}]
    assert {k: sandbox.jira_data.issues[k].fields["updated"] for k in keys} == updated
    assert {k: len(sandbox.jira_data.issues[k].changelog) for k in keys} == history
    many = {"issues": [{"issueID": n, "properties": {"p": 1}} for n in range(101)]}
    assert send(session, "POST", f"{api}/issue/properties/multi", data=json.dumps(many)).status_code == 400


# --- the connector against the sandbox ------------------------------------------------------------


def read_all(sb: Sandbox) -> tuple[JiraConnector, dict[str, FieldInfo]]:
    """A connector that has read the scope (bulk edit answers in issue ids, which the read gives)."""
    c = JiraConnector(sandbox_connection(sb), retry=FAST)
    catalog = c.catalog()
    fields = {f: catalog.find(f) for f in (HEALTH, REASONS, "labels")}
    assert all(fields.values())
    list(c.pull([f for f in fields.values() if f is not None]))
    return c, {k: v for k, v in fields.items() if v is not None}


def verdict(c: JiraConnector, key: str, flag: str, old: str | None, **extra: Any) -> RecordChange:
    return RecordChange(
        c.name,
        key,
        c.record_url(key),
        [
            FieldChange(HEALTH, "Execution health", None, flag, "health"),
            FieldChange(REASONS, "Health reasons", None, f"{flag}: reasons", "reasons"),
        ],
        add_labels=[f"health-{flag.lower()}"],
        remove_labels=[f"health-{old}"] if old else [],
        stamp=True,
        **extra,
    )


def calls(sb: Sandbox) -> Counter[str]:
    return Counter(f"{r.method} {r.endpoint.removeprefix('/rest/api/2/')}" for r in sb.accounting.records())


def test_cloud_writes_shared_payloads_in_bulk_with_stamps_set_first(sandbox: Sandbox) -> None:
    c, fields = read_all(sandbox)
    keys = keys_of(sandbox, 24)
    red = [verdict(c, k, "Red", "green") for k in keys[:12]]
    amber = [verdict(c, k, "Amber", "green") for k in keys[12:20]]
    fresh = [verdict(c, k, "Amber", None) for k in keys[20:]]  # no swap: same first task as `amber`, no second
    sandbox.accounting.reset()
    sandbox.clock.advance(timedelta(minutes=1))

    outcomes = list(c.apply([*red, *amber, *fresh], fields))

    assert sorted(o.key for o in outcomes if o.ok) == sorted(keys) and all(o.ok for o in outcomes)
    # 2 first tasks (Red+add, Amber+add) and 1 second (remove health-green, shared by both groups);
    # the stamps of all 24 issues are set before the first task, in one properties/multi (100 a request).
    assert calls(sandbox) == Counter(
        {
            "GET mypermissions": 1,
            "GET field/{field}/context": 1,  # the option ids: the health field was empty everywhere
            "GET field/{field}/context/{context}/option": 1,
            "POST issue/properties/multi": 1,
            "GET task/{taskId}": 1,  # the client follows each 303: that GET is the task's first poll
            "POST bulk/issues/fields": 3,
            "GET bulk/queue/{taskId}": 3,
        }
    )
    assert calls(sandbox).total() == minimum_calls([12, 12, 20], 24) + 3  # + permission and option ids
    for k in keys:
        issue = sandbox.jira_data.issues[k]
        assert issue.fields[HEALTH] in ("Red", "Amber")
        assert f"health-{issue.fields[HEALTH].lower()}" in issue.fields["labels"]
        assert "health-green" not in issue.fields["labels"]
        ours, _ = read_stamp(issue.properties[STAMP_KEY], issue.fields["updated"])
        assert ours  # a reader tells the bulk write from a person's
    assert all(not t.notify for t in sandbox.jira.bulk.tasks.values() if t.kind == "bulk")
    assert [len(w["issues"]) for w in c.bulk.written] == [12, 12, 20]


def test_notes_synced_fields_and_small_groups_keep_their_put(sandbox: Sandbox) -> None:
    c, fields = read_all(sandbox)
    keys = keys_of(sandbox, 11)  # three PUTs, and eight issues cheaper in bulk (4 calls, 3 before the first task)
    noted = verdict(c, keys[0], "Red", None, notes=[Note("turned-red", "red:1", "Turned red.", maybe_posted=False)])
    synced = RecordChange(c.name, keys[1], "", [FieldChange(REASONS, "Health reasons", None, "x", "sync:team")])
    lone = verdict(c, keys[2], "Amber", None)
    bulk = [verdict(c, k, "Red", None) for k in keys[3:]]
    sandbox.accounting.reset()

    outcomes = list(c.apply([noted, synced, lone, *bulk], fields))

    assert all(o.ok for o in outcomes) and len(outcomes) == len(keys)
    puts = sorted(r.path.rsplit("/", 1)[-1] for r in sandbox.accounting.records() if r.method == "PUT")
    assert puts == sorted(keys[:3])
    assert calls(sandbox)["POST bulk/issues/fields"] == 1
    assert sandbox.jira_data.issues[keys[0]].comments  # the note rode in its PUT


def test_without_the_bulk_change_permission_or_on_data_center_every_issue_is_a_put(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    for flavor in ("cloud", "datacenter"):
        sb = sandbox_factory(jira_flavor=flavor)
        sb.jira.bulk.bulk_change = False
        c, fields = read_all(sb)
        keys = keys_of(sb, 8)
        sb.accounting.reset()
        outcomes = list(c.apply([verdict(c, k, "Red", None) for k in keys], fields))
        assert all(o.ok for o in outcomes)
        assert calls(sb)["PUT issue/{key}"] == 8
        assert calls(sb)["GET mypermissions"] == (1 if flavor == "cloud" else 0)
        assert not any("bulk" in r.endpoint for r in sb.accounting.records())


def test_a_failed_issue_in_a_task_is_its_own_outcome_and_skips_the_second_task(sandbox: Sandbox) -> None:
    c, fields = read_all(sandbox)
    keys = keys_of(sandbox, 12)
    sandbox.jira.bulk.fail[keys[2]] = "Issue is locked."
    outcomes = {o.key: o for o in c.apply([verdict(c, k, "Red", "green") for k in keys], fields)}
    assert not outcomes[keys[2]].ok and outcomes[keys[2]].error == "Issue is locked."
    assert all(outcomes[k].ok for k in keys if k != keys[2])
    second = [t for t in sandbox.jira.bulk.tasks.values() if t.kind == "bulk"][1]
    assert ids(sandbox, keys[2])[0] not in second.payload["issues"]


def test_a_full_queue_is_waited_out_one_task_at_a_time(sandbox: Sandbox) -> None:
    c, fields = read_all(sandbox)
    keys = keys_of(sandbox, 12)
    bulk = sandbox.jira.bulk
    bulk.foreign_tasks = [sandbox.clock.now() + timedelta(seconds=1)] * 5  # other users fill the 5 slots
    original = sandbox.jira.handle

    def handle(request: Request) -> Response:
        response = original(request)
        if response.status == 429:
            sandbox.clock.advance(timedelta(seconds=1))  # the other tasks finish while we wait
            response.headers["Retry-After"] = "0"
        return response

    sandbox.jira.handle = handle  # type: ignore[method-assign]
    outcomes = list(c.apply([verdict(c, k, "Red", None) for k in keys], fields))
    assert all(o.ok for o in outcomes)
    assert bulk.refused == 1 and c.bulk.refused == 1
    assert sum(1 for t in bulk.tasks.values() if t.kind == "bulk") == 1


# --- the cost model -------------------------------------------------------------------------------


def group(size: int, stamped: int | None = None, removes: dict[tuple[str, ...], int] | None = None) -> Candidate:
    return Candidate(size, True, size if stamped is None else stamped, tuple((removes or {}).items()))


def cost(groups: list[Candidate], chosen: list[bool]) -> int:
    bulk = [g for g, k in zip(groups, chosen, strict=True) if k]
    return (bulk_calls(bulk) if bulk else 0) + sum(g.size for g, k in zip(groups, chosen, strict=True) if not k)


def test_choose_sends_a_group_by_put_when_its_task_and_stamp_share_cost_more() -> None:
    assert choose([group(1)]) == [False]  # a task and its poll for one issue
    assert choose([group(4)]) == [False]  # task + poll + stamp + poll = 4 calls: a tie goes to the PUTs
    assert choose([group(5)]) == [True]
    # beside a big group, four issues still need a stamp request of their own (100 + 4 > 100): PUTs tie
    assert choose([group(100), group(4)]) == [True, False]
    # three issues whose stamps ride in the big group's request cost a task and a poll: 2 < 3
    assert choose([group(50), group(3)]) == [True, True]
    # two threes alone: 2 tasks and a shared stamp request are 6 calls, as many as the PUTs
    assert choose([group(3), group(3)]) == [False, False]


def test_choose_counts_the_label_removes_shared_across_groups() -> None:
    swap = {("health-green",): 3}
    # each three-issue group alone: task, remove task, stamps = 6 calls to 3 PUTs; a fourth group sharing the
    # remove task and the stamp request with a big one costs only its own first task
    assert choose([group(3, removes=swap)]) == [False]
    assert choose([group(60, removes={("health-green",): 60}), group(3, removes=swap)]) == [True, True]


def test_choose_is_never_worse_than_all_puts_or_all_bulk() -> None:
    rng = random.Random(15)
    for _ in range(300):
        groups = [
            group(n := rng.choice([1, 2, 3, 4, 5, 8, 40, 150, 1200]), rng.randint(0, n), {("a",): rng.randint(0, n)})
            for _ in range(rng.randint(1, 12))
        ]
        chosen = choose(groups)
        assert cost(groups, chosen) <= cost(groups, [False] * len(groups))
        assert cost(groups, chosen) <= cost(groups, [True] * len(groups))


# --- canned answers -------------------------------------------------------------------------------


def test_bulk_flow_against_reference_shaped_answers(rsps: responses.RequestsMock) -> None:  # noqa: F811
    basics(rsps)
    keys = [f"OPS-{n}" for n in range(1, 9)]  # 8: cheaper in bulk than as PUTs
    rsps.get(
        f"{API}/search/jql",
        json={
            "issues": [
                {
                    "id": str(100 + n),
                    "key": k,
                    "fields": {
                        "updated": "2026-11-01T10:00:00.000+0000",
                        "customfield_1": {"self": "x", "value": "Green", "id": "1"},
                    },
                }
                for n, k in enumerate(keys)
            ],
            "isLast": True,
        },
    )
    # https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-permissions/#api-rest-api-3-mypermissions-get
    rsps.get(
        f"{API}/mypermissions",
        json={
            "permissions": {
                "BULK_CHANGE": {
                    "id": "33",
                    "key": "BULK_CHANGE",
                    "name": "Bulk Change",
                    "type": "GLOBAL",
                    "havePermission": True,
                }
            }
        },
    )
    rsps.get(f"{API}/field/customfield_1/context", json={"values": [{"id": "10", "isGlobalContext": True}]})
    rsps.get(
        f"{API}/field/customfield_1/context/10/option",
        json={
            "values": [{"id": "1", "value": "Green", "disabled": False}, {"id": "2", "value": "Red", "disabled": False}]
        },
    )
    # Bulk set issue properties by issue: 303 See Other to the task (Get task: TaskProgressBeanObject)
    rsps.post(f"{API}/issue/properties/multi", status=303, headers={"Location": f"{API}/task/77"})
    rsps.get(f"{API}/task/77", json={"id": "77", "status": "COMPLETE", "progress": 100, "result": {}})
    rsps.post(f"{API}/bulk/issues/fields", status=201, json={"taskId": "10641"})
    running = {"taskId": "10641", "status": "RUNNING", "progressPercent": 40}
    complete = {
        "taskId": "10641",
        "status": "COMPLETE",
        "progressPercent": 100,
        "processedAccessibleIssues": [100, 101, 103, 104, 105, 106, 107],
        "failedAccessibleIssues": {"102": ["Field 'Health' cannot be set."]},
        "invalidOrInaccessibleIssueCount": 0,
        "totalIssueCount": 8,
    }
    rsps.get(f"{API}/bulk/queue/10641", json=running)
    rsps.get(f"{API}/bulk/queue/10641", json=complete)
    c = JiraConnector(http_connection(), retry=FAST, max_workers=1)
    catalog = c.catalog()
    health = catalog.find("customfield_1")
    assert health is not None
    list(c.pull([health]))
    changes = [
        RecordChange("acme", k, "", [FieldChange("customfield_1", "Health", "Green", "Red", "health")], stamp=True)
        for k in keys
    ]

    outcomes = {o.key: o for o in c.apply(changes, {"customfield_1": health})}

    assert [outcomes[k].ok for k in keys] == [True, True, False, True, True, True, True, True]
    assert outcomes["OPS-3"].error == "Field 'Health' cannot be set."
    sent = json.loads(next(x for x in rsps.calls if x.request.url.endswith("/bulk/issues/fields")).request.body)
    assert sent == {
        "selectedIssueIdsOrKeys": [str(100 + n) for n in range(8)],
        "selectedActions": ["customfield_1"],
        "editedFieldsInput": {
            "singleSelectClearableUnmatchedFields": [{"fieldId": "customfield_1", "option": {"optionId": 2}}]
        },
        "sendBulkNotification": False,
    }
    stamps = json.loads(next(x for x in rsps.calls if x.request.url.endswith("/properties/multi")).request.body)
    assert [i["issueID"] for i in stamps["issues"]] == [100 + n for n in range(8)]
    assert all(set(i["properties"]) == {STAMP_KEY} for i in stamps["issues"])
    posts = [x for x in rsps.calls if x.request.method == "POST"]
    order = [urlsplit(x.request.url).path.removeprefix("/rest/api/2/") for x in posts]
    assert order == ["issue/properties/multi", "bulk/issues/fields"]  # the stamp lands before the edit
    # the option id came free with the read's value; the context was read for Red, which no issue held
    assert len([x for x in rsps.calls if x.request.url.endswith("/option")]) == 1


def test_issues_this_run_did_not_read_are_looked_up_by_one_ids_only_search(sandbox: Sandbox) -> None:
    c = JiraConnector(sandbox_connection(sandbox), retry=FAST)
    catalog = c.catalog()
    fields = {f: info for f in (HEALTH, REASONS) if (info := catalog.find(f)) is not None}
    keys = keys_of(sandbox, 12)  # never pulled: their verdict moved because another record did
    sandbox.accounting.reset()
    outcomes = list(c.apply([verdict(c, k, "Red", None) for k in keys], fields))
    assert all(o.ok for o in outcomes)
    assert calls(sandbox)["POST search/jql"] + calls(sandbox)["GET search/jql"] == 1
    assert calls(sandbox)["POST bulk/issues/fields"] == 1 and calls(sandbox)["PUT issue/{key}"] == 0


def test_a_turn_to_green_clears_the_reasons_in_bulk_and_reads_back_empty(sandbox: Sandbox) -> None:
    c, fields = read_all(sandbox)
    keys = keys_of(sandbox, 12)
    for k in keys:
        sandbox.jira_data.issues[k].fields[REASONS] = "Red: no integrator"
    green = [
        RecordChange(
            c.name, k, "", [FieldChange(REASONS, "Health reasons", "Red: no integrator", None, "reasons")], stamp=True
        )
        for k in keys
    ]
    sandbox.accounting.reset()
    assert all(o.ok for o in c.apply(green, fields))
    assert calls(sandbox)["POST bulk/issues/fields"] == 1 and calls(sandbox)["PUT issue/{key}"] == 0
    assert all(sandbox.jira_data.issues[k].fields.get(REASONS) is None for k in keys)  # null, as a PUT leaves it
