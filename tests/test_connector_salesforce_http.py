"""The Salesforce connector's request and response handling, against canned answers (`responses`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from responses import matchers

from trackerbridge.config.connection import Connection, Secret
from trackerbridge.config.models import SalesforceConnector as SalesforceFile
from trackerbridge.connectors.base import AuthError, ConnectorError, FieldInfo, QuotaExceeded, ScopeRejected
from trackerbridge.connectors.http import retry_policy
from trackerbridge.connectors.salesforce import SalesforceConnector, endpoint_name
from trackerbridge.model import Person

INSTANCE = "https://acme.my.salesforce.com"
DATA = f"{INSTANCE}/services/data/v59.0"
TOKEN = "00DACME!live-session-token-value"
SECRETS = {
    "token": ("TB_SF_TOKEN", TOKEN),
    "username": ("TB_SF_USERNAME", "integration@acme.example"),
    "password": ("TB_SF_PASSWORD", "correct-horse"),
    "security_token": ("TB_SF_SECURITY_TOKEN", "SECTOKEN123"),
    "client_id": ("TB_SF_CLIENT_ID", "3MVG9-consumer-key"),
    "client_secret": ("TB_SF_CLIENT_SECRET", "consumer-secret-42"),
}
ROLES = {
    "access_token": ("token",),
    "password": ("username", "password", "security_token", "client_id", "client_secret"),
    "jwt": ("username", "client_id"),
}
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
PAGE2 = "/services/data/v59.0/query/01gACME000000001AAA-2000"
PAGE3 = "/services/data/v59.0/query/01gACME000000001AAA-4000"
SELECT = (
    "SELECT Id, SystemModstamp, LastModifiedById, CreatedDate, OwnerId, Owner.Email, Owner.Name, CloseDate, StageName, "
    "Amount, IsWon FROM Opportunity"
)


def field(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "label": extra.pop("label", name),
        "type": type_,
        "updateable": extra.pop("updateable", True),
        "referenceTo": extra.pop("referenceTo", []),
        "relationshipName": extra.pop("relationshipName", None),
        "picklistValues": extra.pop("picklistValues", []),
    }


DESCRIBE = {
    "name": "Opportunity",
    "fields": [
        field("Id", "id", updateable=False),
        field("SystemModstamp", "datetime", updateable=False),
        field("OwnerId", "reference", referenceTo=["User"], relationshipName="Owner"),
        field("AccountId", "reference", referenceTo=["Account"], relationshipName="Account"),
        field("CloseDate", "date"),
        field(
            "StageName",
            "picklist",
            picklistValues=[{"value": "Open", "active": True}, {"value": "Retired", "active": False}],
        ),
        field("Amount", "currency"),
        field("IsWon", "boolean", updateable=False),
        field("Tags__c", "multipicklist", picklistValues=[{"value": "a", "active": True}]),
        field("ShippingAddress__c", "address"),
    ],
}
WANTED = ("OwnerId", "CloseDate", "StageName", "Amount", "IsWon")


def connection(method: str = "access_token", *, where: str | None = None, **extra: Any) -> Connection:
    auth: dict[str, Any] = {"method": method, **{f"{role}_env": SECRETS[role][0] for role in ROLES[method]}}
    if method == "jwt":
        auth["key_file"] = extra["key_file"]
    file = SalesforceFile.model_validate(
        {
            "type": "salesforce",
            "url": INSTANCE,
            "mapping": "m",
            "auth": auth,
            "scope": {"object": "Opportunity", "where": where},
        }
    )
    return Connection(
        name="acme",
        type="salesforce",
        url=INSTANCE,
        auth_method=method,
        credentials={role: Secret(SECRETS[role][1], SECRETS[role][0]) for role in ROLES[method]},
        scope=file.scope,
        file=file,
        login_url=extra.get("login_url", "https://login.salesforce.com" if method != "access_token" else None),
        key_file=extra.get("key_file"),
    )


def connector(method: str = "access_token", **extra: Any) -> SalesforceConnector:
    return SalesforceConnector(connection(method, **extra), retry=retry_policy(attempts=2, backoff=0), now=lambda: NOW)


def row(n: int, **values: Any) -> dict[str, Any]:
    base = {
        "attributes": {"type": "Opportunity", "url": f"/services/data/v59.0/sobjects/Opportunity/006ACME00000{n:03d}"},
        "Id": f"006ACME00000{n:03d}",
        "SystemModstamp": f"2026-11-25T08:25:{n:02d}.000+0000",
        "OwnerId": "005ACME000000ALI",
        "Owner": {"attributes": {"type": "User"}, "Email": "alice@acme.example", "Name": "Alice Ng"},
        "CloseDate": "2027-03-31",
        "StageName": "Open",
        "Amount": 5000,
        "IsWon": False,
    }
    base.update(values)
    return base


USERINFO = {  # the UserInfo endpoint's answer, shaped after Salesforce's "UserInfo Endpoint" help page
    "sub": "https://login.salesforce.com/id/00DACME0000000AAAA/005ACME00000BOTAAA",
    "user_id": "005ACME00000BOTAAA",
    "organization_id": "00DACME0000000AAAA",
    "preferred_username": "integration@acme.example",
    "name": "Integration User",
    "zoneinfo": "Europe/Berlin",
}


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        mock.get(f"{DATA}/sobjects/Opportunity/describe", json=DESCRIBE)
        mock.get(f"{INSTANCE}/services/oauth2/userinfo", json=USERINFO)  # who we are: asked before reading
        yield mock


def wanted(c: SalesforceConnector) -> list[FieldInfo]:
    catalog = c.catalog()
    return [f for f in (catalog.find(name) for name in WANTED) if f is not None]


def query(api: responses.RequestsMock, soql: str, *answers: dict[str, Any]) -> None:
    for answer in answers:
        api.get(f"{DATA}/query/", match=[matchers.query_param_matcher({"q": soql})], **answer)


# --- paging and values ------------------------------------------------------------------------


def test_query_follows_next_records_url_across_three_pages(api: responses.RequestsMock) -> None:
    soql = f"{SELECT} ORDER BY SystemModstamp, Id"
    query(api, soql, {"json": {"totalSize": 5, "done": False, "nextRecordsUrl": PAGE2, "records": [row(1), row(2)]}})
    api.get(f"{INSTANCE}{PAGE2}", json={"totalSize": 5, "done": False, "nextRecordsUrl": PAGE3, "records": [row(3)]})
    api.get(f"{INSTANCE}{PAGE3}", json={"totalSize": 5, "done": True, "records": [row(4), row(5)]})
    c = connector()
    records = list(c.pull(wanted(c)))
    assert [r.key for r in records] == [f"006ACME00000{n:03d}" for n in range(1, 6)]
    assert dict(c.calls) == {
        "GET sobjects/Opportunity/describe": 1,
        "GET oauth2/userinfo": 1,  # once per connector (then kept with the discovery)
        "GET query": 1,
        "GET queryMore": 2,
    }
    assert api.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Sforce-Query-Options" not in api.calls[1].request.headers  # Salesforce's default batch: 2000


def test_values_are_normalised(api: responses.RequestsMock) -> None:
    rows = [
        row(1),
        row(2, OwnerId=None, Owner=None, CloseDate=None, StageName=None, Amount=None, IsWon=True),
    ]
    query(api, f"{SELECT} ORDER BY SystemModstamp, Id", {"json": {"totalSize": 2, "done": True, "records": rows}})
    c = connector()
    first, second = c.pull(wanted(c))
    assert first.values == {
        "OwnerId": Person(email="alice@acme.example", name="Alice Ng", ref="005ACME000000ALI"),
        "CloseDate": date(2027, 3, 31),
        "StageName": "Open",
        "Amount": 5000.0,
        "IsWon": False,
    }
    assert isinstance(first.values["Amount"], float)
    assert first.updated == datetime(2026, 11, 25, 8, 25, 1, tzinfo=timezone.utc)
    assert first.url == f"{INSTANCE}/lightning/r/Opportunity/006ACME00000001/view"
    assert second.values == {"OwnerId": None, "CloseDate": None, "StageName": None, "Amount": None, "IsWon": True}


def test_empty_result_yields_nothing(api: responses.RequestsMock) -> None:
    query(api, f"{SELECT} ORDER BY SystemModstamp, Id", {"json": {"totalSize": 0, "done": True, "records": []}})
    c = connector()
    assert list(c.pull(wanted(c))) == []
    assert c.calls["GET query"] == 1 and "GET queryMore" not in c.calls


def test_where_and_since_are_in_the_soql_and_since_is_exact_to_the_ms(api: responses.RequestsMock) -> None:
    soql = (
        f"{SELECT} WHERE (StageName = 'Open' AND Name LIKE 'O\\'Brien%') "
        "AND SystemModstamp >= 2026-11-25T08:25:46+00:00 ORDER BY SystemModstamp, Id"
    )
    early = row(1, SystemModstamp="2026-11-25T08:25:46.100+0000")
    exact = row(2, SystemModstamp="2026-11-25T08:25:46.500+0000")
    query(api, soql, {"json": {"totalSize": 2, "done": True, "records": [early, exact]}})
    c = connector(where="StageName = 'Open' AND Name LIKE 'O\\'Brien%'")
    since = datetime(2026, 11, 25, 8, 25, 46, 500_700, tzinfo=timezone.utc)
    assert [r.key for r in c.pull(wanted(c), since=since)] == [exact["Id"]]


def test_fields_already_selected_are_not_selected_twice(api: responses.RequestsMock) -> None:
    query(api, f"{SELECT} ORDER BY SystemModstamp, Id", {"json": {"totalSize": 1, "done": True, "records": [row(7)]}})
    c = connector()
    catalog = c.catalog()
    stamp = catalog.find("SystemModstamp")
    assert stamp is not None
    lower_id = FieldInfo(id="id", name="Record ID", type="text")  # values are keyed as the caller asked
    (record,) = c.pull([stamp, lower_id, *wanted(c), *wanted(c)[:1]])
    assert record.values["id"] == row(7)["Id"]
    assert record.values["SystemModstamp"] == datetime(2026, 11, 25, 8, 25, 7, tzinfo=timezone.utc)


def test_records_last_changed_by_the_signed_in_user_are_trackerbridges_own(api: responses.RequestsMock) -> None:
    """LastModifiedById against UserInfo's user_id, in either Id form (15 or 18 characters)."""
    soql = f"{SELECT} ORDER BY SystemModstamp, Id"
    rows = [
        row(1, LastModifiedById="005ACME00000BOTAAA"),
        row(2, LastModifiedById="005ACME00000BOT"),
        row(3, LastModifiedById="005ACME00000ALIAAA"),
        row(4, LastModifiedById=None),
    ]
    query(api, soql, {"json": {"totalSize": 4, "done": True, "records": rows}})
    c = connector()
    assert [r.ours for r in c.pull(wanted(c))] == [True, True, False, False]
    assert c.discovery()["userId"] == "005ACME00000BOTAAA", "kept for the next run: no UserInfo call then"


