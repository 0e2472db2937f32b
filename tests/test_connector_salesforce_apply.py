"""Salesforce write-back (`apply`, `resolve_people`): against the sandbox org through the real
simple-salesforce client, and against canned answers (`responses`) for batching edges."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Any

import pytest
import requests
import responses
from responses import matchers
from simple_salesforce.format import format_soql

from test_connector_salesforce import connector as sandbox_connector
from test_connector_salesforce_http import DATA, DESCRIBE
from test_connector_salesforce_http import connector as http_connector
from trackerbridge.changes import FieldChange, Note, Outcome, RecordChange
from trackerbridge.connectors.base import DATE, NUMBER, OPTION, REFERENCE, TEXT, USER, FieldInfo, QuotaExceeded
from trackerbridge.connectors.salesforce import SalesforceConnector
from trackerbridge.connectors.salesforce.bodies import record_values, task_record, task_subject
from trackerbridge.model import Person
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.web import Request, Response

HEALTH, REASONS, INTEGRATOR = "Execution_Health__c", "Health_Reasons__c", "Integrator__c"
BOOKKEEPING = {"LastModifiedDate", "SystemModstamp", "LastModifiedById"}
COLLECTIONS = "/services/data/v59.0/composite/sobjects"
COMPOSITE = "/services/data/v59.0/composite"


@pytest.fixture
def big(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """An org with more than 450 opportunities."""
    return sandbox_factory(size=750)


def catalog_fields(c: SalesforceConnector, *names: str) -> dict[str, FieldInfo]:
    catalog = c.catalog()
    found = {n: catalog.find(n) for n in names}
    assert all(found.values()), found
    return {f.id: f for f in found.values() if f is not None}


def opportunities(sb: Sandbox, n: int) -> list[str]:
    keys = list(sb.salesforce_data.records["Opportunity"])
    assert len(keys) >= n
    return keys[:n]


def users(sb: Sandbox) -> list[dict[str, Any]]:
    """Active demo users other than the integration user."""
    return [
        u
        for u in sb.salesforce_data.records["User"].values()
        if u["IsActive"] and u["Username"] != sb.salesforce_username
    ]


def health_change(key: str, flag: str = "Red", *notes: Note, **extra: Any) -> RecordChange:
    return RecordChange(
        "sandbox-salesforce",
        key,
        "",
        [
            FieldChange(HEALTH, "Execution Health", None, flag, "health"),
            FieldChange(REASONS, "Health Reasons", None, f"{flag}: no integrator", "reasons"),
        ],
        notes=list(notes),
        **extra,
    )


def snapshot(sb: Sandbox, *keys: str) -> dict[str, dict[str, Any]]:
    with sb.lock:
        return {k: deepcopy(sb.salesforce_data.records["Opportunity"][k]) for k in keys}


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {f for f in set(before) | set(after) if before.get(f) != after.get(f)} - BOOKKEEPING


def tasks(sb: Sandbox, key: str, marker: str | None = None) -> list[dict[str, Any]]:
    with sb.lock:
        found = [dict(t) for t in sb.salesforce_data.records["Task"].values() if t["WhatId"] == key]
    return [t for t in found if marker is None or f"[tb:{marker}]" in (t["Subject"] or "")]


def collection_calls(sb: Sandbox, method: str) -> list[int]:
    return [r.status for r in sb.accounting.records() if r.method == method and r.path == COLLECTIONS]


def spy(sb: Sandbox) -> list[Request]:
    seen: list[Request] = []
    original = sb.salesforce.handle

    def handle(request: Request) -> Response:
        seen.append(request)
        return original(request)

    sb.salesforce.handle = handle  # type: ignore[method-assign]
    return seen


# --- fields -------------------------------------------------------------------------------------


def test_450_changes_go_in_one_composite_call_of_three_collections_and_touch_only_their_fields(big: Sandbox) -> None:
    sb = big
    c = sandbox_connector(sb)
    fields = catalog_fields(c, HEALTH, REASONS)
    keys = opportunities(sb, 450)
    before = snapshot(sb, *keys)
    seen = spy(sb)
    sb.accounting.reset()

    outcomes = list(c.apply([health_change(k) for k in keys], fields))

    assert [o.key for o in outcomes] == keys and all(o.ok for o in outcomes)
    assert [(r.method, r.path, r.status) for r in sb.accounting.records()] == [("POST", COMPOSITE, 200)]
    assert c.calls["POST composite"] == 1 and "PATCH composite/sobjects" not in c.calls
    [sent] = [r.json() for r in seen if r.method == "POST"]
    assert sent["allOrNone"] is False
    subrequests = sent["compositeRequest"]
    assert [(s["method"], s["url"]) for s in subrequests] == [("PATCH", COLLECTIONS)] * 3
    assert len({s["referenceId"] for s in subrequests}) == 3
    assert [len(s["body"]["records"]) for s in subrequests] == [200, 200, 50]
    assert all(s["body"]["allOrNone"] is False for s in subrequests)
    assert subrequests[0]["body"]["records"][0] == {
        "attributes": {"type": "Opportunity"},
        "id": keys[0],
        HEALTH: "Red",
        REASONS: "Red: no integrator",
    }
    after = snapshot(sb, *keys)
    assert all(changed(before[k], after[k]) == {HEALTH, REASONS} for k in keys)
    assert all(after[k][HEALTH] == "Red" for k in keys)


def test_synced_values_of_450_records_are_reread_in_one_composite_and_a_persons_edit_wins(big: Sandbox) -> None:
    sb = big
    c = sandbox_connector(sb)
    fields = catalog_fields(c, "StageName")
    keys = opportunities(sb, 450)
    with sb.lock:
        read = {k: sb.salesforce_data.records["Opportunity"][k]["StageName"] for k in keys}
    target = {k: "Qualification" if v != "Qualification" else "Prospecting" for k, v in read.items()}
    changes = [
        RecordChange(c.name, k, "", [FieldChange("StageName", "Stage", read[k], target[k], "sync:jira:stage")])
        for k in keys
    ]
    edited = keys[333]
    with sb.lock:  # a person changes one stage between the read and the write
        sb.salesforce_data.records["Opportunity"][edited]["StageName"] = "Negotiation/Review"
    seen = spy(sb)
    sb.accounting.reset()

    outcomes = {o.key: o for o in c.apply(changes, fields, recheck_synced=True)}

    assert [(r.method, r.path) for r in sb.accounting.records()] == [("POST", COMPOSITE)] * 2  # re-read, write
    reread = next(r.json() for r in seen if r.method == "POST")["compositeRequest"]
    assert [s["method"] for s in reread] == ["GET"] * 3 and all("/query?q=SELECT" in s["url"] for s in reread)
    assert not outcomes[edited].ok and "changed by a person since it was read" in (outcomes[edited].error or "")
    assert all(outcomes[k].ok for k in keys if k != edited)
    with sb.lock:
        stages = {k: sb.salesforce_data.records["Opportunity"][k]["StageName"] for k in keys}
    assert stages[edited] == "Negotiation/Review"
    assert all(stages[k] == target[k] for k in keys if k != edited)


def test_1050_changes_cost_two_calls_a_composite_of_1000_and_a_collection_of_50(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(size=1700)
    c = sandbox_connector(sb)
    fields = catalog_fields(c, HEALTH, REASONS)
    keys = opportunities(sb, 1050)
    sb.accounting.reset()

    outcomes = list(c.apply([health_change(k, "Amber") for k in keys], fields))

    assert [o.key for o in outcomes] == keys and all(o.ok for o in outcomes)
    assert [(r.method, r.path) for r in sb.accounting.records()] == [("POST", COMPOSITE), ("PATCH", COLLECTIONS)]
    assert c.calls["POST composite"] + c.calls["PATCH composite/sobjects"] == 2 == -(-1050 // 1000)
    assert all(sb.salesforce_data.records["Opportunity"][k][HEALTH] == "Amber" for k in keys)


def test_a_bad_picklist_value_fails_only_that_record(sandbox: Sandbox) -> None:
    sb = sandbox
    c = sandbox_connector(sb)
    fields = catalog_fields(c, HEALTH, REASONS)
    keys = opportunities(sb, 6)
    before = snapshot(sb, *keys)

    outcomes = {
        o.key: o for o in c.apply([health_change(k, "Purple" if k == keys[3] else "Amber") for k in keys], fields)
    }

    bad = outcomes.pop(keys[3])
    assert not bad.ok
    assert bad.error == (
        f"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: bad value for restricted picklist field: Purple (fields: {HEALTH})"
    )
    assert len(outcomes) == 5 and all(o.ok for o in outcomes.values())
    after = snapshot(sb, *keys)
    assert after[keys[3]] == before[keys[3]]
    assert all(after[k][HEALTH] == "Amber" for k in outcomes)


def test_people_and_dates_are_written_and_a_person_without_a_user_fails_only_that_record(sandbox: Sandbox) -> None:
    sb = sandbox
    c = sandbox_connector(sb)
    fields = catalog_fields(c, INTEGRATOR, "CloseDate", "Amount")
    someone = users(sb)[5]
    keys = opportunities(sb, 3)
    before = snapshot(sb, *keys)
    changes = [
        RecordChange(
            c.name,
            keys[0],
            "",
            [
                FieldChange(
                    INTEGRATOR, "Integrator", None, Person(email=someone["Email"].upper()), "sync:j:integrator"
                ),
                FieldChange("CloseDate", "Close Date", None, date(2027, 3, 31), "sync:j:end"),
                FieldChange("Amount", "Amount", None, 1250, "sync:j:amount"),
            ],
        ),
        RecordChange(
            c.name, keys[1], "", [FieldChange(INTEGRATOR, "Integrator", None, Person(email="x@nowhere"), "s")]
        ),
        RecordChange(c.name, keys[2], "", [FieldChange(INTEGRATOR, "Integrator", None, None, "s")]),
    ]

    outcomes = {o.key: o for o in c.apply(changes, fields)}

    assert outcomes[keys[0]].ok and outcomes[keys[2]].ok
    assert outcomes[keys[1]] == Outcome(
        c.name, keys[1], False, "Integrator: no active Salesforce user account found for x@nowhere"
    )
    after = snapshot(sb, *keys)
    assert (after[keys[0]][INTEGRATOR], after[keys[0]]["CloseDate"], after[keys[0]]["Amount"]) == (
        someone["Id"],
        date(2027, 3, 31),
        1250.0,
    )
    assert changed(before[keys[0]], after[keys[0]]) == {INTEGRATOR, "CloseDate", "Amount"}
    assert after[keys[1]] == before[keys[1]]
    assert after[keys[2]][INTEGRATOR] is None


def test_labels_cannot_be_written_to_salesforce(sandbox: Sandbox) -> None:
    c = sandbox_connector(sandbox)
    fields = catalog_fields(c, HEALTH, REASONS)
    key = opportunities(sandbox, 1)[0]

    [outcome] = c.apply([health_change(key, add_labels=["health-red"])], fields)

    assert not outcome.ok and outcome.error is not None and "no labels" in outcome.error
    assert "PATCH composite/sobjects" not in c.calls


# --- notes --------------------------------------------------------------------------------------


def test_the_turned_red_task_is_created_once_across_two_applies(sandbox: Sandbox) -> None:
    sb = sandbox
    c = sandbox_connector(sb)
    fields = catalog_fields(c, HEALTH, REASONS)
    owner = users(sb)[3]
    keys = opportunities(sb, 3)
    note = Note("turned-red", "5eed5eed5eed", "Execution health turned red: no end date", Person(email=owner["Email"]))
    changes = [
        health_change(keys[0], "Red", note),
        health_change(keys[1]),
        RecordChange(c.name, keys[2], "", notes=[note]),
    ]

    first = {o.key: o for o in c.apply(changes, fields)}
    posts = c.calls["POST composite/sobjects"]
    second = {o.key: o for o in c.apply(changes, fields)}

    assert first == second
    assert first[keys[0]] == Outcome(c.name, keys[0], True, None, ("5eed5eed5eed",))
    assert first[keys[1]] == Outcome(c.name, keys[1], True)
    assert first[keys[2]] == Outcome(c.name, keys[2], True, None, ("5eed5eed5eed",))
    assert posts == 1 and c.calls["POST composite/sobjects"] == 1
    [task] = tasks(sb, keys[0])
    assert {k: task[k] for k in ("Subject", "WhatId", "OwnerId", "Status", "Priority", "Description")} == {
        "Subject": "trackerbridge: turned red [tb:5eed5eed5eed]",
        "WhatId": keys[0],
        "OwnerId": owner["Id"],
        "Status": "Not Started",
        "Priority": "High",
        "Description": "Execution health turned red: no end date",
    }
    assert len(tasks(sb, keys[2], "5eed5eed5eed")) == 1 and tasks(sb, keys[1]) == []


def test_the_task_query_is_made_only_for_notes_an_earlier_run_may_have_posted(sandbox: Sandbox) -> None:
    sb = sandbox
    c = sandbox_connector(sb)
    fields = catalog_fields(c, HEALTH, REASONS)
    key = opportunities(sb, 1)[0]
    fresh = Note("turned-red", "f7e5f7e5f7e5", "turned red", None, maybe_posted=False)  # the store never saw it
    queries = c.calls["GET query"]

    first = list(c.apply([health_change(key, "Red", fresh)], fields))
    looked = c.calls["GET query"] - queries
    second = list(c.apply([health_change(key, "Red", replace(fresh, maybe_posted=True))], fields))  # pending

    assert first == second == [Outcome(c.name, key, True, None, ("f7e5f7e5f7e5",))]
    assert looked == 0 and c.calls["GET query"] - queries == 1
    assert c.calls["POST composite/sobjects"] == 1 and len(tasks(sb, key, "f7e5f7e5f7e5")) == 1


def test_a_task_for_someone_without_a_user_is_left_with_the_integration_user(sandbox: Sandbox) -> None:
    sb = sandbox
    c = sandbox_connector(sb)
    key = opportunities(sb, 1)[0]
    note = Note("turned-red", "0ddba11f00d1", "turned red", Person(email="gone@example.com"))

    [outcome] = c.apply([RecordChange(c.name, key, "", notes=[note])], {})

    assert outcome.ok and outcome.notes_posted == ("0ddba11f00d1",)
    [task] = tasks(sb, key)
    assert task["OwnerId"] == sb.salesforce.default_user_id()


# --- people -------------------------------------------------------------------------------------


def test_resolve_people_finds_demo_users_by_email_once(sandbox: Sandbox) -> None:
    sb = sandbox
    c = sandbox_connector(sb)
    demo = users(sb)
    asked = [Person(email=u["Email"].upper(), name=u["Name"]) for u in demo]
    asked += [Person(email="nobody@example.com"), Person(name="No Email"), Person(ref=demo[0]["Id"][:15])]

    refs = c.resolve_people(asked)
    calls = dict(c.calls)
    again = c.resolve_people(asked)

    expected = {u["Email"].casefold(): u["Id"] for u in demo}
    expected[demo[0]["Id"][:15]] = demo[0]["Id"]
    assert refs == again == expected
    assert calls == {"GET query": 2}  # one for the addresses, one for the id
    assert dict(c.calls) == calls


# --- faults, stops and reruns -------------------------------------------------------------------


def planned(sb: Sandbox, keys: list[str]) -> list[RecordChange]:
    owner = users(sb)[0]
    return [
        health_change(
            k,
            "Red",
            *([Note("turned-red", f"n{i:04d}", "turned red", Person(email=owner["Email"]))] if i % 4 == 0 else []),
        )
        for i, k in enumerate(keys)
    ]


def assert_converged(sb: Sandbox, changes: list[RecordChange]) -> None:
    after = snapshot(sb, *(c.key for c in changes))
    for change in changes:
        assert after[change.key][HEALTH] == "Red"
        for note in change.notes:
            assert len(tasks(sb, change.key, note.marker)) == 1


def test_503s_every_fourth_request_still_write_everything_once(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size=750, faults="error:every=4,status=503,retry_after=0")
    c = sandbox_connector(sb)
    fields = catalog_fields(c, HEALTH, REASONS)
    changes = planned(sb, opportunities(sb, 450))

    outcomes = list(c.apply(changes, fields))

    assert len(outcomes) == 450 and all(o.ok for o in outcomes), [o for o in outcomes if not o.ok][:3]
    assert_converged(sb, changes)
    assert 503 in [r.status for r in sb.accounting.records()]
    rerun = list(c.apply(changes, fields))
    assert len(rerun) == 450 and all(o.ok for o in rerun)
    assert_converged(sb, changes)
    assert len(sb.salesforce_data.records["Task"]) == len([n for ch in changes for n in ch.notes])


def test_a_task_post_that_failed_is_checked_for_before_it_is_sent_again(sandbox: Sandbox) -> None:
    """Faults are injected before Salesforce handles a request: the first POST is a 503 that did nothing."""
    sb = sandbox
    c = sandbox_connector(sb)
    keys = opportunities(sb, 3)
    changes = [
        RecordChange(c.name, k, "", notes=[Note("turned-red", f"t{i}", "turned red")]) for i, k in enumerate(keys)
    ]
    c.catalog()  # signed in and described: the next requests are the Task query, then the POST
    sb.admin("PUT", "faults", {"spec": "error:every=2,count=1,status=503,retry_after=0"})

    outcomes = list(c.apply(changes, {}))

    assert all(o.ok for o in outcomes)
    assert collection_calls(sb, "POST") == [503, 200]
    assert all(len(tasks(sb, k)) == 1 for k in keys)


def test_450_tasks_are_created_in_one_composite_and_a_dropped_one_is_checked_not_resent(big: Sandbox) -> None:
    sb = big
    c = sandbox_connector(sb)
    keys = opportunities(sb, 450)
    notes = {k: Note("turned-red", f"d{i:04d}", "turned red", None, maybe_posted=False) for i, k in enumerate(keys)}
    changes = [RecordChange(c.name, k, "", notes=[notes[k]]) for k in keys]
    c.catalog()
    sb.accounting.reset()
    # the composite of creates is carried out, then its answer is lost: a blind resend would double every Task
    sb.admin("PUT", "faults", {"spec": "drop-reply:every=1,count=1,method=POST,service=salesforce"})

    outcomes = list(c.apply(changes, {}))

    assert all(o.ok and o.notes_posted == (notes[o.key].marker,) for o in outcomes) and len(outcomes) == 450
    assert all(len(tasks(sb, k, notes[k].marker)) == 1 for k in keys)
    # one composite (5 collections at most: 200 + 200 + 50), dropped; then the markers, 200 ids a query; no resend
    assert [(r.method, r.path.rstrip("/").rsplit("/", 1)[-1], r.status) for r in sb.accounting.records()] == [
        ("POST", "composite", 0),
        ("GET", "query", 200),
        ("GET", "query", 200),
        ("GET", "query", 200),
    ]


def test_a_spent_quota_stops_after_the_outcomes_already_known(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size=1700)
    c = sandbox_connector(sb)
    fields = catalog_fields(c, HEALTH, REASONS)
    keys = opportunities(sb, 1050)
    sb.salesforce.daily_api_limit = sb.salesforce.api_requests_used + 1  # one more call: the first composite
    before = snapshot(sb, *keys)
    got: list[Outcome] = []

    with pytest.raises(QuotaExceeded, match="request limit"):
        for outcome in c.apply([health_change(k) for k in keys], fields):
            got.append(outcome)

    assert [o.key for o in got] == keys[:1000] and all(o.ok for o in got)
    after = snapshot(sb, *keys)
    assert all(after[k][HEALTH] == "Red" for k in keys[:1000])
    assert all(after[k] == before[k] for k in keys[1000:])


def test_a_run_stopped_midway_and_run_again_converges(sandbox: Sandbox) -> None:
    sb = sandbox
    c = sandbox_connector(sb)
    fields = catalog_fields(c, HEALTH, REASONS)
    changes = planned(sb, opportunities(sb, 40))
    run = c.apply(changes, fields)
    got = [next(run) for _ in range(3)]
    run.close()

    assert all(o.ok for o in got)
    rerun = list(sandbox_connector(sb).apply(changes, fields))

    assert len(rerun) == 40 and all(o.ok for o in rerun)
    assert_converged(sb, changes)


# --- pure encoding ------------------------------------------------------------------------------


def test_record_values_encode_by_type() -> None:
    fields = {
        f.id: f
        for f in (
            FieldInfo("Health__c", "Health", OPTION, True, ("Red",), "picklist"),
            FieldInfo("Tags__c", "Tags", OPTION, True, (), "multipicklist"),
            FieldInfo("Integrator__c", "Integrator", USER, True, (), "reference"),
            FieldInfo("Account__c", "Account", REFERENCE, True, (), "reference"),
            FieldInfo("End__c", "End", DATE, True, (), "date"),
            FieldInfo("Score__c", "Score", NUMBER, True, (), "double"),
            FieldInfo("Reasons__c", "Reasons", TEXT, True, (), "textarea"),
        )
    }
    ann = Person(email="Ann@Example.com")
    change = RecordChange(
        "s",
        "006X",
        "",
        [
            FieldChange("Health__c", "Health", None, "Red", "health"),
            FieldChange("Tags__c", "Tags", None, ["a", "b"], "s"),
            FieldChange("Integrator__c", "Integrator", None, ann, "s"),
            FieldChange("Account__c", "Account", None, "001000000000001", "s"),
            FieldChange("End__c", "End", None, datetime(2027, 1, 2, 3, 4, tzinfo=timezone.utc), "s"),
            FieldChange("Score__c", "Score", None, "2.5", "s"),
            FieldChange("Reasons__c", "Reasons", "old", "", "reasons"),
        ],
    )

    assert record_values(change, fields, {ann.identity: "005000000000001AAA"}) == {
        "Health__c": "Red",
        "Tags__c": "a;b",
        "Integrator__c": "005000000000001AAA",
        "Account__c": "001000000000001",
        "End__c": "2027-01-02",
        "Score__c": 2.5,
        "Reasons__c": None,
    }


def test_task_subject_keeps_the_marker_within_salesforces_limit() -> None:
    note = Note("turned-red", "abc", "x" * 40000, None)

    assert task_subject(note) == "trackerbridge: turned red [tb:abc]"
    assert (
        task_subject(Note("k" * 300, "abc", "")).endswith(" [tb:abc]")
        and len(task_subject(Note("k" * 300, "abc", ""))) == 255
    )
    assert len(task_record("006X", note, None)["Description"]) == 32000
    titled = Note("turned-red", "abc", "", None, title="Execution health turned red: TB102 end date missing")
    assert task_subject(titled) == "Execution health turned red: TB102 end date missing [tb:abc]"
    long = task_subject(Note("turned-red", "abc", "", None, title="x " * 300))
    assert len(long) == 255 and long.endswith("… [tb:abc]")
    assert "OwnerId" not in task_record("006X", note, None)


# --- canned answers: the edges ------------------------------------------------------------------


FIELDS = {"StageName": FieldInfo("StageName", "Stage", OPTION, True, ("Open",), "picklist")}


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{DATA}/sobjects/Opportunity/describe", json=DESCRIBE)
        yield mock


def ids(n: int) -> list[str]:
    return [f"006ACME{i:08d}" for i in range(n)]


def stage(key: str, value: str = "Open") -> RecordChange:
    return RecordChange("acme", key, "", [FieldChange("StageName", "Stage", None, value, "sync:j:stage")])


def saved(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": r["id"], "success": True, "errors": []} for r in records]


def composite_callback(
    collection: Callable[[list[dict[str, Any]]], tuple[int, Any]], sent: list[list[int]] | None = None
) -> Callable[[requests.PreparedRequest], tuple[int, dict[str, str], str]]:
    """A Composite endpoint whose collections answer `collection(records)` -> (httpStatusCode, body)."""

    def post(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        subrequests = json.loads(request.body or b"{}")["compositeRequest"]
        if sent is not None:
            sent.append([len(r["body"]["records"]) for r in subrequests])
        answers = []
        for r in subrequests:
            status, body = collection(r["body"]["records"])
            answers.append({"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": r["referenceId"]})
        return 200, {}, json.dumps({"compositeResponse": answers})

    return post


def test_a_composite_that_keeps_failing_fails_its_records_and_the_next_is_still_sent(
    api: responses.RequestsMock,
) -> None:
    keys = ids(2050)
    sent: list[list[int]] = []

    def post(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        subrequests = json.loads(request.body or b"{}")["compositeRequest"]
        if subrequests[0]["body"]["records"][0]["id"] == keys[1000]:
            sent.append([len(r["body"]["records"]) for r in subrequests])
            return 500, {}, json.dumps([{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}])
        return composite_callback(lambda records: (200, saved(records)), sent)(request)

    api.add_callback(responses.POST, f"{DATA}/composite", callback=post)
    api.add_callback(
        responses.PATCH,
        f"{DATA}/composite/sobjects",
        callback=lambda r: (200, {}, json.dumps(saved(json.loads(r.body or b"{}")["records"]))),
    )
    c = http_connector()

    outcomes = list(c.apply([stage(k) for k in keys], FIELDS))

    assert [o.key for o in outcomes] == keys
    assert all(o.ok for o in outcomes[:1000] + outcomes[2000:])
    assert all(not o.ok and "UNKNOWN_EXCEPTION: boom" in (o.error or "") for o in outcomes[1000:2000])
    # the failing composite: sent, resent twice (the policy: a composite of updates is idempotent), left
    assert sent == [[200] * 5] * 4
    assert c.calls["POST composite"] == 4 and c.calls["PATCH composite/sobjects"] == 1


def test_a_collection_refused_inside_a_composite_fails_or_is_split_alone(api: responses.RequestsMock) -> None:
    keys = ids(600)
    split: list[int] = []

    def collection(records: list[dict[str, Any]]) -> tuple[int, Any]:
        if records[0]["id"] == keys[200]:
            return 400, [{"errorCode": "JSON_PARSER_ERROR", "message": "Cannot deserialize"}]
        if records[0]["id"] == keys[400]:
            return 500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "inner boom"}]
        return 200, saved(records)

    def patch(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        records = json.loads(request.body or b"{}")["records"]
        split.append(len(records))
        if any(r["StageName"] == "Bad" for r in records):
            return 400, {}, json.dumps([{"errorCode": "JSON_PARSER_ERROR", "message": "Cannot deserialize"}])
        return 200, {}, json.dumps(saved(records))

    api.add_callback(responses.POST, f"{DATA}/composite", callback=composite_callback(collection))
    api.add_callback(responses.PATCH, f"{DATA}/composite/sobjects", callback=patch)
    c = http_connector()

    outcomes = list(c.apply([stage(k, "Bad" if k == keys[300] else "Open") for k in keys], FIELDS))

    by_key = {o.key: o for o in outcomes}
    assert sorted(by_key) == sorted(keys)
    assert all(by_key[k].ok for k in keys[:200])
    assert [k for k in keys[200:400] if not by_key[k].ok] == [keys[300]]  # split alone, like a PATCH
    assert "JSON_PARSER_ERROR" in (by_key[keys[300]].error or "")
    assert all(not by_key[k].ok and "inner boom" in (by_key[k].error or "") for k in keys[400:])
    assert split[0] == 200 and split[-1] != 200  # that collection alone, then its halves


def test_per_record_errors_inside_a_composite_are_reported_as_salesforce_gives_them(
    api: responses.RequestsMock,
) -> None:
    keys = ids(201)

    def collection(records: list[dict[str, Any]]) -> tuple[int, Any]:
        answer = saved(records)
        if records[0]["id"] == keys[200]:
            answer[0] = {
                "success": False,
                "errors": [
                    {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Stage needs an owner", "fields": []}
                ],
            }
        return 200, answer

    api.add_callback(responses.POST, f"{DATA}/composite", callback=composite_callback(collection))
    c = http_connector()

    outcomes = list(c.apply([stage(k) for k in keys], FIELDS))

    assert outcomes[:200] == [Outcome("acme", k, True) for k in keys[:200]]
    assert outcomes[200] == Outcome("acme", keys[200], False, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Stage needs an owner")


def test_per_record_errors_are_reported_as_salesforce_gives_them(api: responses.RequestsMock) -> None:
    keys = ids(3)
    answer = saved([{"id": k} for k in keys])
    answer[1] = {
        "success": False,
        "errors": [
            {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Stage needs an owner", "fields": []}
        ],
    }
    api.patch(f"{DATA}/composite/sobjects", json=answer)
    c = http_connector()

    outcomes = list(c.apply([stage(k) for k in keys], FIELDS))

    assert outcomes == [
        Outcome("acme", keys[0], True),
        Outcome("acme", keys[1], False, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Stage needs an owner"),
        Outcome("acme", keys[2], True),
    ]


def test_a_request_refused_whole_is_split_to_find_the_record(api: responses.RequestsMock) -> None:
    keys = ids(8)
    sizes: list[int] = []

    def patch(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        records = json.loads(request.body or b"{}")["records"]
        sizes.append(len(records))
        if any(r["StageName"] == "Bad" for r in records):
            return 400, {}, json.dumps([{"errorCode": "JSON_PARSER_ERROR", "message": "Cannot deserialize"}])
        return 200, {}, json.dumps(saved(records))

    api.add_callback(responses.PATCH, f"{DATA}/composite/sobjects", callback=patch)
    c = http_connector()

    outcomes = list(c.apply([stage(k, "Bad" if k == keys[5] else "Open") for k in keys], FIELDS))

    assert [o.ok for o in outcomes] == [True] * 5 + [False] + [True] * 2
    assert "JSON_PARSER_ERROR: Cannot deserialize" in (outcomes[5].error or "")
    assert sizes == [8, 4, 4, 2, 1, 1, 2]  # halves until the record Salesforce cannot read is alone


def test_request_limit_exceeded_stops_after_the_composites_already_saved(api: responses.RequestsMock) -> None:
    keys = ids(2050)
    limited = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]

    def post(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        subrequests = json.loads(request.body or b"{}")["compositeRequest"]
        if subrequests[0]["body"]["records"][0]["id"] == keys[1000]:
            return 403, {}, json.dumps(limited)
        return composite_callback(lambda records: (200, saved(records)))(request)

    api.add_callback(responses.POST, f"{DATA}/composite", callback=post)
    c = http_connector()
    got: list[Outcome] = []

    with pytest.raises(QuotaExceeded):
        for outcome in c.apply([stage(k) for k in keys], FIELDS):
            got.append(outcome)

    assert [o.key for o in got] == keys[:1000]
    assert c.calls["POST composite"] == 2 and "PATCH composite/sobjects" not in c.calls


def test_a_spent_quota_inside_a_composite_keeps_the_other_collections_outcomes(api: responses.RequestsMock) -> None:
    keys = ids(1100)

    def collection(records: list[dict[str, Any]]) -> tuple[int, Any]:
        if records[0]["id"] == keys[200]:
            return 403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
        return 200, saved(records)

    api.add_callback(responses.POST, f"{DATA}/composite", callback=composite_callback(collection))
    c = http_connector()
    got: list[Outcome] = []

    with pytest.raises(QuotaExceeded):
        for outcome in c.apply([stage(k) for k in keys], FIELDS):
            got.append(outcome)

    assert [o.key for o in got] == keys[:200] + keys[400:1000] and all(o.ok for o in got)
    assert c.calls["POST composite"] == 1 and "PATCH composite/sobjects" not in c.calls  # the last 100: not sent


@pytest.mark.parametrize("landed", [True, False], ids=["post-had-landed", "post-had-not"])
def test_a_dropped_task_post_is_checked_for_before_it_is_sent_again(api: responses.RequestsMock, landed: bool) -> None:
    key = ids(1)[0]
    note = Note("turned-red", "beef", "turned red")
    soql = format_soql(
        "SELECT Id, WhatId, Subject FROM Task WHERE WhatId IN {ids} AND Subject LIKE {like}", ids=[key], like="%[tb:%"
    )
    none = {"totalSize": 0, "done": True, "records": []}
    found = {"totalSize": 1, "done": True, "records": [{"Id": "00T1", "WhatId": key, "Subject": task_subject(note)}]}
    api.get(f"{DATA}/query/", match=[matchers.query_param_matcher({"q": soql})], json=none)
    api.get(f"{DATA}/query/", match=[matchers.query_param_matcher({"q": soql})], json=found if landed else none)
    api.post(f"{DATA}/composite/sobjects", body=requests.exceptions.ConnectionError("Connection aborted."))
    api.post(f"{DATA}/composite/sobjects", json=[{"id": "00T2", "success": True, "errors": []}])
    c = http_connector()

    [outcome] = c.apply([RecordChange("acme", key, "", notes=[note])], {})

    assert outcome == Outcome("acme", key, True, None, ("beef",))
    posts = [call for call in api.calls if call.request.method == "POST"]
    assert len(posts) == (2 if not landed else 1)  # `responses` raises before urllib3 counts a dropped attempt
    assert c.calls["GET query"] == 2
