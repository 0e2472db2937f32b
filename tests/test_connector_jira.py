"""The Jira connector against the sandbox, in both flavours, through the real `jira` client over HTTPS."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from jira import JIRA

from trackerbridge.config.connection import Connection, Secret
from trackerbridge.config.models import JiraConnector as JiraConnectorFile
from trackerbridge.connectors.base import (
    COMMENTS,
    DATE,
    DATETIME,
    LABELS,
    NUMBER,
    OPTION,
    TEXT,
    USER,
    AuthError,
    ConnectorError,
)
from trackerbridge.connectors.http import retry_policy
from trackerbridge.connectors.jira import OVERLAP, JiraConnector
from trackerbridge.cursor import Cursor
from trackerbridge.model import Comment, Person
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.jira_model import JiraUser
from trackerbridge.sandbox.pytest_plugin import TEST_NOW
from trackerbridge.sandbox.runner import SandboxConfig

SCOPE = "project in (OPS, DEL)"
FAST = retry_policy(attempts=6, backoff=0.001, cap=0.01)
SAMPLE = ("assignee", "duedate", "status", "labels", "Integrator", "Team", "Execution health", "Scorecard measures")


@pytest.fixture(scope="module", params=["cloud", "datacenter"])
def shared(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """One sandbox per flavour for the tests that only read (stopping a sandbox takes ~0.5 s)."""
    with Sandbox(SandboxConfig(jira_flavor=request.param, clock=TEST_NOW)) as sb:
        yield sb


@pytest.fixture(params=["cloud", "datacenter"])
def jira_sb(request: pytest.FixtureRequest, sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A sandbox of its own, for tests that edit or inject faults."""
    return sandbox_factory(jira_flavor=request.param)


def connection(
    sb: Sandbox,
    *,
    jql: str = SCOPE,
    flavor: str = "auto",
    person: JiraUser | None = None,
    token: str | None = None,
    ca_bundle: str | None = "sandbox",
) -> Connection:
    """The bot by default (API token on Cloud, PAT on Data Center); `person` signs in as a demo user."""
    info = sb.info
    bundle = info.ca_bundle if ca_bundle == "sandbox" else ca_bundle
    if person is not None and info.jira_flavor == "datacenter":
        auth = {"method": "basic", "username_env": "TB_JIRA_USER", "password_env": "TB_JIRA_PASSWORD"}
        creds = {
            "username": Secret(person.name, "TB_JIRA_USER"),
            "password": Secret(token or info.jira_api_token, "TB_JIRA_PASSWORD"),
        }
    elif info.jira_flavor == "cloud":
        auth = {"method": "api_token", "email_env": "TB_JIRA_EMAIL", "token_env": "TB_JIRA_TOKEN"}
        email = person.email if person else info.jira_email
        creds = {
            "email": Secret(email, "TB_JIRA_EMAIL"),
            "token": Secret(token or info.jira_api_token, "TB_JIRA_TOKEN"),
        }
    else:
        auth = {"method": "pat", "token_env": "TB_JIRA_PAT"}
        creds = {"token": Secret(token or info.jira_pat, "TB_JIRA_PAT")}
    file = JiraConnectorFile(
        type="jira", url=info.jira_url, mapping="jira", auth=auth, scope={"jql": jql}, flavor=flavor, ca_bundle=bundle
    )
    return Connection(
        name="sandbox-jira",
        type="jira",
        url=info.jira_url,
        auth_method=auth["method"],
        credentials=creds,
        scope=file.scope,
        file=file,
        ca_bundle=bundle,
        timeout=10,
    )


def connector(sb: Sandbox, **options: Any) -> JiraConnector:
    page_size = options.pop("page_size", None)
    return JiraConnector(connection(sb, **options), retry=FAST, page_size=page_size)


def person_in(sb: Sandbox, time_zone: str | None = None) -> JiraUser:
    """A demo user other than the bot (in `time_zone` if given)."""
    return next(
        u
        for u in sb.jira_data.users.values()
        if u.active and u.email != sb.info.jira_email and (time_zone is None or u.time_zone == time_zone)
    )


def as_person(sb: Sandbox, user: JiraUser) -> JIRA:
    """The real client, signed in as a person (basic auth with the sandbox's shared token)."""
    info = sb.info
    login = user.email if info.jira_flavor == "cloud" else user.name
    return JIRA(
        server=info.jira_url,
        options={"verify": info.ca_bundle, "check_update": False},
        basic_auth=(login, info.jira_api_token),
        max_retries=0,
    )


def expected_person(sb: Sandbox, account_id: str | None) -> Person | None:
    if account_id is None:
        return None
    u = sb.jira_data.users[account_id]
    return Person(u.email, u.display_name, u.account_id if sb.info.jira_flavor == "cloud" else u.name)