def test_catalog_maps_types_and_active_options(api: responses.RequestsMock) -> None:
    api.assert_all_requests_are_fired = False  # the catalog alone does not need to know who we are
    catalog = connector().catalog()
    by_id = {f.id: f for f in catalog.fields}
    assert (by_id["OwnerId"].type, by_id["AccountId"].type) == ("user", "reference")
    assert by_id["StageName"].options == ("Open",)  # the retired value is not offered
    assert (by_id["Tags__c"].type, by_id["Tags__c"].native_type) == ("option", "multipicklist")
    assert "ShippingAddress__c" not in by_id  # compound: read its parts instead
    assert (by_id["IsWon"].type, by_id["IsWon"].updateable) == ("boolean", False)


# --- retries and errors -----------------------------------------------------------------------


def test_503_then_200_is_retried_and_both_calls_are_counted(api: responses.RequestsMock) -> None:
    soql = f"{SELECT} ORDER BY SystemModstamp, Id"
    unavailable = [{"message": "An unexpected error occurred.", "errorCode": "UNKNOWN_EXCEPTION"}]
    query(
        api,
        soql,
        {"status": 503, "json": unavailable, "headers": {"Retry-After": "0"}},
        {"json": {"totalSize": 1, "done": True, "records": [row(1)]}},
    )
    c = connector()
    assert [r.key for r in c.pull(wanted(c))] == [row(1)["Id"]]
    assert c.calls["GET query"] == 2
    assert sum("/query/" in call.request.url for call in api.calls) == 2


