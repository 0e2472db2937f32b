"""The Salesforce connector against the sandbox org, through the real simple-salesforce client over HTTPS."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import certifi
import pytest
from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql

from trackerbridge.config.connection import Connection, Secret
from trackerbridge.config.models import SalesforceConnector as SalesforceFile
from trackerbridge.connectors.base import (
    BOOLEAN,
    DATE,
    NUMBER,
    OPTION,
    REFERENCE,
    USER,
    AuthError,
    ConnectorError,
    FieldInfo,
    QuotaExceeded,
)
from trackerbridge.connectors.http import retry_policy
from trackerbridge.connectors.salesforce import SalesforceConnector
from trackerbridge.model import Person
from trackerbridge.net import session_for
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.bot import BOT_EMAIL
from trackerbridge.sandbox.pytest_plugin import TEST_NOW
from trackerbridge.sandbox.runner import SandboxConfig

ENV = {
    "token": "TB_SF_TOKEN",
    "username": "TB_SF_USERNAME",
    "password": "TB_SF_PASSWORD",
    "security_token": "TB_SF_SECURITY_TOKEN",
    "client_id": "TB_SF_CLIENT_ID",
    "client_secret": "TB_SF_CLIENT_SECRET",
}
SAMPLE = ("OwnerId", "CloseDate", "StageName", "Jira_Epic_Key__c", "Delivery_Owner__c")


@pytest.fixture(scope="module")
def org() -> Iterator[Sandbox]:
    """One sandbox for the tests that only read (and count their own calls): stopping one takes 0.5 s."""
    with Sandbox(SandboxConfig(clock=TEST_NOW)) as sb:
        yield sb


def connection(
    sb: Sandbox,
    method: str = "access_token",
    *,
    where: str | None = None,
    sobject: str = "Opportunity",
    url: str | None = None,
    ca_bundle: str | None = None,
    **overrides: str,
) -> Connection:
    """A resolved connection to the sandbox, as config would build it from a connector file."""
    info = sb.info
    values = {
        "token": info.salesforce_token,
        "username": info.salesforce_username,
        "password": info.salesforce_password,
        "security_token": info.salesforce_security_token,
        "client_id": info.salesforce_client_id,
        "client_secret": info.salesforce_client_secret,
        **overrides,
    }
    roles = {
        "access_token": ("token",),
        "password": ("username", "password", "security_token", "client_id", "client_secret"),
        "jwt": ("username", "client_id"),
    }[method]
    auth: dict[str, Any] = {"method": method, **{f"{role}_env": ENV[role] for role in roles}}
    if method == "jwt":
        auth["key_file"] = info.salesforce_jwt_key
    file = SalesforceFile.model_validate(
        {
            "type": "salesforce",
            "url": url or info.salesforce_url,
            "mapping": "demo-salesforce",
            "auth": auth,
            "scope": {"object": sobject, "where": where},
        }
    )
    return Connection(
        name="sandbox-salesforce",
        type="salesforce",
        url=url or info.salesforce_url,
        auth_method=method,
        credentials={role: Secret(values[role], ENV[role]) for role in roles},
        scope=file.scope,
        file=file,
        ca_bundle=info.ca_bundle if ca_bundle is None else ca_bundle,
        timeout=10,
        login_url=info.salesforce_url if method != "access_token" else None,
        key_file=info.salesforce_jwt_key if method == "jwt" else None,
    )


def connector(sb: Sandbox, method: str = "access_token", **kwargs: Any) -> SalesforceConnector:
    return SalesforceConnector(
        connection(sb, method, **kwargs), retry=retry_policy(attempts=4, backoff=0.01, cap=0.05), now=sb.clock.now
    )


def client(sb: Sandbox) -> Salesforce:
    """A separate simple-salesforce client: a person editing records while trackerbridge reads."""
    info = sb.info
    return Salesforce(
        session_id=info.salesforce_token, instance_url=info.salesforce_url, session=session_for(info.ca_bundle)
    )


def fields(c: SalesforceConnector, *names: str) -> list[FieldInfo]:
    catalog = c.catalog()
    found = [catalog.find(name) for name in names]
    assert all(found), names
    return [f for f in found if f is not None]


def requests_to(sb: Sandbox, route_suffix: str) -> int:
    return sum(r.endpoint.endswith(route_suffix) for r in sb.accounting.records())


# --- sign-in and who am I ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["access_token", "password", "jwt"])
def test_every_auth_method_signs_in_and_reads(org: Sandbox, method: str) -> None:
    c = connector(org, method)
    info = c.server()
    assert (info.system, info.flavor, info.version) == ("salesforce", "salesforce", "59.0")
    assert info.url == org.url
    assert info.user_email == BOT_EMAIL
    assert len(list(c.pull(fields(c, "StageName")))) == len(org.salesforce_data.records["Opportunity"])
    assert c.calls["POST oauth2/token"] == (0 if method == "access_token" else 1)


def test_server_reports_the_signed_in_user_from_userinfo(org: Sandbox) -> None:
    bot = next(u for u in org.salesforce_data.records["User"].values() if u["Email"] == BOT_EMAIL)
    c = connector(org)
    metered = org.salesforce.api_requests_used
    info = c.server()
    assert (info.user, info.user_email, info.time_zone) == (bot["Name"], BOT_EMAIL, "GMT")
    assert dict(c.calls) == {"GET oauth2/userinfo": 1}
    assert org.salesforce.api_requests_used == metered  # identity calls are not metered


def test_wrong_password_is_an_auth_error_naming_the_variables(org: Sandbox) -> None:
    c = connector(org, "password", password="Hunter2-wrong")
    with pytest.raises(AuthError) as caught:
        c.server()
    message = str(caught.value)
    assert "invalid_grant: authentication failure" in message
    assert "$TB_SF_USERNAME" in message and "$TB_SF_PASSWORD" in message and "$TB_SF_SECURITY_TOKEN" in message
    assert "Hunter2-wrong" not in message and org.info.salesforce_security_token not in message
    assert dict(c.calls) == {"POST oauth2/token": 1}  # a POST is never repeated


def test_bad_token_is_an_auth_error_naming_the_variable_not_the_value(org: Sandbox) -> None:
    token = "00Dsandbox!stolen-or-expired-token"
    c = connector(org, token=token)
    with pytest.raises(AuthError) as caught:
        c.catalog()
    assert str(caught.value) == "the access token from $TB_SF_TOKEN was rejected (INVALID_SESSION_ID)"
    with pytest.raises(AuthError) as again:
        c.server()
    assert "$TB_SF_TOKEN" in str(again.value) and token not in str(again.value)
    assert dict(c.calls) == {"GET sobjects/Opportunity/describe": 1, "GET oauth2/userinfo": 1}


def test_tls_failure_mentions_the_ca_bundle(org: Sandbox) -> None:
    c = connector(org, ca_bundle=certifi.where())
    with pytest.raises(ConnectorError, match="CA bundle") as caught:
        c.catalog()
    assert org.url.removeprefix("https://") in str(caught.value)


def test_unreachable_org_names_the_host(org: Sandbox) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    c = connector(org, url=f"https://127.0.0.1:{port}")
    with pytest.raises(ConnectorError, match=f"cannot reach Salesforce at 127.0.0.1:{port}"):
        c.server()
    assert sum(c.calls.values()) == 0  # nothing was ever sent


# --- catalog ----------------------------------------------------------------------------------


def test_catalog_normalises_describe(org: Sandbox) -> None:
    c = connector(org)
    catalog = c.catalog()
    by_id = {f.id: f for f in catalog.fields}
    assert by_id["Delivery_Owner__c"].type == USER
    assert by_id["OwnerId"].type == USER
    assert by_id["AccountId"].type == REFERENCE
    health = by_id["Execution_Health__c"]
    assert (health.type, health.options, health.name, health.updateable) == (
        OPTION,
        ("Green", "Amber", "Red"),
        "Execution Health",
        True,
    )
    assert (by_id["CloseDate"].type, by_id["CloseDate"].native_type) == (DATE, "date")
    assert (by_id["IsWon"].type, by_id["IsWon"].updateable) == (BOOLEAN, False)
    assert by_id["Amount"].type == NUMBER
    assert catalog.find("Execution Health") is health
    c.catalog()
    assert dict(c.calls) == {"GET sobjects/Opportunity/describe": 1}


def test_unknown_scope_object_is_a_connector_error(org: Sandbox) -> None:
    c = connector(org, sobject="Foo")
    with pytest.raises(ConnectorError, match="sObject type 'Foo' is not supported"):
        c.catalog()


def test_unknown_field_suggests_a_close_one(org: Sandbox) -> None:
    c = connector(org)
    with pytest.raises(ConnectorError, match="did you mean 'StageName'"):
        c.pull([FieldInfo(id="StageNam", name="Stage", type=OPTION)])
    assert "GET query" not in c.calls


# --- pull -------------------------------------------------------------------------------------


def test_full_pull_matches_the_org(org: Sandbox) -> None:
    c = connector(org)
    records = list(c.pull(fields(c, *SAMPLE)))
    data = org.salesforce_data.records
    assert {r.key for r in records} == set(data["Opportunity"])
    assert [r.updated for r in records] == sorted(r.updated for r in records if r.updated)
    for record in records:
        row = data["Opportunity"][record.key]
        owner = data["User"][row["OwnerId"]]
        assert record.values["OwnerId"] == Person(email=owner["Email"], name=owner["Name"], ref=row["OwnerId"])
        assert record.values["CloseDate"] == row["CloseDate"]
        assert record.values["StageName"] == row["StageName"]
        assert record.values["Jira_Epic_Key__c"] == row["Jira_Epic_Key__c"]
        delivery = record.values["Delivery_Owner__c"]
        if row["Delivery_Owner__c"] is None:
            assert delivery is None
        else:
            assert delivery.email == data["User"][row["Delivery_Owner__c"]]["Email"]
        assert record.updated == row["SystemModstamp"]
        assert record.url == f"{org.url}/lightning/r/Opportunity/{record.key}/view"
        assert record.history == []
    assert any(r.values["Delivery_Owner__c"] is None for r in records)  # the demo's gaps came through
    assert c.record_url(records[0].key) == records[0].url


def test_large_pull_pages_by_2000_lazily(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size=4000)
    c = connector(sb)
    wanted = fields(c, "StageName", "OwnerId")
    assert len(sb.salesforce_data.records["Opportunity"]) == 2500
    sb.accounting.reset()
    rows = c.pull(wanted)
    first = next(rows)
    assert (c.calls["GET query"], c.calls["GET queryMore"]) == (1, 0)  # one page in hand, not all of them
    rest = list(rows)
    assert len(rest) + 1 == 2500 and first.key not in {r.key for r in rest}
    assert requests_to(sb, "/query") == 1
    assert requests_to(sb, "/query/{locator}") == 1  # ceil(2500 / 2000) = 2 calls in all
    assert (c.calls["GET query"], c.calls["GET queryMore"]) == (1, 1)


def test_incremental_pull_returns_what_changed_since_the_watermark(sandbox: Sandbox) -> None:
    c = connector(sandbox)
    wanted = fields(c, "Execution_Health__c", "StageName")
    before = list(c.pull(wanted))
    watermark = max(r.updated for r in before if r.updated)
    sandbox.clock.advance(timedelta(minutes=5))
    changed = [r.key for r in before[:3]]
    sf = client(sandbox)
    for key in changed:
        sf.Opportunity.update(key, {"Execution_Health__c": "Red"})
    after = list(c.pull(wanted, since=watermark))
    newer = [r for r in after if r.updated and r.updated > watermark]
    assert sorted(r.key for r in newer) == sorted(changed)
    assert all(r.values["Execution_Health__c"] == "Red" for r in newer)
    boundary = [r for r in after if r not in newer]
    assert len(boundary) == 1 and boundary[0].updated == watermark  # >= keeps the watermark's own record
    assert [r.key for r in c.pull(wanted, since=watermark + timedelta(milliseconds=1))] == [r.key for r in newer]


def test_faults_are_retried_and_every_request_is_counted(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size=4000, faults="error:every=5,status=503;drop:every=9")
    c = connector(sb)
    wanted = fields(c, "StageName")
    expected = set(sb.salesforce_data.records["Opportunity"])
    for _ in range(6):
        assert {r.key for r in c.pull(wanted)} == expected
        statuses = {r.status for r in sb.accounting.records()}
        if {503, 0} <= statuses:
            break
    assert {503, 0} <= statuses  # both faults met the pull, on query and queryMore
    assert sum(c.calls.values()) == len(sb.accounting.records())


def test_spent_daily_limit_stops_without_retrying(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(daily_api_limit=1)
    c = connector(sb)
    wanted = fields(c, "StageName")  # the describe spends the day's one call
    sb.accounting.reset()
    with pytest.raises(QuotaExceeded) as caught:
        list(c.pull(wanted))
    assert str(caught.value).startswith("Salesforce API request limit reached (api-usage 1/1); stopping")
    # who we are (UserInfo, an OAuth endpoint outside the API allowance), then the one refused query
    assert [(r.method, r.path.rstrip("/").rsplit("/", 1)[-1], r.status) for r in sb.accounting.records()] == [
        ("GET", "userinfo", 200),
        ("GET", "query", 403),
    ]
    assert c.calls["GET query"] == 1


def test_scope_where_with_quotes_and_braces_is_passed_through(sandbox: Sandbox) -> None:
    name = "O'Brien {phase 2} \\ rollout"
    sf = client(sandbox)
    account = next(iter(sandbox.salesforce_data.records["Account"]))
    created = sf.Opportunity.create(
        {"Name": name, "AccountId": account, "StageName": "Prospecting", "CloseDate": "2027-01-31"}
    )
    c = connector(sandbox, where=format_soql("Name = {} OR Name = {}", name, "no such deal"))
    records = list(c.pull(fields(c, "Name", "CloseDate")))
    assert [(r.key, r.values["Name"]) for r in records] == [(created["id"], name)]


# --- the login host (sandbox orgs, My Domain) -------------------------------------------------

LOGIN_AUTH = {
    "password": (
        "  method: password\n  username_env: TB_SANDBOX_SF_USERNAME\n  password_env: TB_SANDBOX_SF_PASSWORD\n"
        "  security_token_env: TB_SANDBOX_SF_SECURITY_TOKEN\n  client_id_env: TB_SANDBOX_SF_CLIENT_ID\n"
        "  client_secret_env: TB_SANDBOX_SF_CLIENT_SECRET\n"
    ),
    "jwt": (
        "  method: jwt\n  username_env: TB_SANDBOX_SF_USERNAME\n  client_id_env: TB_SANDBOX_SF_CLIENT_ID\n"
        "  key_file_env: TB_SANDBOX_SF_JWT_KEY\n"
    ),
}


def from_files(
    project: Any, sb: Sandbox, method: str, urls: str, env: dict[str, str] | None = None
) -> SalesforceConnector:
    """A connector built the way the CLI builds it: the connector file, resolved against the environment."""
    from trackerbridge.config.project import Project

    text = (
        f"type: salesforce\n{urls}ca_bundle_env: TB_SANDBOX_CA_BUNDLE\nauth:\n{LOGIN_AUTH[method]}"
        "scope:\n  object: Opportunity\nmapping: demo-salesforce\n"
    )
    (project / "connectors" / "sandbox-salesforce.yaml").write_text(text, encoding="utf-8")
    resolved = Project.load(project).connection("sandbox-salesforce", env={**sb.info.as_env(), **(env or {})})
    return SalesforceConnector(resolved, retry=retry_policy(attempts=2, backoff=0.01, cap=0.05), now=sb.clock.now)


@pytest.mark.parametrize("method", ["password", "jwt"])
def test_sign_in_goes_to_the_configured_login_host(
    sandbox_factory: Callable[..., Sandbox], project: Any, method: str
) -> None:
    """Salesforce's OAuth flows post to the org's login host (https://test.salesforce.com for a sandbox
    org, a My Domain otherwise): https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_username_password_flow.htm
    The sandbox here answers the token request only at https://localhost:<port>; the instance is 127.0.0.1."""
    sb = sandbox_factory(salesforce_login_host="localhost")
    login = sb.info.salesforce_login_url
    assert login.startswith("https://localhost:") and sb.url.startswith("https://127.0.0.1:")
    # url_env alone: the connector's URL is where credentials go.
    c = from_files(project, sb, method, "url_env: TB_SANDBOX_SF_LOGIN_URL\n")
    assert c.server().url == sb.url  # then the instance URL from the token answer
    assert c.calls["POST oauth2/token"] == 1
    assert len(list(c.pull(fields(c, "StageName")))) == len(sb.salesforce_data.records["Opportunity"])
    # login_url_env next to the instance URL, and a literal login_url.
    beside = "url_env: TB_SANDBOX_SF_URL\nlogin_url_env: TB_SF_LOGIN\n"
    c = from_files(project, sb, method, beside, {"TB_SF_LOGIN": login})
    assert c.server().user_email == BOT_EMAIL
    c = from_files(project, sb, method, f"url_env: TB_SANDBOX_SF_URL\nlogin_url: {login}\n")
    assert c.server().user_email == BOT_EMAIL
    # The instance host is not the login host: refused, and the message names the host contacted.
    c = from_files(project, sb, method, "url_env: TB_SANDBOX_SF_URL\n")
    with pytest.raises(AuthError) as refused:
        c.server()
    assert f"Salesforce login at {sb.url.removeprefix('https://')} refused" in str(refused.value)
    # A login host that does not answer: the error names it, not the instance URL.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    c = from_files(project, sb, method, beside, {"TB_SF_LOGIN": f"https://localhost:{closed}"})
    with pytest.raises(ConnectorError) as unreachable:
        c.server()
    assert f"localhost:{closed}" in str(unreachable.value)
    assert sb.url.removeprefix("https://") not in str(unreachable.value)