def in_scope(sb: Sandbox) -> list[str]:
    return [i.key for i in sb.jira_data.issues.values() if i.project in ("OPS", "DEL")]


def searches(sb: Sandbox) -> int:
    endpoint = "/search/jql" if sb.info.jira_flavor == "cloud" else "/search"
    return sum(r.endpoint.endswith(endpoint) for r in sb.accounting.records())


def sent(sb: Sandbox) -> Counter[str]:
    """The sandbox's own count of requests, keyed like `Connector.calls` (drops have no route)."""
    return Counter(
        f"{r.method} {r.path.removeprefix('/rest/api/2/')}" for r in sb.accounting.records() if r.status != 0
    )


def field_ids(c: JiraConnector, names: Sequence[str]) -> list[Any]:
    catalog = c.catalog()
    found = [catalog.find(n) for n in names]
    assert all(found), names
    return found


def minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


# --- server and catalog ---------------------------------------------------------------------------


def test_server_says_flavour_user_and_time_zone(shared: Sandbox) -> None:
    bot = shared.jira_data.user_for(shared.info.jira_email)
    assert bot is not None
    info = connector(shared).server()
    assert (info.system, info.flavor, info.url) == ("jira", shared.info.jira_flavor, shared.info.jira_url)
    assert (info.user, info.user_email, info.time_zone) == (bot.display_name, bot.email, "UTC")
    assert info.version == ("9.12.15" if shared.info.jira_flavor == "datacenter" else "1001.0.0-SNAPSHOT")
    # A person signs in with the API token on Cloud and username/password on Data Center.
    someone = person_in(shared, "Asia/Tokyo")
    theirs = connector(shared, person=someone).server()
    assert (theirs.user, theirs.user_email, theirs.time_zone) == (someone.display_name, someone.email, "Asia/Tokyo")


def test_catalog_normalises_types_once(shared: Sandbox) -> None:
    c = connector(shared)
    catalog = c.catalog()
    integrator, health = catalog.find("Integrator"), catalog.find("Execution health")
    assert integrator is not None and integrator.type == USER and integrator.updateable
    assert integrator.id.startswith("customfield_")
    assert health is not None and health.type == OPTION and health.updateable
    assert health.native_type == "com.atlassian.jira.plugin.system.customfieldtypes:select"
    names = ("duedate", "created", "labels", "status", "Scorecard measures", "summary")
    kinds = {f: catalog.find(f).type for f in names}  # type: ignore[union-attr]
    assert kinds == {
        "duedate": DATE,
        "created": DATETIME,
        "labels": LABELS,
        "status": OPTION,
        "Scorecard measures": NUMBER,
        "summary": TEXT,
    }
    assert not catalog.find("created").updateable and not catalog.find("status").updateable  # type: ignore[union-attr]
    assert c.catalog() is catalog
    assert c.calls["GET field"] == 1


# --- pulling --------------------------------------------------------------------------------------


def test_full_pull_matches_the_emulator_page_by_page(shared: Sandbox) -> None:
    c = connector(shared)
    c.fetch.enabled = False  # the single pass, page by page (the two-phase read: tests/test_jira_bulkfetch.py)
    fields = field_ids(c, SAMPLE)
    ids = {f.name: f.id for f in fields}
    shared.accounting.reset()
    records = list(c.pull(fields))

    data = shared.jira_data
    assert sorted(r.key for r in records) == sorted(in_scope(shared))
    for r in records:
        issue = data.issues[r.key]
        f = issue.fields
        assert r.url == f"{shared.info.jira_url}/browse/{r.key}"
        assert r.updated == f["updated"]
        assert r.history == []
        assert r.values == {
            "assignee": expected_person(shared, f["assignee"]),
            "duedate": date.fromisoformat(f["duedate"]) if f["duedate"] else None,
            "status": data.statuses[f["status"]].name,
            "labels": list(f["labels"]),
            ids["Integrator"]: expected_person(shared, f[ids["Integrator"]]),
            ids["Team"]: f[ids["Team"]],
            ids["Execution health"]: f[ids["Execution health"]],
            ids["Scorecard measures"]: f[ids["Scorecard measures"]],
        }
        health_values = data.fields[ids["Execution health"]].allowed_values
        assert r.values[ids["Execution health"]] in (None, *health_values)
    assert any(r.values[ids["Integrator"]] for r in records) and any(r.values["labels"] for r in records)
    stamps = [r.updated for r in records]
    assert stamps == sorted(stamps)  # ORDER BY updated ASC: the watermark only moves forward

    page = 100 if shared.info.jira_flavor == "cloud" else 1000
    assert searches(shared) == math.ceil(len(records) / page)
    assert +c.calls == sent(shared) + Counter({"GET serverInfo": 1, "GET field": 1})