def test_exhausted_retries_report_the_last_answer_once_per_request(api: responses.RequestsMock) -> None:
    page = b"<html><head><title>Service Unavailable</title></head><body>maintenance</body></html>"
    answer = {"status": 503, "body": page, "content_type": "text/html"}
    query(api, f"{SELECT} ORDER BY SystemModstamp, Id", answer, answer, answer)
    c = connector()
    with pytest.raises(ConnectorError, match="Salesforce answered HTTP 503 to the query: Service Unavailable"):
        list(c.pull(wanted(c)))
    assert c.calls["GET query"] == 3 == sum("/query/" in call.request.url for call in api.calls)


def test_request_limit_exceeded_stops_at_once(api: responses.RequestsMock) -> None:
    limited = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    query(
        api,
        f"{SELECT} ORDER BY SystemModstamp, Id",
        {"status": 403, "json": limited, "headers": {"Sforce-Limit-Info": "api-usage=15000/15000"}},
    )
    c = connector()
    with pytest.raises(QuotaExceeded) as caught:
        list(c.pull(wanted(c)))
    assert str(caught.value) == (
        "Salesforce API request limit reached (api-usage 15000/15000); stopping. "
        "Salesforce said: TotalRequests Limit exceeded."
    )
    assert c.calls["GET query"] == 1
    assert sum("/query/" in call.request.url for call in api.calls) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            [{"message": "unexpected token: 'FORM'", "errorCode": "MALFORMED_QUERY"}],
            "Salesforce refused the query: MALFORMED_QUERY: unexpected token: 'FORM'",
        ),
        (
            [
                {
                    "message": "No such column 'Amount' on entity 'Opportunity'",
                    "errorCode": "INVALID_FIELD",
                    "fields": ["Amount"],
                }
            ],
            "Salesforce refused the query: INVALID_FIELD: No such column 'Amount' on entity 'Opportunity' "
            "(fields: Amount)",
        ),
    ],
)
def test_error_bodies_become_messages(api: responses.RequestsMock, body: list[dict[str, Any]], expected: str) -> None:
    query(api, f"{SELECT} ORDER BY SystemModstamp, Id", {"status": 400, "json": body})
    c = connector()
    with pytest.raises(ConnectorError) as caught:
        list(c.pull(wanted(c)))
    assert type(caught.value) is ScopeRejected
    assert caught.value.exit_code == 2, "a query the org refuses is a configuration problem"
    assert (
        str(caught.value) == f"{expected}; check the scope in connectors/acme.yaml and the mapped fields "
        "(trackerbridge check)"
    )


