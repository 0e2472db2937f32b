"""The emulated Jira, through the real `jira` client over HTTPS, in both flavours."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

import pytest
import requests
from jira import JIRA, JIRAError

from trackerbridge.net import session_for
from trackerbridge.sandbox import Sandbox

FLAVORS = ["cloud", "datacenter"]


@pytest.fixture(params=FLAVORS)
def jira_sandbox(request: pytest.FixtureRequest, sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(jira_flavor=request.param)


def client(sb: Sandbox) -> JIRA:
    info = sb.info
    auth: dict[str, object] = (
        {"basic_auth": (info.jira_email, info.jira_api_token)}
        if info.jira_flavor == "cloud"
        else {"token_auth": info.jira_pat}
    )
    return JIRA(server=info.jira_url, options={"verify": info.ca_bundle, "check_update": False}, max_retries=0, **auth)  # type: ignore[arg-type]


def calls(sb: Sandbox, endpoint_suffix: str, method: str = "GET") -> int:
    return sum(r.method == method and r.endpoint.endswith(endpoint_suffix) for r in sb.accounting.records())


def field_id(jira: JIRA, name: str) -> str:
    return next(f["id"] for f in jira.fields() if f["name"] == name)


def test_server_info_tells_the_client_which_flavour_it_is(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    cloud = jira_sandbox.info.jira_flavor == "cloud"
    assert jira._is_cloud is cloud
    me = jira.myself()
    assert me["emailAddress"] == "trackerbridge-bot@example.com"
    assert ("accountId" in me) is cloud
    assert ("name" in me) is not cloud


def test_fields_list_the_demo_custom_fields_with_clause_names(jira_sandbox: Sandbox) -> None:
    fields = {f["name"]: f for f in client(jira_sandbox).fields()}
    for name in (
        "Integrator",
        "Decision owner",
        "Team",
        "Lane",
        "Learning note",
        "Execution health",
        "Health reasons",
        "Salesforce opportunity id",
    ):
        assert fields[name]["custom"] is True
        assert fields[name]["id"].startswith("customfield_")
        custom_id = fields[name]["schema"]["customId"]
        assert f"cf[{custom_id}]" in fields[name]["clauseNames"]
    assert fields["Integrator"]["schema"]["type"] == "user"
    assert fields["Labels"]["schema"] == {"type": "array", "items": "string", "system": "labels"}


def test_search_pages_through_every_match_with_the_flavours_own_paging(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    expected = sorted(
        (i.key for i in jira_sandbox.jira_data.issues.values() if i.project == "OPS"),
        key=lambda k: int(k.split("-")[1]),
    )
    jira_sandbox.accounting.reset()
    issues = jira.search_issues("project = OPS ORDER BY key ASC", maxResults=False, fields="summary,status")
    assert [i.key for i in issues] == expected
    assert issues[0].fields.status.name
    cloud = jira_sandbox.info.jira_flavor == "cloud"
    endpoint = "/search/jql" if cloud else "/search"
    assert calls(jira_sandbox, endpoint) == math.ceil(len(expected) / 100) > 2  # the client's batch of 100


def test_page_size_caps_follow_the_rest_reference(jira_sandbox: Sandbox) -> None:
    info = jira_sandbox.info
    session = session_for(info.ca_bundle)
    if info.jira_flavor == "cloud":
        session.auth = (info.jira_email, info.jira_api_token)
        url = f"{info.jira_url}/rest/api/2/search/jql"
        bounded = "project in (OPS, DEL)"
        full = session.get(url, params={"jql": bounded, "maxResults": 5000, "fields": "summary"}).json()
        ids = session.get(url, params={"jql": bounded, "maxResults": 5000, "fields": "id"}).json()
        unbounded = session.get(url, params={"jql": "ORDER BY key", "fields": "id"})
        assert unbounded.status_code == 400
        assert unbounded.json()["errorMessages"][0].startswith("Unbounded JQL queries are not allowed")
        assert len(full["issues"]) == 100 and full["isLast"] is False and "nextPageToken" in full
        assert len(ids["issues"]) == len(jira_sandbox.jira_data.issues) and ids["isLast"] is True
        assert set(ids["issues"][0]) == {"expand", "id", "self", "key"}
        removed = session.get(f"{info.jira_url}/rest/api/2/search", params={"jql": ""})
        assert removed.status_code == 410
    else:
        session.headers["Authorization"] = f"Bearer {info.jira_pat}"
        body = session.get(f"{info.jira_url}/rest/api/2/search", params={"jql": "", "maxResults": 5000}).json()
        assert body["maxResults"] == 1000
        assert body["total"] == len(jira_sandbox.jira_data.issues)
        assert session.get(f"{info.jira_url}/rest/api/2/search/jql", params={"jql": ""}).status_code == 404


def test_issue_with_changelog_walks_to_the_current_status(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    issue = jira.issue("OPS-1", expand="changelog")
    histories = issue.changelog.histories
    assert histories, "the demo gives every issue a history"
    status_changes = [item for h in histories for item in h.items if item.field == "status"]
    assert status_changes[-1].toString == issue.fields.status.name


def test_update_fields_and_labels_add_remove_leave_other_labels_alone(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    health = field_id(jira, "Execution health")
    issue = jira.issue("OPS-2")
    before_updated = issue.fields.updated
    others = list(issue.fields.labels)
    jira_sandbox.clock.advance(timedelta(minutes=5))
    issue.update(fields={health: {"value": "Red"}}, notify=False)
    issue.update(update={"labels": [{"add": "health-red"}]}, notify=False)
    issue = jira.issue("OPS-2")
    assert getattr(issue.fields, health).value == "Red"
    assert issue.fields.labels == [*others, "health-red"]
    assert issue.fields.updated != before_updated
    issue.update(update={"labels": [{"remove": "health-red"}]}, notify=False)
    assert jira.issue("OPS-2").fields.labels == others
    assert calls(jira_sandbox, "/issue/{key}", "PUT") == 3
    last = jira.issue("OPS-2", expand="changelog").changelog.histories[-1]
    assert last.items[0].field == "labels"
    assert last.items[0].fromString == " ".join([*others, "health-red"])


def test_bad_edits_are_400s_naming_the_field_and_change_nothing(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    health = field_id(jira, "Execution health")
    issue = jira.issue("OPS-3")
    with pytest.raises(JIRAError) as caught:
        issue.update(fields={health: {"value": "Purple"}, "customfield_99999": "x"})
    assert caught.value.status_code == 400
    errors = caught.value.response.json()["errors"]
    assert errors == {
        health: "Option value 'Purple' is not valid",
        "customfield_99999": "Field 'customfield_99999' cannot be set. It is not on the appropriate screen, "
        "or unknown.",
    }
    assert getattr(jira.issue("OPS-3").fields, health) == getattr(issue.fields, health)


def test_comment_is_added_and_listed(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    comment = jira.add_comment("OPS-4", "Turned red: no owner, no end date.")
    assert comment.author.emailAddress == "trackerbridge-bot@example.com"
    bodies = [c.body for c in jira.comments("OPS-4")]
    assert bodies[-1] == "Turned red: no owner, no end date."


def test_a_comment_rides_in_an_edit_by_the_caller_without_a_changelog_item(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    health = field_id(jira, "Execution health")
    issue = jira_sandbox.jira_data.issues["OPS-5"]
    comments, history, before = len(issue.comments), len(issue.changelog), issue.fields["updated"]
    jira_sandbox.clock.advance(timedelta(minutes=5))

    jira.issue("OPS-5").update(
        fields={health: {"value": "Red"}},
        update={"labels": [{"add": "health-red"}], "comment": [{"add": {"body": "Red."}}]},
    )
    jira.issue("OPS-5").update(update={"comment": [{"add": {"body": "Still red."}}]})  # a comment alone

    assert [c.body for c in jira.comments("OPS-5")][comments:] == ["Red.", "Still red."]
    assert {c.author.emailAddress for c in jira.comments("OPS-5")[comments:]} == {"trackerbridge-bot@example.com"}
    assert len(issue.changelog) == history + 1  # the fields' edit; comments leave no item
    assert {i["fieldId"] for i in issue.changelog[-1].items} == {health, "labels"}
    assert issue.fields["updated"] == jira_sandbox.clock.now() != before


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ([{"add": {"body": "  "}}], "Comment body can not be empty!"),
        ([{"add": {}}], "Comment body can not be empty!"),
        (
            [{"add": {"body": "x" * 32768}}],
            "The entered text is too long. It exceeds the allowed limit of 32767 characters.",
        ),
        ([{"set": "x"}], "Field 'comment' does not support update operation 'set'."),
        (
            [{"add": {"body": "x"}, "remove": {"id": "1"}}],
            "Field 'comment': each operation must be an object with one verb.",
        ),
        ({"add": {"body": "x"}}, "Field 'comment': update operations must be a list."),
    ],
)
def test_a_bad_comment_operation_is_a_400_naming_comment_and_changes_nothing(
    sandbox_factory: Callable[..., Sandbox], comment: object, message: str
) -> None:
    sb = sandbox_factory()
    jira = client(sb)
    health = field_id(jira, "Execution health")
    issue = sb.jira_data.issues["OPS-6"]
    before = (dict(issue.fields), len(issue.comments), len(issue.changelog))

    with pytest.raises(JIRAError) as caught:
        jira.issue("OPS-6").update(fields={health: {"value": "Red"}}, update={"comment": comment})

    assert caught.value.status_code == 400
    assert caught.value.response.json() == {"errorMessages": [], "errors": {"comment": message}}
    assert (dict(issue.fields), len(issue.comments), len(issue.changelog)) == before


def test_transition_records_status_and_resolution_in_the_changelog(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    key = next(
        i.key
        for i in jira_sandbox.jira_data.issues.values()
        if jira_sandbox.jira_data.statuses[i.fields["status"]].name == "In Progress"
    )
    done = next(t for t in jira.transitions(key) if t["name"] == "Done")
    jira.transition_issue(key, done["id"])
    issue = jira.issue(key, expand="changelog")
    assert issue.fields.status.name == "Done"
    assert issue.fields.resolution.name == "Done"
    last = issue.changelog.histories[-1]
    assert [(i.field, i.toString) for i in last.items] == [("status", "Done"), ("resolution", "Done")]


def test_issue_links_show_on_both_issues(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    jira.create_issue_link("Delivers", "OPS-5", "DEL-1")
    outward = [lk for lk in jira.issue("OPS-5").fields.issuelinks if hasattr(lk, "outwardIssue")]
    assert "DEL-1" in [lk.outwardIssue.key for lk in outward]
    inward = [lk for lk in jira.issue("DEL-1").fields.issuelinks if hasattr(lk, "inwardIssue")]
    assert "OPS-5" in [lk.inwardIssue.key for lk in inward]


def test_bad_jql_unknown_issue_and_bad_credentials_fail_as_jira_does(jira_sandbox: Sandbox) -> None:
    jira = client(jira_sandbox)
    with pytest.raises(JIRAError) as bad_jql:
        jira.search_issues("project = OPS AND nosuchfield = 1")
    assert bad_jql.value.status_code == 400
    assert bad_jql.value.response.json()["errorMessages"] == [
        "Field 'nosuchfield' does not exist or you do not have permission to view it."
    ]
    with pytest.raises(JIRAError) as missing:
        jira.issue("OPS-999999")
    assert missing.value.status_code == 404
    info = jira_sandbox.info
    wrong = requests.get(
        f"{info.jira_url}/rest/api/2/myself", auth=(info.jira_email, "wrong-token"), verify=info.ca_bundle
    )
    assert wrong.status_code == 401
    assert wrong.json()["errorMessages"] == ["Client must be authenticated to access this resource."]


# --- administration: creating custom fields (POST field, Cloud contexts and options) ---------------

CFT = "com.atlassian.jira.plugin.system.customfieldtypes:"


def admin_session(sb: Sandbox, login: str | None = None) -> requests.Session:
    """A session as the bot (the sandbox's only administrator), or as `login` with the shared token."""
    info = sb.info
    session = session_for(info.ca_bundle)
    if login is not None:
        session.auth = (login, info.jira_api_token)
    elif info.jira_flavor == "cloud":
        session.auth = (info.jira_email, info.jira_api_token)
    else:
        session.headers["Authorization"] = f"Bearer {info.jira_pat}"
    return session


def test_post_field_creates_a_custom_field_with_the_next_id(jira_sandbox: Sandbox) -> None:
    api = f"{jira_sandbox.info.jira_url}/rest/api/2"
    before = max(f.custom_id or 0 for f in jira_sandbox.jira_data.fields.values())
    body = {"name": "Delivery health", "type": CFT + "select", "searcherKey": CFT + "multiselectsearcher"}
    response = admin_session(jira_sandbox).post(f"{api}/field", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"] == f"customfield_{before + 1}"
    assert created["schema"] == {"type": "option", "custom": CFT + "select", "customId": before + 1}
    assert jira_sandbox.jira_data.fields[created["id"]].name == "Delivery health"
    names = [f["name"] for f in client(jira_sandbox).fields()]
    assert "Delivery health" in names
    again = admin_session(jira_sandbox).post(f"{api}/field", json=body)  # Jira allows duplicate names
    assert again.status_code == 201 and again.json()["id"] == f"customfield_{before + 2}"


def test_post_field_rejects_unknown_types_bad_searchers_empty_names_and_non_admins(jira_sandbox: Sandbox) -> None:
    api = f"{jira_sandbox.info.jira_url}/rest/api/2"
    count = len(jira_sandbox.jira_data.fields)
    session = admin_session(jira_sandbox)
    bad_type = session.post(f"{api}/field", json={"name": "X", "type": CFT + "nosuchtype"})
    assert bad_type.status_code == 400 and "customFieldType" in bad_type.json()["errors"]
    bad_searcher = session.post(
        f"{api}/field", json={"name": "X", "type": CFT + "textarea", "searcherKey": CFT + "daterange"}
    )
    assert bad_searcher.status_code == 400 and "searcherKey" in bad_searcher.json()["errors"]
    no_name = session.post(f"{api}/field", json={"name": " ", "type": CFT + "textarea"})
    assert no_name.status_code == 400 and "name" in no_name.json()["errors"]
    cloud = jira_sandbox.info.jira_flavor == "cloud"
    bot = jira_sandbox.info.jira_email
    person = next(u for u in jira_sandbox.jira_data.users.values() if u.active and u.email != bot)
    as_person = admin_session(jira_sandbox, person.email if cloud else person.name)
    denied = as_person.post(f"{api}/field", json={"name": "X", "type": CFT + "textarea"})
    assert denied.status_code == 403
    assert len(jira_sandbox.jira_data.fields) == count


def test_cloud_contexts_and_options_give_a_select_field_its_values(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(jira_flavor="cloud")
    api = f"{sb.info.jira_url}/rest/api/2"
    session = admin_session(sb)
    fid = session.post(f"{api}/field", json={"name": "Delivery health", "type": CFT + "select"}).json()["id"]
    assert session.get(f"{api}/field/{fid}/context").json()["values"] == []
    made = session.post(f"{api}/field/{fid}/context", json={"name": "Default", "projectIds": [], "issueTypeIds": []})
    assert made.status_code == 201
    context = made.json()["id"]
    assert [c["id"] for c in session.get(f"{api}/field/{fid}/context").json()["values"]] == [context]
    options = {"options": [{"value": "Green"}, {"value": "Amber"}, {"value": "Red"}]}
    added = session.post(f"{api}/field/{fid}/context/{context}/option", json=options)
    assert added.status_code == 200, added.text
    assert [o["value"] for o in added.json()["options"]] == ["Green", "Amber", "Red"]
    assert sb.jira_data.fields[fid].allowed_values == ("Green", "Amber", "Red")
    duplicate = session.post(f"{api}/field/{fid}/context/{context}/option", json={"options": [{"value": "green"}]})
    assert duplicate.status_code == 400
    assert session.post(f"{api}/field/{fid}/context/99999/option", json=options).status_code == 404
    assert session.post(f"{api}/field/customfield_1/context", json={"name": "x"}).status_code == 404
    jira = client(sb)
    key = next(iter(sb.jira_data.issues))
    jira.issue(key).update(fields={fid: {"value": "Amber"}})  # the new options are settable at once
    assert sb.jira_data.issues[key].fields[fid] == "Amber"


def test_data_center_has_no_context_or_option_endpoints(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(jira_flavor="datacenter")
    api = f"{sb.info.jira_url}/rest/api/2"
    session = admin_session(sb)
    fid = session.post(f"{api}/field", json={"name": "Delivery health", "type": CFT + "select"}).json()["id"]
    assert session.post(f"{api}/field/{fid}/context", json={"name": "Default"}).status_code == 404


def test_cloud_answers_the_v3_paths_with_rich_text_as_adf(sandbox: Sandbox) -> None:
    """Atlassian's current Cloud documentation uses v3: serverInfo and myself answer as in v2, and search/jql
    gives textarea fields as Atlassian Document Format documents."""
    info = sandbox.info
    http = requests.Session()
    http.auth, http.verify = (info.jira_email, info.jira_api_token), info.ca_bundle
    http.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`

    def get(version: str, path: str, **params: object) -> dict:
        response = http.get(f"{info.jira_url}/rest/api/{version}/{path}", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    assert get("3", "serverInfo")["deploymentType"] == "Cloud"
    assert get("3", "myself")["emailAddress"] == get("2", "myself")["emailAddress"] == info.jira_email
    key, issue = next((k, i) for k, i in sandbox.jira_data.issues.items() if i.fields.get("description"))
    issue.fields["description"] = "first line\n\nthird line"
    v2 = get("2", "search/jql", jql=f"key = {key}", fields="summary,description")["issues"][0]["fields"]
    v3 = get("3", "search/jql", jql=f"key = {key}", fields="summary,description")["issues"][0]["fields"]
    assert v2["description"] == "first line\n\nthird line" and v3["summary"] == v2["summary"]
    assert v3["description"] == {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "first line"}]},
            {"type": "paragraph", "content": []},
            {"type": "paragraph", "content": [{"type": "text", "text": "third line"}]},
        ],
    }
    post = http.post(
        f"{info.jira_url}/rest/api/3/search/jql", json={"jql": f"key = {key}", "fields": ["description"]}, timeout=10
    )
    assert post.json()["issues"][0]["fields"]["description"] == v3["description"]


def test_data_center_has_no_v3(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(jira_flavor="datacenter", size=20)
    response = requests.get(
        f"{sb.info.jira_url}/rest/api/3/serverInfo",
        verify=sb.info.ca_bundle,
        timeout=10,
        headers={"Authorization": f"Bearer {sb.info.jira_pat}"},
    )
    assert response.status_code == 404