def test_incremental_pull_returns_the_edits_and_misses_nothing_at_minute_or_page_edges(jira_sb: Sandbox) -> None:
    c = connector(jira_sb)
    fields = field_ids(c, ("status", "Execution health"))
    health = fields[1].id
    watermark = max(r.updated for r in c.pull(fields) if r.updated)

    editor = person_in(jira_sb, "America/New_York")  # JQL dates are the bot's zone (UTC), not the editor's
    client = as_person(jira_sb, editor)
    jira_sb.clock.advance(timedelta(minutes=5))
    edited = ["OPS-3", "DEL-7", "OPS-150"]
    for key in edited:
        client.issue(key).update(fields={health: {"value": "Red"}}, notify=False)

    def changed_since(when: datetime) -> set[str]:
        start = minute(when - OVERLAP)
        return {k for k in in_scope(jira_sb) if jira_sb.jira_data.issues[k].fields["updated"] >= start}

    records = list(c.pull(fields, since=Cursor(watermark, c.overlap).start, history=True))
    assert set(edited) <= {r.key for r in records}
    assert {r.key for r in records} == changed_since(watermark)  # the overlap, and nothing else
    for r in records:
        if r.key in edited:
            assert r.values[health] == "Red"
            assert r.history[-1]["author"].email == editor.email
            assert r.history[-1]["items"][0]["toString"] == "Red"

    # Another edit in the same minute as the new watermark, read in pages of 2 with tied stamps.
    watermark = max(r.updated for r in records if r.updated)
    jira_sb.clock.advance(timedelta(seconds=20))
    assert minute(jira_sb.clock.now()) == minute(watermark)
    client.issue("DEL-9").update(fields={health: {"value": "Amber"}}, notify=False)
    paged = connector(jira_sb, page_size=2)
    again = list(paged.pull(fields, since=Cursor(watermark, paged.overlap).start))
    assert {r.key for r in again} == {*edited, "DEL-9"} == changed_since(watermark)
    assert len(again) == 4  # each record once: the page overlap of offset paging is not repeated
    start = Cursor(watermark, paged.overlap).start
    assert paged.jql(start).endswith(' AND updated >= "2026/11/02 09:33" ORDER BY updated ASC, key ASC')