def test_invalid_session_is_an_auth_error_without_the_token(api: responses.RequestsMock) -> None:
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    query(api, f"{SELECT} ORDER BY SystemModstamp, Id", {"status": 401, "json": expired})
    c = connector()
    with pytest.raises(AuthError) as caught:
        list(c.pull(wanted(c)))
    assert str(caught.value) == "the access token from $TB_SF_TOKEN was rejected (INVALID_SESSION_ID)"


def test_unknown_object_is_named() -> None:
    with responses.RequestsMock() as api:
        api.get(
            f"{DATA}/sobjects/Opportunity/describe",
            status=404,
            json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
        )
        with pytest.raises(ConnectorError, match="sObject type 'Opportunity' is not supported by the org at acme"):
            connector().catalog()


def test_userinfo_feeds_server() -> None:
    with responses.RequestsMock() as api:
        api.get(
            f"{INSTANCE}/services/oauth2/userinfo",
            json={"user_id": "005ACME", "name": "Integration", "email": "int@acme.example", "zoneinfo": "Europe/Paris"},
        )
        info = connector().server()
    assert (info.user, info.user_email, info.time_zone, info.url) == (
        "Integration",
        "int@acme.example",
        "Europe/Paris",
        INSTANCE,
    )


def test_call_names_fold_ids_and_locators() -> None:
    assert endpoint_name("GET", f"{DATA}/query/?q=SELECT+Id") == "GET query"
    assert endpoint_name("GET", PAGE2) == "GET queryMore"
    assert endpoint_name("GET", "/services/data/v59.0/queryAll/01gACME000000001AAA-2000") == "GET queryAllMore"
    assert (
        endpoint_name("PATCH", f"{DATA}/sobjects/Opportunity/0068d00000000eZAAQ") == "PATCH sobjects/Opportunity/{id}"
    )
    assert endpoint_name("POST", "https://login.salesforce.com/services/oauth2/token") == "POST oauth2/token"