@pytest.mark.parametrize("method", ["password", "jwt"])
def test_a_session_that_expires_mid_run_is_renewed_once(sandbox: Sandbox, method: str) -> None:
    """A session past the org's timeout gets 401 INVALID_SESSION_ID
    (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm): password and
    JWT sign-in can get a new one, once; the run goes on with it."""
    c = connector(sandbox, method)
    c.server()
    wanted = fields(c, "StageName")
    assert sandbox.salesforce.expire_sessions() == 1
    assert len(list(c.pull(wanted))) == len(sandbox.salesforce_data.records["Opportunity"])
    assert c.calls["POST oauth2/token"] == 2
    assert sandbox.salesforce.expire_sessions() == 1
    with pytest.raises(AuthError) as again:
        list(c.pull(wanted))
    assert "again after signing in anew" in str(again.value) and "$TB_SF_USERNAME" in str(again.value)
    assert c.calls["POST oauth2/token"] == 2


def test_the_concurrent_request_limit_is_waited_out_and_only_the_daily_limit_stops(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    """Both limits answer 403 REQUEST_LIMIT_EXCEEDED; the message tells them apart
    (https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm):
    "ConcurrentPerOrgLongTxn Limit exceeded." passes, "TotalRequests Limit exceeded." is the day's allowance."""
    sb = sandbox_factory(faults="rate-limit:every=2,service=salesforce")
    c = connector(sb)
    c._sleep = lambda seconds: None
    wanted = fields(c, "StageName")
    records = list(c.pull(wanted))
    assert len(records) == len(sb.salesforce_data.records["Opportunity"])
    limited = [r for r in sb.accounting.records() if r.status == 403]
    assert limited  # the org refused some calls for concurrency, and they went again
    assert sum(c.calls.values()) == len(sb.accounting.records())
    sb.admin("PUT", "faults", {"spec": "rate-limit:every=1,service=salesforce"})
    with pytest.raises(ConnectorError) as caught:
        list(c.pull(wanted))
    assert not isinstance(caught.value, QuotaExceeded)
    assert "ConcurrentPerOrgLongTxn" in str(caught.value) and "not the daily API limit" in str(caught.value)
    sb.admin("PUT", "faults", {"spec": ""})
    sb.salesforce.daily_api_limit = sb.salesforce.api_requests_used
    with pytest.raises(QuotaExceeded) as spent:
        list(c.pull(wanted))
    assert f"api-usage {sb.salesforce.api_requests_used}/{sb.salesforce.daily_api_limit}" in str(spent.value)