def test_data_center_paging_steps_back_when_an_edit_moves_a_read_issue(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(jira_flavor="datacenter")
    c = connector(sb, page_size=50)
    fields = field_ids(c, ("status",))
    stream = c.pull(fields)
    first = [next(stream) for _ in range(50)]  # the first page
    sb.clock.advance(timedelta(minutes=1))
    as_person(sb, person_in(sb)).add_comment(first[0].key, "moves to the end of the updated order")
    rest = list(stream)
    keys = [r.key for r in first + rest]
    assert set(keys) == set(in_scope(sb))  # a plain offset would skip the record that slid into row 49
    assert keys.count(first[0].key) == 2 and rest[-1].key == first[0].key
    assert rest[-1].updated == sb.clock.now()
    # The first page, the one that found the shift, then pages from row 48 on, overlapping by one row.
    assert c.calls["GET search"] == 1 + 1 + len(range(48, 400 - 1, 49))


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_pull_survives_rate_limits_errors_and_drops(sandbox_factory: Callable[..., Sandbox], flavor: str) -> None:
    sb = sandbox_factory(
        jira_flavor=flavor, faults="rate-limit:every=4,retry_after=0;error:every=7,status=503;drop:every=11"
    )
    c = connector(sb, page_size=50)
    records = list(c.pull(field_ids(c, ("status", "assignee"))))
    assert sorted(r.key for r in records) == sorted(in_scope(sb))
    statuses = Counter(r.status for r in sb.accounting.records())
    assert statuses[429] and statuses[503] and statuses[0]  # every fault kind happened
    assert sum(c.calls.values()) == len(sb.accounting.records())  # each attempt counted, retries included
    assert sum(c.dropped.values()) == statuses[0]


# --- failures -------------------------------------------------------------------------------------


def test_bad_credentials_name_the_variable_and_never_the_secret(shared: Sandbox) -> None:
    secret = "wrong-token-7f3a9c"
    c = connector(shared, token=secret)
    with pytest.raises(AuthError) as caught:
        c.server()
    message = str(caught.value)
    variable = "$TB_JIRA_EMAIL / $TB_JIRA_TOKEN" if shared.info.jira_flavor == "cloud" else "$TB_JIRA_PAT"
    assert message == f"jira 'sandbox-jira': the server rejected the credentials from {variable} (401)"
    assert secret not in message and caught.value.__suppress_context__  # no chained JIRAError with headers


def test_bad_jql_in_the_scope_reports_jiras_message(shared: Sandbox) -> None:
    c = connector(shared, jql="project = OPS AND nosuchfield = 1")
    with pytest.raises(ConnectorError) as caught:
        list(c.pull(field_ids(c, ("status",))))
    assert str(caught.value) == (
        "jira 'sandbox-jira': the scope's JQL was rejected: "
        "Field 'nosuchfield' does not exist or you do not have permission to view it.; "
        "fix scope.jql in connectors/sandbox-jira.yaml"
    )
    assert caught.value.exit_code == 2


def test_configured_flavour_that_contradicts_the_server_is_an_error(shared: Sandbox) -> None:
    wrong = "datacenter" if shared.info.jira_flavor == "cloud" else "cloud"
    with pytest.raises(ConnectorError, match=f"says flavor: {wrong}, but .* reports deploymentType"):
        connector(shared, flavor=wrong).server()


def test_server_info_without_deployment_type_takes_the_flavour_from_the_file(jira_sb: Sandbox) -> None:
    """serverInfo's deploymentType is optional in the reference
    (https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-server-info/#api-rest-api-2-serverinfo-get):
    without it, `flavor:` in the connector file decides how to search, rather than a guess."""
    sb = jira_sb
    sb.jira.hide_deployment_type = True
    flavor = sb.info.jira_flavor
    c = connector(sb, flavor=flavor)
    assert c.server().flavor == flavor
    assert len(list(c.pull([c.catalog().find("status")]))) > 0  # type: ignore[list-item]
    assert searches(sb) >= 1  # the flavour's own search: Cloud's search/jql, Data Center's search
    assert connector(sb).server().flavor == "datacenter"  # auto with nothing said: the older default


def test_untrusted_certificate_points_at_the_ca_bundle_option(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(ConnectorError, match=r"TLS verification of 127\.0\.0\.1:\d+ failed .* set ca_bundle"):
        connector(sandbox, ca_bundle=None).server()


# --- history --------------------------------------------------------------------------------------


def test_history_is_the_changelog_oldest_first_and_only_when_asked(shared: Sandbox) -> None:
    c = connector(shared, jql="key = OPS-1")
    fields = field_ids(c, ("status",))
    [plain] = list(c.pull(fields))
    [record] = list(c.pull(fields, history=True))
    assert plain.history == []
    expected = [
        {
            "created": h.created,
            "author": expected_person(shared, h.author),
            "items": [{k: i.get(k) for k in ("field", "from", "to", "fromString", "toString")} for i in h.items],
        }
        for h in shared.jira_data.issues["OPS-1"].changelog
    ]
    assert record.history == expected
    assert record.history[-1]["items"][0]["toString"] == record.values["status"]
    assert all(isinstance(h["created"], datetime) and h["created"].tzinfo == timezone.utc for h in record.history)


def test_a_created_field_is_in_the_next_catalog_even_after_reusing_discovery(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(size=20)
    earlier = connector(sb)
    earlier.catalog()
    saved = earlier.discovery()
    c = connector(sb)
    assert c.reuse(saved)
    assert c.catalog().find("Programme risk") is None
    c.create_field("Programme risk", "text")
    assert c.catalog().find("Programme risk") is not None
    assert c.calls["GET field"] == 1  # the kept list is dropped with the catalog, and asked again


def test_the_comment_field_reads_as_comments_oldest_first_with_their_authors(jira_sb: Sandbox) -> None:
    c = connector(jira_sb, jql="key = OPS-2")
    catalog = c.catalog()
    comment = catalog.find("comment")
    assert comment is not None and comment.type == COMMENTS and not comment.updateable
    user = person_in(jira_sb)
    people = as_person(jira_sb, user)
    people.add_comment("OPS-2", "slip: the vendor is late")
    people.add_comment("OPS-2", "second thought")
    [record] = list(c.pull([comment]))
    said = record.values[comment.id]
    assert [s.text for s in said] == [c.body for c in jira_sb.jira_data.issues["OPS-2"].comments]
    assert [s.text for s in said][-2:] == ["slip: the vendor is late", "second thought"]
    assert all(isinstance(s, Comment) and s.at.tzinfo is not None for s in said)
    assert [s.at for s in said] == sorted(s.at for s in said)
    assert said[-1].author == expected_person(jira_sb, user.account_id)
    [plain] = list(c.pull(field_ids(c, ("status",))))
    assert "comment" not in plain.values  # not navigable: asked for by id only
