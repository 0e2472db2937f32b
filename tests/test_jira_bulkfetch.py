"""Jira Cloud bulk fetch and the ids-only enhanced search: the sandbox through the real `jira` client's session
(reference pages cited in src/trackerbridge/sandbox/jira_bulkfetch.py), then the connector's two-phase read
(connectors/jira/fetch.py) against it."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
from jira import JIRAError

from test_connector_jira import FAST
from test_connector_jira import connection as sandbox_connection
from trackerbridge.activity import STAMP_KEY
from trackerbridge.connectors.base import ConnectorError
from trackerbridge.connectors.jira import JiraConnector
from trackerbridge.connectors.jira.fetch import fetch_batch, read_minimum, single_pass_calls, two_phase_calls
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.pytest_plugin import TEST_NOW


def client_session(sb: Sandbox) -> requests.Session:
    c = JiraConnector(sandbox_connection(sb), retry=FAST)
    return c._connect()._session  # type: ignore[no-any-return]


def post(session: requests.Session, url: str, body: Any) -> requests.Response:
    try:
        return session.post(url, json=body)
    except JIRAError as exc:  # the client's session raises for errors; the answer is what we test
        assert exc.response is not None
        return exc.response  # type: ignore[no-any-return]


def fetch_url(sb: Sandbox, api: str = "3") -> str:
    return f"{sb.info.jira_url}/rest/api/{api}/issue/bulkfetch"


def test_bulkfetch_answers_in_id_order_and_leaves_out_unknown_and_hidden_issues(sandbox: Sandbox) -> None:
    session = client_session(sandbox)
    data = sandbox.jira_data
    keys = sorted(data.issues, key=lambda k: data.issues[k].id)[:6]
    text_field = next(f.id for f in data.fields.values() if f.kind == "text" and f.custom)
    sandbox.jira.bulkfetch.hidden.add(keys[1])
    asked = [keys[4], str(data.issues[keys[0]].id), keys[1], "NOPE-1", "99999999", keys[2].lower()]
    body = {"issueIdsOrKeys": asked, "fields": ["summary", "updated", text_field], "properties": ["x.y"]}
    answer = post(session, fetch_url(sandbox), body)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert [i["key"] for i in out["issues"]] == [keys[0], keys[2], keys[4]]  # ascending id, hidden/unknown gone
    assert out["issueErrors"] == []
    first = out["issues"][0]
    assert set(first["fields"]) == {"summary", "updated", text_field} and first["properties"] == {}
    value = first["fields"][text_field]
    assert value is None or value["type"] == "doc"  # v3: textareas are ADF
    v2 = post(session, fetch_url(sandbox, "2"), body).json()
    assert [i["key"] for i in v2["issues"]] == [keys[0], keys[2], keys[4]]
    assert not isinstance(v2["issues"][0]["fields"][text_field], dict)


def test_bulkfetch_takes_1000_only_when_the_request_is_shaped_as_the_reference_says(sandbox: Sandbox) -> None:
    session = client_session(sandbox)
    keys = list(sandbox.jira_data.issues)
    many = (keys * 3)[:1000]
    url = fetch_url(sandbox)

    def status(n: int, **extra: Any) -> int:
        return post(session, url, {"issueIdsOrKeys": (keys * 3)[:n], **extra}).status_code

    assert status(1000, fields=["summary", "updated", "labels"]) == 200
    assert status(1001, fields=["summary"]) == 400
    assert status(100) == 200 and status(101) == 400  # no fields: the default navigable set
    assert status(101, fields=["*navigable"]) == 400
    assert status(101, fields=["-summary"]) == 400  # only exclusions
    assert status(101, fields=["summary", "*all"]) == 400
    assert status(101, fields=["summary", "comment"]) == 400  # returns multiple values
    assert status(101, fields=["summary"], expand=["changelog"]) == 400
    assert status(101, fields=["summary"], expand=["names"]) == 200
    assert status(10, properties=["a", "b", "c", "d", "e", "f"]) == 400
    sandbox.jira.bulkfetch.strict = True  # the narrowest reading: every array-valued field counts
    assert status(101, fields=["summary", "labels"]) == 400
    assert status(101, fields=["summary"]) == 200
    refused = post(session, url, {"issueIdsOrKeys": many, "fields": ["summary", "labels"]}).json()
    assert "exceeds the maximum of 100" in refused["errorMessages"][0]
    assert post(session, url, {"issueIdsOrKeys": []}).status_code == 400
    counted = [r for r in sandbox.accounting.records() if r.endpoint.endswith("/issue/bulkfetch")]
    assert len(counted) == 15  # every request is counted, refused ones too


def test_bulkfetch_reports_retriable_failures_per_issue(sandbox: Sandbox) -> None:
    session = client_session(sandbox)
    keys = list(sandbox.jira_data.issues)[:3]
    sandbox.jira.bulkfetch.errors[keys[1]] = "Retry later"
    out = post(session, fetch_url(sandbox), {"issueIdsOrKeys": keys, "fields": ["summary"]}).json()
    assert {i["key"] for i in out["issues"]} == {keys[0], keys[2]}
    assert out["issueErrors"] == [{"id": str(sandbox.jira_data.issues[keys[1]].id), "errorMessage": "Retry later"}]


def test_ids_only_enhanced_search_pages_up_to_5000_and_real_fields_keep_100(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(size=6000)
    session = client_session(sb)
    total = len(sb.jira_data.issues)
    assert total > 5000
    for api in ("2", "3"):
        url = f"{sb.info.jira_url}/rest/api/{api}/search/jql"
        for only in ("id", "key", "id,key"):
            page = session.get(url, params={"jql": "project in (OPS, DEL)", "fields": only, "maxResults": 6000}).json()
            assert len(page["issues"]) == 5000 and page["isLast"] is False
            assert set(page["issues"][0]) >= {"id", "key"} and "fields" not in page["issues"][0]
            rest = session.get(
                url,
                params={
                    "jql": "project in (OPS, DEL)",
                    "fields": only,
                    "maxResults": 6000,
                    "nextPageToken": page["nextPageToken"],
                },
            ).json()
            assert len(rest["issues"]) == total - 5000 and rest["isLast"] is True
        full = session.get(
            url, params={"jql": "project in (OPS, DEL)", "fields": "id,summary", "maxResults": 6000}
        ).json()
        assert len(full["issues"]) == 100


# --- the connector's two-phase read ---------------------------------------------------------------------------

FIELDS = ("assignee", "duedate", "status", "labels", "Integrator", "Team", "Execution health", "Scorecard measures")


def connector(sb: Sandbox, **options: Any) -> JiraConnector:
    return JiraConnector(sandbox_connection(sb), retry=FAST, **options)


def fields_of(c: JiraConnector) -> list[Any]:
    catalog = c.catalog()
    return [catalog.find(n) for n in FIELDS]


def endpoint_calls(sb: Sandbox) -> Counter[str]:
    return Counter(f"{r.method} {r.endpoint.rsplit('/api/', 1)[-1]}" for r in sb.accounting.records())


def test_a_large_cloud_read_goes_two_phase_and_reads_what_the_single_pass_reads(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(size=2500)
    single = connector(sb)
    single.fetch.enabled = False
    sb.accounting.reset()
    expected = list(single.pull(fields_of(single)))
    single_calls = endpoint_calls(sb)["GET 2/search/jql"]
    c = connector(sb)
    fields = fields_of(c)
    sb.accounting.reset()
    records = list(c.pull(fields))
    n = len(expected)
    assert n > 2000 and single_calls == math.ceil(n / 100)
    assert [r.key for r in records] == [r.key for r in expected]  # the same order: oldest change first
    assert [(r.values, r.updated, r.created, r.ours, r.stamp, r.absent) for r in records] == [
        (r.values, r.updated, r.created, r.ours, r.stamp, r.absent) for r in expected
    ]
    calls = endpoint_calls(sb)
    fetches = math.ceil((n - 100) / 1000)
    assert calls == Counter({"GET 2/search/jql": 2, "POST 2/issue/bulkfetch": fetches})  # the probe, the ids
    assert 1 + 1 + fetches <= read_minimum(n, fetch_batch([f.id for f in fields], False)) + 1
    bodies = sb.jira.bulkfetch.requests
    assert all(b["fields"] == [*(f.id for f in fields), "updated", "created"] for b in bodies)
    assert all(b["properties"] == [STAMP_KEY] and len(b["issueIdsOrKeys"]) <= 1000 for b in bodies)
    assert c.fetch.stats == {"probe": 1, "id_pages": 1, "fetches": fetches, "vanished": 0, "follow_up": 0}


def test_small_reads_and_reads_with_changelogs_keep_the_single_pass(sandbox: Sandbox) -> None:
    c = connector(sandbox)
    fields = fields_of(c)
    sandbox.accounting.reset()
    few = list(c.pull(fields, since=TEST_NOW - timedelta(days=1)))  # an incremental read: under one page
    assert len(few) <= 100
    calls = endpoint_calls(sandbox)
    assert calls["GET 2/search/jql"] == 1 and "POST 2/issue/bulkfetch" not in calls
    sandbox.accounting.reset()
    every = list(c.pull(fields, history=True))
    assert len(every) > 100 and "POST 2/issue/bulkfetch" not in endpoint_calls(sandbox)
    assert fetch_batch(["summary"], True) == 100 and fetch_batch(["summary", "comment"], False) == 100
    assert fetch_batch(["summary", "labels"], False) == 1000
    assert two_phase_calls(10_000, 1000) == 12 < single_pass_calls(10_000) == 100
    assert read_minimum(100, 1000) == 1 and read_minimum(10_000, 100) == 100


def test_bulk_fetches_run_max_workers_at_a_time(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size=4500, latency_ms=300)
    c = connector(sb, max_workers=4)
    fields = fields_of(c)
    inflight, peak, lock = [0], [0], threading.Lock()
    post = c.bulk._post

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            inflight[0] += 1
            peak[0] = max(peak[0], inflight[0])
        try:
            return post(*args, **kwargs)
        finally:
            with lock:
                inflight[0] -= 1

    c.bulk._post = counted  # type: ignore[method-assign]
    records = list(c.pull(fields))
    assert len(records) > 4000 and c.fetch.stats["fetches"] >= 4
    assert peak[0] == 4  # four fetches in flight at once (each waits 300 ms of latency)


def test_an_issue_deleted_between_the_phases_is_left_out_and_one_edited_brings_a_follow_up_search(
    sandbox: Sandbox,
) -> None:
    c = connector(sandbox)
    fields = fields_of(c)
    data = sandbox.jira_data
    order = sorted(
        (i for i in data.issues.values() if i.project in ("OPS", "DEL")), key=lambda i: (i.fields["updated"], i.id)
    )
    gone, edited = order[-1], order[-2]  # both past the first page

    def between(asked: list[str]) -> None:
        if sandbox.jira.bulkfetch.before is None:
            return
        sandbox.jira.bulkfetch.before = None
        del data.issues[gone.key]
        edited.fields["summary"] = "changed between the phases"
        edited.fields["updated"] = sandbox.jira.clock.now() + timedelta(seconds=30)
        sandbox.jira.version += 1

    sandbox.jira.bulkfetch.before = between
    sandbox.accounting.reset()
    records = list(c.pull([*fields, c.catalog().find("summary")]))
    keys = [r.key for r in records]
    assert gone.key not in keys
    assert c.fetch.stats["vanished"] == 1 and c.fetch.stats["follow_up"] == 1
    last = [r for r in records if r.key == edited.key][-1]  # the caller keeps the newest copy: the last one
    assert last.values["summary"] == "changed between the phases" and last.updated == edited.fields["updated"]
    assert 1 <= len(records) - (len(order) - 1) < 100  # the follow-up reads only what changed lately
    assert endpoint_calls(sandbox)["GET 2/search/jql"] == 3  # the probe, the ids, the follow-up


def test_retriable_issue_errors_are_asked_again_and_a_lasting_one_stops_the_read(sandbox: Sandbox) -> None:
    c = connector(sandbox)
    fields = fields_of(c)
    late = sorted(
        (i for i in sandbox.jira_data.issues.values() if i.project in ("OPS", "DEL")),
        key=lambda i: (i.fields["updated"], i.id),
    )[-1]
    sandbox.jira.bulkfetch.errors[late.key] = "Retry the request"
    calls = [0]

    def heal(asked: list[str]) -> None:
        calls[0] += 1
        if calls[0] == 2:
            sandbox.jira.bulkfetch.errors.clear()

    sandbox.jira.bulkfetch.before = heal
    records = list(c.pull(fields))
    assert late.key in {r.key for r in records} and c.fetch.stats["fetches"] == 2
    sandbox.jira.bulkfetch.before = None
    sandbox.jira.bulkfetch.errors[late.key] = "Retry the request"
    lasting = r"could not return 1 issue\(s\) while fetching \d+ issues \(issue \d+: Retry the request\); run again"
    with pytest.raises(ConnectorError, match=lasting):
        list(connector(sandbox).pull(fields))


def test_a_jira_that_refuses_1000_is_asked_100_at_a_time_from_then_on(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size=1500)
    sb.jira.bulkfetch.strict = True  # labels count as "multiple values" here
    c = connector(sb)
    fields = fields_of(c)
    single = connector(sb)
    single.fetch.enabled = False
    expected = [r.key for r in single.pull(fields)]
    sb.accounting.reset()
    assert [r.key for r in c.pull(fields)] == expected
    statuses = Counter(r.status for r in sb.accounting.records() if r.endpoint.endswith("/issue/bulkfetch"))
    sizes = [len(b["issueIdsOrKeys"]) for b in sb.jira.bulkfetch.requests]
    refused = [n for n in sizes if n > 100]  # the batches of 1000 sent before the first refusal came back
    assert statuses[400] == len(refused) >= 1
    assert statuses[200] == sum(math.ceil(n / 100) for n in refused)
    assert c.fetch.batch == 100 and not c.fetch.wanted([f.id for f in fields], None)  # the next read: single pass


def test_rate_limits_errors_and_dropped_connections_on_the_fetches_are_waited_out_and_resent(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    # at most 6 faults in all, so no fetch meets more in a row than the retry policy's 7 attempts
    faults = "rate-limit:every=2,count=3,retry_after=0,method=POST;error:every=3,count=2,status=503,method=POST;"
    faults += "drop:every=5,count=1,method=POST"
    sb = sandbox_factory(size=3000, faults=faults)
    clean = sandbox_factory(size=3000)
    expected = [(r.key, r.values) for r in connector(clean).pull(fields_of(connector(clean)))]
    c = connector(sb, max_workers=4)
    records = [(r.key, r.values) for r in c.pull(fields_of(c))]
    assert records == expected
    statuses = Counter(r.status for r in sb.accounting.records() if r.path.endswith("/issue/bulkfetch"))
    assert statuses[429] >= 1 and statuses[503] >= 1 and statuses[200] == c.fetch.stats["fetches"] >= 3


def test_an_incremental_read_of_more_than_a_page_goes_two_phase_too(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size=2000)
    since = TEST_NOW - timedelta(days=60)
    single = connector(sb)
    single.fetch.enabled = False
    expected = [r.key for r in single.pull(fields_of(single), since=since, clock=lambda: TEST_NOW)]
    c = connector(sb)
    sb.accounting.reset()
    got = [r.key for r in c.pull(fields_of(c), since=since, clock=lambda: TEST_NOW)]  # relative to Jira's clock
    assert len(expected) > 1000 and got == expected
    assert c.fetch.stats["probe"] == c.fetch.stats["id_pages"] == 1 and c.fetch.stats["fetches"] == 2
    assert endpoint_calls(sb)["GET 2/search/jql"] == 2
