"""The Jira connector's request and response handling, against canned answers (`responses`)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from trackerbridge.activity import STAMP_KEY
from trackerbridge.changes import FieldChange, RecordChange
from trackerbridge.config.connection import Connection, Secret
from trackerbridge.config.models import JiraConnector as JiraConnectorFile
from trackerbridge.connectors.base import LABELS, OPTION, TEXT, USER, AuthError, ConnectorError, QuotaExceeded
from trackerbridge.connectors.http import retry_policy
from trackerbridge.connectors.jira import JiraConnector
from trackerbridge.cursor import Cursor
from trackerbridge.model import Person

SITE = "https://jira.example.com"
API = f"{SITE}/rest/api/2"
TOKEN = "s3cr3t-api-token"
FAST = retry_policy(attempts=6, backoff=0.001, cap=0.01)
CF = "com.atlassian.jira.plugin.system.customfieldtypes:"

FIELDS: list[dict[str, Any]] = [
    {"id": "summary", "name": "Summary", "orderable": True, "schema": {"type": "string", "system": "summary"}},
    {"id": "status", "name": "Status", "orderable": False, "schema": {"type": "status", "system": "status"}},
    {"id": "updated", "name": "Updated", "orderable": False, "schema": {"type": "datetime", "system": "updated"}},
    {"id": "assignee", "name": "Assignee", "orderable": True, "schema": {"type": "user", "system": "assignee"}},
    {"id": "duedate", "name": "Due date", "orderable": True, "schema": {"type": "date", "system": "duedate"}},
    {"id": "project", "name": "Project", "orderable": False, "schema": {"type": "project", "system": "project"}},
    {
        "id": "labels",
        "name": "Labels",
        "orderable": True,
        "schema": {"type": "array", "items": "string", "system": "labels"},
    },
    {
        "id": "customfield_1",
        "name": "Health",
        "orderable": True,
        "clauseNames": ["cf[1]", "Health"],
        "schema": {"type": "option", "custom": CF + "select", "customId": 1},
        "allowedValues": [{"value": "Green", "id": "1"}, {"value": "Red", "id": "2"}],
    },
    {
        "id": "customfield_2",
        "name": "Regions",
        "orderable": True,
        "schema": {"type": "array", "items": "option", "custom": CF + "multiselect", "customId": 2},
    },
    {
        "id": "customfield_3",
        "name": "Area",
        "orderable": True,
        "schema": {"type": "option-with-child", "custom": CF + "cascadingselect", "customId": 3},
    },
    {"id": "customfield_4", "name": "Score", "orderable": True, "schema": {"type": "number", "custom": CF + "float"}},
    {
        "id": "customfield_5",
        "name": "Kicked off",
        "orderable": True,
        "schema": {"type": "datetime", "custom": CF + "datetime"},
    },
    {"id": "customfield_6", "name": "Watchers list", "orderable": True, "schema": {"type": "array", "items": "user"}},
    {"id": "issuekey", "name": "Key", "orderable": False},
]


def connection(
    *, auth: str = "api_token", flavor: str = "auto", jql: str = "project = OPS", url: str = SITE
) -> Connection:
    if auth == "pat":
        spec: dict[str, str] = {"method": "pat", "token_env": "TB_JIRA_PAT"}
        creds = {"token": Secret(TOKEN, "TB_JIRA_PAT")}
    else:
        spec = {"method": "api_token", "email_env": "TB_JIRA_EMAIL", "token_env": "TB_JIRA_TOKEN"}
        creds = {"email": Secret("bot@example.com", "TB_JIRA_EMAIL"), "token": Secret(TOKEN, "TB_JIRA_TOKEN")}
    file = JiraConnectorFile(type="jira", url=url, mapping="jira", auth=spec, scope={"jql": jql}, flavor=flavor)
    return Connection(
        name="acme", type="jira", url=url, auth_method=spec["method"], credentials=creds, scope=file.scope, file=file
    )


def connector(**options: Any) -> JiraConnector:
    page_size = options.pop("page_size", None)
    return JiraConnector(connection(**options), retry=FAST, page_size=page_size)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def basics(rsps: responses.RequestsMock, *, cloud: bool = True, time_zone: str = "UTC", api: str = API) -> None:
    deployment = "Cloud" if cloud else "Server"
    rsps.get(
        f"{api}/serverInfo", json={"version": "9.12.0", "versionNumbers": [9, 12, 0], "deploymentType": deployment}
    )
    rsps.get(f"{api}/field", json=FIELDS)
    rsps.get(
        f"{api}/myself",
        json={"accountId": "a-1", "displayName": "Bot", "emailAddress": "bot@example.com", "timeZone": time_zone},
    )


def issue(key: str, updated: str = "2026-11-01T10:00:00.000+0000", **fields: Any) -> dict[str, Any]:
    return {"id": key.split("-")[1], "key": key, "fields": {"updated": updated, **fields}}


def page(*keys: str, token: str | None = None, is_last: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"issues": [issue(k) for k in keys]}
    if token is not None:
        out["nextPageToken"] = token
    if is_last is not None:
        out["isLast"] = is_last
    return out


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def search_calls(rsps: responses.RequestsMock, endpoint: str = "search/jql") -> list[Any]:
    return [c for c in rsps.calls if urlsplit(c.request.url).path == f"/rest/api/2/{endpoint}"]


def pull_keys(c: JiraConnector, *names: str, **kwargs: Any) -> list[str]:
    catalog = c.catalog()
    fields = [catalog.find(n) for n in names or ("status",)]
    return [r.key for r in c.pull(fields, **kwargs)]  # type: ignore[arg-type]


# --- Cloud: enhanced search and its tokens ------------------------------------------------------


def test_cloud_asks_for_only_the_fields_it_needs_in_updated_order(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", json=page("OPS-1", is_last=True))
    c = connector()
    assert pull_keys(c, "status", "Health") == ["OPS-1"]
    [call] = search_calls(rsps)
    q = query(call)
    assert q["jql"] == ["(project = OPS) ORDER BY updated ASC, key ASC"]
    assert q["fields"] == ["status", "customfield_1", "updated", "created"]  # created: the fallback for rules
    assert q["maxResults"] == ["5000"]  # the server caps it: 100 with fields, 5000 for ids only
    assert "expand" not in q and "nextPageToken" not in q
    assert c.calls == {"GET serverInfo": 1, "GET field": 1, "GET search/jql": 1}


def test_cloud_empty_first_page(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", json={"issues": [], "isLast": True})
    c = connector()
    assert pull_keys(c) == []
    assert c.calls["GET search/jql"] == 1


def test_cloud_follows_tokens_and_stops_at_a_page_without_one(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", json=page("OPS-1", "OPS-2", token="t1", is_last=False))
    rsps.get(f"{API}/search/jql", json=page("OPS-3"))  # neither token nor isLast: the end
    c = connector()
    assert pull_keys(c) == ["OPS-1", "OPS-2", "OPS-3"]
    first, second = search_calls(rsps)
    assert query(second)["nextPageToken"] == ["t1"] and query(second)["jql"] == query(first)["jql"]


def test_cloud_expired_token_is_a_clear_error_after_the_records_already_read(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", json=page("OPS-1", "OPS-2", token="t1", is_last=False))
    rsps.get(
        f"{API}/search/jql",
        status=400,
        json={"errorMessages": ["The provided next page token is invalid or expired."], "errors": {}},
    )
    c = connector()
    fields = [c.catalog().find("status")]
    got: list[str] = []
    with pytest.raises(ConnectorError) as caught:
        got.extend(r.key for r in c.pull(fields))  # type: ignore[arg-type]
    assert got == ["OPS-1", "OPS-2"]
    assert str(caught.value) == (
        "jira 'acme': the search's page token was refused after 2 records "
        "(400: The provided next page token is invalid or expired.); tokens expire when a search sits idle: run again"
    )


def test_cloud_more_pages_promised_without_a_token_is_an_error(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", json=page("OPS-1", is_last=False))
    with pytest.raises(ConnectorError, match=r"isLast=false\) but sent no nextPageToken after 1 records"):
        pull_keys(connector())


def test_long_jql_searches_by_post_and_post_searches_are_retried(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.post(f"{API}/search/jql", status=429, headers={"Retry-After": "1"}, json={"errorMessages": ["Slow down"]})
    rsps.post(f"{API}/search/jql", json=page("OPS-1", is_last=True))
    long_jql = "key in (" + ", ".join(f"OPS-{n}" for n in range(1, 400)) + ")"
    c = connector(jql=long_jql)
    assert pull_keys(c, "status", history=True) == ["OPS-1"]
    body = json.loads(search_calls(rsps)[-1].request.body)
    assert body["jql"] == f"({long_jql}) ORDER BY updated ASC, key ASC"
    assert (body["fields"], body["maxResults"], body["expand"]) == (["status", "updated", "created"], 5000, "changelog")
    assert c.calls["POST search/jql"] == 2


def test_cloud_reads_the_whole_changelog_when_search_carries_only_recent_entries(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    entry = {"author": {"accountId": "a-2", "displayName": "Ann"}, "items": [{"field": "status", "toString": "Done"}]}
    recent = {**entry, "created": "2026-10-02T10:00:00.000+0000"}
    found = issue("OPS-1")
    found["changelog"] = {"startAt": 0, "maxResults": 1, "total": 3, "histories": [recent]}
    rsps.get(f"{API}/search/jql", json={"issues": [found], "isLast": True})
    older = [{**entry, "created": f"2026-10-01T0{n}:00:00.000+0000"} for n in (1, 2)]
    rsps.get(f"{API}/issue/OPS-1/changelog", json={"values": older, "total": 3, "isLast": False})
    rsps.get(f"{API}/issue/OPS-1/changelog", json={"values": [recent], "total": 3, "isLast": True})
    c = connector()
    [record] = list(c.pull([c.catalog().find("status")], history=True))  # type: ignore[list-item]
    assert [h["created"].hour for h in record.history] == [1, 2, 10]
    assert record.history[0]["author"] == Person(None, "Ann", "a-2")
    assert record.history[0]["items"] == [
        {"field": "status", "from": None, "to": None, "fromString": None, "toString": "Done"}
    ]
    assert c.calls["GET issue/{key}/changelog"] == 2


# --- Data Center: offset paging -----------------------------------------------------------------


class OffsetServer:
    """A Data Center search over a list that tests may change between pages."""

    def __init__(self, keys: list[str], cap: int = 1000) -> None:
        self.keys = keys
        self.cap = cap
        self.starts: list[int] = []
        self.before_page: Callable[[int], None] = lambda n: None

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        q = parse_qs(urlsplit(request.url).query)
        start, size = int(q["startAt"][0]), min(int(q["maxResults"][0]), self.cap)
        self.before_page(len(self.starts))
        self.starts.append(start)
        found = [issue(k) for k in self.keys[start : start + size]]
        body = {"startAt": start, "maxResults": size, "total": len(self.keys), "issues": found}
        return 200, {}, json.dumps(body)


def dc_search(rsps: responses.RequestsMock, server: OffsetServer) -> None:
    basics(rsps, cloud=False)
    rsps.add_callback(responses.GET, f"{API}/search", callback=server, content_type="application/json")


def test_dc_pages_by_the_servers_max_results(rsps: responses.RequestsMock) -> None:
    server = OffsetServer(["A-1", "A-2", "A-3", "A-4", "A-5"], cap=2)
    dc_search(rsps, server)
    c = connector()
    assert pull_keys(c) == ["A-1", "A-2", "A-3", "A-4", "A-5"]
    assert server.starts == [0, 1, 2, 3]  # each page re-reads the last row of the one before
    assert query(search_calls(rsps, "search")[0])["maxResults"] == ["1000"]
    assert query(search_calls(rsps, "search")[1])["maxResults"] == ["2"]


def test_dc_one_call_when_everything_fits(rsps: responses.RequestsMock) -> None:
    server = OffsetServer([f"A-{n}" for n in range(1, 401)])
    dc_search(rsps, server)
    c = connector()
    assert len(pull_keys(c)) == 400
    assert c.calls["GET search"] == 1


def test_dc_short_pages_do_not_end_the_search(rsps: responses.RequestsMock) -> None:
    basics(rsps, cloud=False)
    for start, keys in ((0, ["A-1", "A-2"]), (1, ["A-2", "A-3"]), (2, ["A-3", "A-4", "A-5"])):
        body = {"startAt": start, "maxResults": 3, "total": 5, "issues": [issue(k) for k in keys]}
        rsps.get(f"{API}/search", json=body)  # the first two pages are short of maxResults
    c = connector()
    assert pull_keys(c) == ["A-1", "A-2", "A-3", "A-4", "A-5"]
    assert [query(call)["startAt"] for call in search_calls(rsps, "search")] == [["0"], ["1"], ["2"]]


def test_dc_total_shrinking_mid_run_steps_back_instead_of_skipping(rsps: responses.RequestsMock) -> None:
    server = OffsetServer(["A-1", "A-2", "A-3", "A-4", "A-5", "A-6"], cap=3)

    def delete_first(n: int) -> None:
        if n == 1:
            server.keys.remove("A-1")  # everything after it slides up one row

    server.before_page = delete_first
    dc_search(rsps, server)
    assert pull_keys(connector()) == ["A-1", "A-2", "A-3", "A-4", "A-5", "A-6"]
    assert server.starts == [0, 2, 1, 3]  # row 2 no longer starts on A-3: step back to row 1


def test_dc_everything_after_the_first_page_vanishing_ends_cleanly(rsps: responses.RequestsMock) -> None:
    server = OffsetServer(["A-1", "A-2", "A-3", "A-4"], cap=2)

    def delete_rest(n: int) -> None:
        if n == 1:
            del server.keys[1:]

    server.before_page = delete_rest
    dc_search(rsps, server)
    assert pull_keys(connector()) == ["A-1", "A-2"]
    assert server.starts == [0, 1, 0]


# --- retries ------------------------------------------------------------------------------------


def test_429_with_retry_after_then_200_is_one_record_set_and_two_calls(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", status=429, headers={"Retry-After": "1"}, json={"errorMessages": []})
    rsps.get(f"{API}/search/jql", json=page("OPS-1", "OPS-2", is_last=True))
    c = connector()
    assert pull_keys(c) == ["OPS-1", "OPS-2"]
    assert c.calls["GET search/jql"] == 2 == len(search_calls(rsps))


def test_503_three_times_then_200(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    for _ in range(3):
        rsps.get(f"{API}/search/jql", status=503, json={"errorMessages": ["Service Unavailable"]})
    rsps.get(f"{API}/search/jql", json=page("OPS-1", is_last=True))
    c = connector()
    assert pull_keys(c) == ["OPS-1"]
    assert c.calls["GET search/jql"] == 4


def test_500_beyond_the_attempts_names_the_status(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", status=500, json={"errorMessages": ["Internal server error"]})
    c = connector()
    with pytest.raises(ConnectorError) as caught:
        pull_keys(c)
    assert str(caught.value) == (
        "jira 'acme': Jira kept failing while searching: 500 Internal Server Error: Internal server error "
        "(after retrying)"
    )
    assert c.calls["GET search/jql"] == 7  # the first try and six retries


def test_rate_limit_that_outlasts_the_retries_is_quota_exceeded(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", status=429, headers={"Retry-After": "1"}, json={"errorMessages": []})
    c = connector()
    with pytest.raises(QuotaExceeded) as caught:
        pull_keys(c)
    assert (
        str(caught.value)
        == "jira 'acme': rate limited by Jira (429) while searching (after retrying; Jira asks to wait 1s)"
    )
    assert c.calls["GET search/jql"] == 7


def test_long_retry_after_is_not_slept_through(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", status=429, headers={"Retry-After": "3600"}, json={"errorMessages": []})
    c = connector()
    with pytest.raises(QuotaExceeded) as caught:
        pull_keys(c)
    assert str(caught.value) == (
        "jira 'acme': rate limited by Jira (429) while searching; Jira asks to wait 3600s (Retry-After), "
        "longer than trackerbridge waits (120s): run again later"
    )
    assert c.calls["GET search/jql"] == 1


def test_maintenance_window_503_with_a_long_retry_after_fails_fast(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", status=503, headers={"Retry-After": "7200"}, json={"errorMessages": ["Down"]})
    c = connector()
    with pytest.raises(ConnectorError) as caught:
        pull_keys(c)
    assert str(caught.value) == (
        "jira 'acme': Jira kept failing while searching: 503 Service Unavailable: Down; Jira asks to wait 7200s "
        "(Retry-After), longer than trackerbridge waits (120s): run again later"
    )
    assert c.calls["GET search/jql"] == 1


# --- error bodies and credentials -----------------------------------------------------------------


def test_401_is_an_auth_error_naming_the_variables(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/serverInfo", status=401, json={"errorMessages": ["Client must be authenticated."]})
    with pytest.raises(AuthError) as caught:
        connector().server()
    assert str(caught.value) == (
        "jira 'acme': the server rejected the credentials from $TB_JIRA_EMAIL / $TB_JIRA_TOKEN (401)"
    )


def test_401_for_a_pat_on_cloud_says_cloud_takes_api_tokens(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.replace(responses.GET, f"{API}/myself", status=401, json={})
    with pytest.raises(AuthError, match=r"\$TB_JIRA_PAT \(401\); Jira Cloud does not take personal access tokens"):
        connector(auth="pat").server()


def test_captcha_after_failed_logins_is_an_auth_error(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/serverInfo", status=403, headers={"X-Authentication-Denied-Reason": "CAPTCHA_CHALLENGE"})
    with pytest.raises(AuthError, match=r"403, CAPTCHA_CHALLENGE.*sign in once in a browser"):
        connector().server()


def test_403_names_the_missing_permission_and_jiras_words(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    rsps.get(f"{API}/search/jql", status=403, json={"errorMessages": ["You do not have permission."], "errors": {}})
    with pytest.raises(ConnectorError) as caught:
        pull_keys(connector())
    assert str(caught.value) == (
        "jira 'acme': permission denied (403) while searching: You do not have permission.; the account from "
        "$TB_JIRA_EMAIL / $TB_JIRA_TOKEN lacks a permission this needs (Browse projects for searches)"
    )


def test_400_errors_dict_becomes_field_messages(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    body = {"errorMessages": [], "errors": {"jql": "The value 'NOPE' does not exist for the field 'project'."}}
    rsps.get(f"{API}/search/jql", status=400, json=body)
    with pytest.raises(ConnectorError) as caught:
        pull_keys(connector())
    assert str(caught.value) == (
        "jira 'acme': the scope's JQL was rejected: jql: The value 'NOPE' does not exist for the field 'project'.; "
        "fix scope.jql in connectors/acme.yaml"
    )


def test_404_on_serverinfo_asks_about_the_url(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/serverInfo", status=404, body="")
    with pytest.raises(ConnectorError, match=r"not found \(404\) while connecting; is https://jira\.example\.com the"):
        connector().server()


def test_an_html_page_instead_of_json_is_named(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/serverInfo", body="<html>Sign in</html>", content_type="text/html")
    with pytest.raises(ConnectorError, match=r"answered with something that is not JSON \(text/html\)"):
        connector().server()


def test_messages_never_carry_the_secret_even_when_the_server_echoes_it(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/serverInfo", status=400, json={"errorMessages": [f"bad token {TOKEN}"]})
    with pytest.raises(ConnectorError) as caught:
        connector().server()
    assert TOKEN not in str(caught.value) and "bad token ***" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_configured_cloud_against_data_center_is_refused(rsps: responses.RequestsMock) -> None:
    basics(rsps, cloud=False)
    with pytest.raises(ConnectorError) as caught:
        connector(flavor="cloud").server()
    assert str(caught.value) == (
        "jira 'acme': the connector file says flavor: cloud, but https://jira.example.com reports "
        "deploymentType 'Server' (datacenter); set flavor: datacenter or auto"
    )


def test_connection_refused_names_the_host() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = connector(url=f"https://127.0.0.1:{port}")
    with pytest.raises(ConnectorError) as caught:
        c.server()
    assert str(caught.value) == (
        f"jira 'acme': cannot reach 127.0.0.1:{port}: connection refused (is the URL right, and is Jira up?)"
    )
    assert sum(c.calls.values()) == 0  # nothing reached a server


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(ConnectorError, match=r"http://jira\.example\.com must use https://"):
        connector(url="http://jira.example.com")


# --- values, time and URLs ----------------------------------------------------------------------


def test_values_are_normalised_per_type(rsps: responses.RequestsMock) -> None:
    basics(rsps)
    fields = {
        "summary": "Ship it",
        "status": {"name": "In Progress", "id": "3"},
        "assignee": {"accountId": "a-9", "displayName": "Ann Lee"},  # e-mail hidden by privacy settings
        "duedate": "2026-12-01",
        "project": {"key": "OPS", "name": "Operations"},
        "labels": ["a", "b"],
        "customfield_1": {"value": "Red", "id": "2"},
        "customfield_2": [{"value": "EMEA"}, {"value": "APAC"}],
        "customfield_3": {"value": "Payments", "child": {"value": "Cards"}},
        "customfield_4": 3,
        "customfield_5": "2026-11-25T08:25:46.5+05:30",
        "customfield_6": [{"accountId": "a-1", "displayName": "Bo"}, {"accountId": "a-2", "displayName": "Cy"}],
    }
    rsps.get(f"{API}/search/jql", json={"issues": [issue("OPS-7", "2026-11-25T08:25:46.000+0000", **fields)]})
    c = connector()
    catalog = c.catalog()
    assert [catalog.find(n).type for n in ("Regions", "Area", "project", "Watchers list", "issuekey")] == [  # type: ignore[union-attr]
        LABELS,
        OPTION,
        OPTION,
        USER,  # array of user: a multi-user picker holds people, read by the field's schema
        TEXT,
    ]
    assert [catalog.find(n).multiple for n in ("Regions", "Watchers list", "Health")] == [True, True, False]  # type: ignore[union-attr]
    assert catalog.find("Health").options == ("Green", "Red")  # type: ignore[union-attr]
    wanted = [catalog.find(n) for n in fields]
    [record] = list(c.pull(wanted))  # type: ignore[arg-type]
    assert record.values == {
        "summary": "Ship it",
        "status": "In Progress",
        "assignee": Person(None, "Ann Lee", "a-9"),
        "duedate": date(2026, 12, 1),
        "project": "OPS",
        "labels": ["a", "b"],
        "customfield_1": "Red",
        "customfield_2": ["EMEA", "APAC"],
        "customfield_3": "Payments / Cards",
        "customfield_4": 3.0,
        "customfield_5": datetime(2026, 11, 25, 8, 25, 46, 500000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        "customfield_6": [Person(None, "Bo", "a-1"), Person(None, "Cy", "a-2")],  # not one person "Bo, Cy"
    }
    assert record.updated == datetime(2026, 11, 25, 8, 25, 46, tzinfo=timezone.utc)
    assert record.url == f"{SITE}/browse/OPS-7"


@pytest.mark.parametrize(
    ("zone", "since", "literal"),
    [
        ("UTC", datetime(2026, 11, 2, 9, 30, 59, tzinfo=timezone.utc), "2026/11/02 09:28"),
        ("Asia/Tokyo", datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc), "2026/11/02 18:28"),
        ("Asia/Tokyo", datetime(2026, 11, 2, 9, 30), "2026/11/02 18:28"),  # naive: taken as UTC
        # 01:30 happens twice in New York that night; the first time, only 00:30 is safely before it.
        ("America/New_York", datetime(2026, 11, 1, 5, 32, tzinfo=timezone.utc), "2026/11/01 00:30"),
        ("America/New_York", datetime(2026, 11, 1, 6, 32, tzinfo=timezone.utc), "2026/11/01 01:30"),
        ("Mars/Olympus_Mons", datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc), "2026/11/01 19:28"),
    ],
)
def test_since_is_written_in_the_users_zone_before_the_overlap(
    rsps: responses.RequestsMock, zone: str, since: datetime, literal: str
) -> None:
    basics(rsps, time_zone=zone)
    c = connector(jql='summary ~ "a \\"quoted\\" word"')
    assert c.jql(Cursor(since, c.overlap).start) == (
        f'(summary ~ "a \\"quoted\\" word") AND updated >= "{literal}" ORDER BY updated ASC, key ASC'
    )


@pytest.mark.parametrize(
    ("date", "jql_calls", "bound"),
    [
        # Jira's clock agrees with ours: 7 whole minutes back reach since - overlap (09:28), no myself.
        ("Mon, 02 Nov 2026 09:35:00 GMT", [], "-7m"),
        # A second of rounding or skew is inside the allowance.
        ("Mon, 02 Nov 2026 09:35:04 GMT", [], "-7m"),
        # Jira's clock is a minute ahead: "-7m" started after 09:28, so the search is asked by date.
        ("Mon, 02 Nov 2026 09:36:00 GMT", ["GET myself"], "2026/11/02 09:28"),
        (None, ["GET myself"], "2026/11/02 09:28"),  # no Date header: nothing proves the window
    ],
)
def test_a_relative_search_is_proven_by_the_answers_date(
    rsps: responses.RequestsMock, date: str | None, jql_calls: list[str], bound: str
) -> None:
    basics(rsps)
    headers = {"Date": date} if date else {}
    rsps.get(f"{API}/search/jql", json=page("OPS-1", is_last=True), headers=headers)
    c = connector()
    since = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
    now = datetime(2026, 11, 2, 9, 35, tzinfo=timezone.utc)
    assert pull_keys(c, since=Cursor(since, c.overlap).start, clock=lambda: now) == ["OPS-1"]
    sent = [query(call)["jql"][0] for call in search_calls(rsps)]
    assert 'updated >= "-7m"' in sent[0]
    assert f'updated >= "{bound}"' in sent[-1]
    assert len(sent) == (2 if jql_calls else 1)
    assert c.calls["GET myself"] == len(jql_calls)


def test_a_context_path_is_kept_in_urls_and_left_out_of_call_names(rsps: responses.RequestsMock) -> None:
    site = "https://corp.example.com/jira"
    basics(rsps, cloud=False, api=f"{site}/rest/api/2")
    rsps.get(f"{site}/rest/api/2/search", json={"startAt": 0, "maxResults": 1000, "total": 1, "issues": [issue("A-1")]})
    c = connector(url=site + "/")
    [record] = list(c.pull([c.catalog().find("status")]))  # type: ignore[list-item]
    assert record.url == f"{site}/browse/A-1" == c.record_url("A-1")
    assert c.calls == {"GET serverInfo": 1, "GET field": 1, "GET search": 1}
    assert c.server().flavor == "datacenter"


# --- the activity stamp (trackerbridge.activity) -----------------------------------------------


def test_the_search_asks_for_the_stamp_property_and_reads_whose_change_was_last(rsps: responses.RequestsMock) -> None:
    """Issue properties come back under `properties` when the search names them (Atlassian, Search for
    issues using JQL enhanced search: `properties` parameter; Issue properties API for the value)."""
    basics(rsps)
    stamp = {"v": 1, "activity": "2026-09-01T08:00:00.000+00:00", "at": "2026-11-01T09:59:58.000+00:00"}
    ours = {**issue("OPS-1", "2026-11-01T10:00:00.000+0000"), "properties": {STAMP_KEY: stamp}}
    later = {**issue("OPS-2", "2026-11-01T10:30:00.000+0000"), "properties": {STAMP_KEY: stamp}}  # a person since
    bare = {**issue("OPS-3"), "properties": {}}
    junk = {**issue("OPS-4"), "properties": {STAMP_KEY: {"at": "not a time"}}}
    rsps.get(f"{API}/search/jql", json={"issues": [ours, later, bare, junk], "isLast": True})
    c = connector()
    records = list(c.pull([c.catalog().find("status")]))  # type: ignore[list-item]
    assert query(search_calls(rsps)[0])["properties"] == [STAMP_KEY]
    assert [(r.key, r.ours, r.stamp) for r in records] == [
        ("OPS-1", True, datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)),
        ("OPS-2", False, datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)),
        ("OPS-3", False, None),
        ("OPS-4", False, None),
    ]


def test_an_edit_carries_the_stamp_in_the_same_put(rsps: responses.RequestsMock) -> None:
    """Edit issue's body takes `properties: [{key, value}]` next to `fields` and `update`."""
    basics(rsps)
    rsps.put(f"{API}/issue/OPS-1", status=204, headers={"Date": "Sun, 01 Nov 2026 10:00:00 GMT"})
    c = connector()
    health = c.catalog().find("Health")
    assert health is not None
    activity = datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)
    change = RecordChange(
        "jira",
        "OPS-1",
        "u",
        [FieldChange(health.id, "Health", "Green", "Red", "health")],
        stamp=True,
        activity=activity,
    )
    [outcome] = c.apply([change], {health.id: health})
    assert outcome.ok, outcome.error
    [put] = [call for call in rsps.calls if call.request.method == "PUT"]
    body = json.loads(put.request.body)
    [prop] = body["properties"]
    assert prop["key"] == STAMP_KEY and prop["value"]["activity"] == "2026-09-01T08:00:00.000+00:00"
    assert datetime.fromisoformat(prop["value"]["at"]) >= datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)
    assert body["fields"] == {health.id: {"value": "Red"}}