# --- OAuth ------------------------------------------------------------------------------------


def oauth(api: responses.RequestsMock, login_url: str, status: int, body: dict[str, Any]) -> list[dict[str, str]]:
    """Answer the token endpoint; return the forms it received."""
    forms: list[dict[str, str]] = []

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        text = request.body if isinstance(request.body, str) else (request.body or b"").decode()
        forms.append({k: v[-1] for k, v in parse_qs(text).items()})
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    api.add_callback("POST", f"{login_url}/services/oauth2/token", callback=answer)
    return forms


def test_password_grant_failure_names_the_variables_not_the_values() -> None:
    with responses.RequestsMock() as api:
        forms = oauth(
            api,
            "https://login.salesforce.com",
            400,
            {"error": "invalid_grant", "error_description": "authentication failure"},
        )
        c = connector("password")
        with pytest.raises(AuthError) as caught:
            c.server()
    message = str(caught.value)
    assert message.startswith(
        "Salesforce login at login.salesforce.com refused the password grant (invalid_grant: authentication failure); "
        "check $TB_SF_USERNAME, $TB_SF_PASSWORD, $TB_SF_SECURITY_TOKEN"
    )
    assert not any(value in message for _, value in SECRETS.values())
    assert forms == [
        {
            "grant_type": "password",
            "client_id": "3MVG9-consumer-key",
            "client_secret": "consumer-secret-42",
            "username": "integration@acme.example",
            "password": "correct-horseSECTOKEN123",  # the security token goes after the password
        }
    ]
    assert dict(c.calls) == {"POST oauth2/token": 1}


def test_unknown_client_id_names_only_its_variable() -> None:
    with responses.RequestsMock() as api:
        oauth(
            api,
            "https://login.salesforce.com",
            400,
            {"error": "invalid_client_id", "error_description": "client identifier invalid"},
        )
        with pytest.raises(AuthError, match=r"check \$TB_SF_CLIENT_ID \(the connected app's consumer key\)"):
            connector("password").server()


def test_password_grant_session_is_used_against_the_instance_it_names() -> None:
    with responses.RequestsMock() as api:
        oauth(api, "https://login.salesforce.com", 200, {"access_token": "00DACME!fresh", "instance_url": INSTANCE})
        api.get(f"{INSTANCE}/services/oauth2/userinfo", json={"name": "Integration", "email": "int@acme.example"})
        c = connector("password")
        assert c.server().user == "Integration"
        assert api.calls[1].request.headers["Authorization"] == "Bearer 00DACME!fresh"
    assert dict(c.calls) == {"POST oauth2/token": 1, "GET oauth2/userinfo": 1}


def private_key(tmp_path: Path) -> tuple[Path, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "server.key"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path, key.public_key()


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
    ],
)
def test_jwt_assertion_is_signed_with_the_documented_claims(tmp_path: Path, login_url: str, audience: str) -> None:
    key_file, public = private_key(tmp_path)
    with responses.RequestsMock() as api:
        forms = oauth(
            api, login_url, 400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
        )
        c = connector("jwt", key_file=str(key_file), login_url=login_url)
        with pytest.raises(AuthError) as caught:
            c.server()
    assert forms[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        forms[0]["assertion"], public, algorithms=["RS256"], audience=audience, options={"verify_exp": False}
    )
    assert claims == {
        "iss": "3MVG9-consumer-key",
        "sub": "integration@acme.example",
        "aud": audience,
        "exp": int(NOW.timestamp()) + 180,
    }
    assert "refused the JWT bearer grant (invalid_grant: user hasn't approved this consumer)" in str(caught.value)
    assert "$TB_SF_USERNAME" in str(caught.value) and str(key_file) in str(caught.value)


def test_unreadable_jwt_key_is_an_auth_error(tmp_path: Path) -> None:
    c = connector("jwt", key_file=str(tmp_path / "missing.key"))
    with pytest.raises(AuthError, match=r"cannot read the JWT private key .*missing\.key"):
        c.server()
    (tmp_path / "garbage.key").write_text("not a key")
    with pytest.raises(AuthError, match="is not a PEM-encoded RSA private key"):
        connector("jwt", key_file=str(tmp_path / "garbage.key")).server()
    assert sum(c.calls.values()) == 0