def test_a_field_left_out_of_the_answer_is_absent_and_null_fields_unreadable(rsps: responses.RequestsMock) -> None:
    """Search results carry only the fields the caller may see: a requested field hidden by the field
    configuration is missing from `fields`, unlike an empty one (`null`); an issue may even come with
    `"fields": null`. Shapes as in
    https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issue-search/#api-rest-api-2-search-jql-get"""
    basics(rsps)
    hidden = issue("OPS-1", summary="Ship it", duedate=None)  # no "assignee" key at all
    nulled = {"id": "2", "key": "OPS-2", "fields": None}
    rsps.get(f"{API}/search/jql", json={"issues": [hidden, nulled, issue("OPS-3", assignee=None)], "isLast": True})
    c = connector()
    catalog = c.catalog()
    wanted = [catalog.find(n) for n in ("Summary", "Assignee", "Due date")]
    first, second, third = list(c.pull(wanted))  # type: ignore[arg-type]
    assert (first.absent, first.unreadable) == (frozenset({"assignee"}), None)
    assert first.values["duedate"] is None and first.values["summary"] == "Ship it"
    assert second.key == "OPS-2" and second.unreadable == 'Jira answered with "fields": null'
    assert third.absent == frozenset({"summary", "duedate"})  # `"assignee": null` is there, and empty
    assert third.values["assignee"] is None and third.unreadable is None
