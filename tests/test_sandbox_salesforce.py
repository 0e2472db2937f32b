"""The emulated Salesforce REST service, called directly (no socket): payloads, codes, headers."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from trackerbridge.sandbox.clock import Clock
from trackerbridge.sandbox.salesforce_api import SalesforceAuth, SalesforceService
from trackerbridge.sandbox.salesforce_model import SalesforceData, new_salesforce_data
from trackerbridge.sandbox.web import Request, Response

NOW = datetime(2025, 3, 10, 12, 0, 0, tzinfo=timezone.utc)
EARLIER = NOW - timedelta(days=2)
TOKEN = "00Dtest!preset-token"
V = "/services/data/v59.0"
USERNAME, PASSWORD = "alice@example.com.sandbox", "s3cretTOKEN123"


class Org:
    """A small org: the integration bot, Alice, one account, some opportunities, and the service."""

    def __init__(self, opportunities: int = 3, **service_kw: Any) -> None:
        self.data: SalesforceData = new_salesforce_data()
        self.clock = Clock(pinned=NOW)
        self.alice = self.put(
            "User",
            Username=USERNAME,
            FirstName="Alice",
            LastName="Ng",
            Name="Alice Ng",
            Email="alice@example.com",
            IsActive=True,
        )
        self.bot = self.put(
            "User",
            Username="bot@example.com.sandbox",
            LastName="Bot",
            Name="Bot",
            Email="trackerbridge-bot@example.com",
            IsActive=True,
        )
        self.account = self.put("Account", Name="Acme", OwnerId=self.alice)
        self.opps = [
            self.put(
                "Opportunity",
                Name=f"Deal {i:04d}",
                OwnerId=self.alice,
                AccountId=self.account,
                StageName="Prospecting",
                CloseDate=date(2025, 6, 1),
                IsClosed=False,
                IsWon=False,
            )
            for i in range(opportunities)
        ]
        self.auth = SalesforceAuth(access_tokens={TOKEN}, users={USERNAME: PASSWORD})
        self.service = SalesforceService(self.data, self.clock, self.auth, base_url="https://127.0.0.1:9", **service_kw)

    def put(self, sobject: str, **values: Any) -> str:
        t = self.data.types[sobject]
        record: dict[str, Any] = {name: None for name in t.fields}
        record.update(values)
        record_id = self.data.new_id(t)
        record.update(
            Id=record_id,
            CreatedDate=EARLIER,
            LastModifiedDate=EARLIER,
            SystemModstamp=EARLIER,
            CreatedById=None,
            LastModifiedById=None,
        )
        self.data.records[sobject][record_id] = record
        return record_id

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        return self.data.records[sobject][record_id]

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        token: str | None = TOKEN,
        raw: bytes | None = None,
    ) -> Response:
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        sent.update(headers or {})
        payload = raw if raw is not None else json.dumps(body).encode() if body is not None else b""
        return self.service.handle(Request(method, path, sent, payload))

    def query(self, soql: str, *, endpoint: str = "query", batch: int | None = None) -> Response:
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else None
        return self.call("GET", f"{V}/{endpoint}?q={quote(soql)}", headers=headers)


def single_error(response: Response) -> dict[str, Any]:
    assert isinstance(response.body, list) and len(response.body) == 1, response.body
    return response.body[0]


# --- discovery, auth, accounting -------------------------------------------------------------


def test_versions_list_needs_no_session_and_is_not_counted() -> None:
    org = Org()
    response = org.call("GET", "/services/data", token=None)
    assert response.status == 200
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in response.body
    assert org.service.api_requests_used == 0
    assert response.headers["Sforce-Limit-Info"] == "api-usage=0/15000"


def test_missing_or_unknown_session_is_401_invalid_session_id() -> None:
    org = Org()
    for token in (None, "not-a-token"):
        response = org.call("GET", f"{V}/limits", token=token)
        assert response.status == 401
        assert response.body == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert org.service.api_requests_used == 0


def test_every_data_response_reports_api_usage() -> None:
    org = Org(daily_api_limit=500)
    first = org.call("GET", f"{V}/sobjects")
    second = org.call("GET", f"{V}/nowhere")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/500"
    assert second.status == 404
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/500"


def test_daily_limit_refuses_every_call_after_max() -> None:
    org = Org(daily_api_limit=2)
    assert org.call("GET", f"{V}/limits").status == 200
    assert org.call("GET", f"{V}/sobjects").status == 200
    refused = org.call("GET", f"{V}/limits")
    assert refused.status == 403
    assert refused.body == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=2/2"
    assert org.call("POST", f"{V}/sobjects/Account", {"Name": "x"}).status == 403
    assert len(org.data.records["Account"]) == 1


def test_limits_resource_shows_daily_api_requests() -> None:
    org = Org(daily_api_limit=100)
    org.call("GET", f"{V}/sobjects")
    body = org.call("GET", f"{V}/limits").body
    assert body["DailyApiRequests"] == {"Max": 100, "Remaining": 98}
    assert {"Max", "Remaining"} <= set(body["DataStorageMB"])


def test_unknown_path_and_unsupported_version_are_404() -> None:
    org = Org()
    not_found = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    assert org.call("GET", f"{V}/nothing/here").body == not_found
    old = org.call("GET", "/services/data/v20.0/sobjects")
    assert (old.status, old.body) == (404, not_found)
    assert org.call("GET", "/services/apexrest/thing").status == 404


def test_wrong_method_is_405_with_allowed_methods() -> None:
    org = Org()
    response = org.call("PUT", f"{V}/sobjects/Opportunity/{org.opps[0]}", {})
    assert response.status == 405
    error = single_error(response)
    assert error["errorCode"] == "METHOD_NOT_ALLOWED"
    assert error["message"] == "HTTP Method 'PUT' not allowed. Allowed are HEAD,GET,PATCH,DELETE"
    assert response.headers["Allow"] == "HEAD, GET, PATCH, DELETE"


def test_resources_directory_lists_query_and_sobjects() -> None:
    body = Org().call("GET", V).body
    assert body["query"] == f"{V}/query"
    assert body["sobjects"] == f"{V}/sobjects"


# --- OAuth ------------------------------------------------------------------------------------


def token_request(org: Org, **form: str) -> Response:
    raw = "&".join(f"{k}={quote(v)}" for k, v in form.items()).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return org.service.handle(Request("POST", "/services/oauth2/token", headers, raw))


def password_form(**overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "password",
        "client_id": "trackerbridge-sandbox",
        "client_secret": "sandbox-secret",
        "username": USERNAME,
        "password": PASSWORD,
    }
    form.update(overrides)
    return form


def test_password_grant_issues_a_working_token_for_that_user() -> None:
    org = Org()
    response = token_request(org, **password_form())
    assert response.status == 200
    body = response.body
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == "https://127.0.0.1:9"
    assert body["id"].endswith(f"/{org.alice}")
    assert body["issued_at"] == str(int(NOW.timestamp() * 1000))
    assert body["signature"]
    assert org.call("GET", f"{V}/limits", token=body["access_token"]).status == 200
    org.call("PATCH", f"{V}/sobjects/Opportunity/{org.opps[0]}", {"Amount": 5}, token=body["access_token"])
    assert org.record("Opportunity", org.opps[0])["LastModifiedById"] == org.alice


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"password": "wrong"}, "invalid_grant", "authentication failure"),
        ({"username": "nobody@example.com"}, "invalid_grant", "authentication failure"),
        ({"client_id": "other"}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "other"}, "invalid_client", "invalid client credentials"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type", "grant type not supported"),
    ],
)
def test_password_grant_failures(overrides: dict[str, str], error: str, description: str) -> None:
    org = Org()
    response = token_request(org, **password_form(**overrides))
    assert response.status == 400
    assert response.body == {"error": error, "error_description": description}
    assert org.auth.access_tokens == {TOKEN}


def rsa_pair() -> tuple[bytes, bytes]:
    """A private key (PEM) and a self-signed certificate for it, as an admin uploads to the app."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trackerbridge")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(EARLIER)
        .not_valid_after(NOW + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private, cert.public_bytes(serialization.Encoding.PEM)


def test_jwt_bearer_grant_checks_signature_issuer_audience_expiry_and_subject() -> None:
    org = Org()
    private, cert = rsa_pair()
    other_private, _ = rsa_pair()
    org.auth.jwt_certificate_pem = cert
    good = {
        "iss": "trackerbridge-sandbox",
        "sub": USERNAME,
        "aud": "https://login.salesforce.com",
        "exp": str(int(NOW.timestamp()) + 180),
    }

    def grant(claims: dict[str, Any], key: bytes = private) -> Response:
        assertion = jwt.encode(claims, key, algorithm="RS256")
        return token_request(org, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=assertion)

    ok = grant(good)
    assert ok.status == 200
    assert ok.body["id"].endswith(f"/{org.alice}")
    assert org.call("GET", f"{V}/limits", token=ok.body["access_token"]).status == 200
    assert grant(good, other_private).body == {
        "error": "invalid_grant",
        "error_description": "invalid assertion",
    }
    assert grant({**good, "iss": "x"}).body["error"] == "invalid_client_id"
    assert grant({**good, "aud": "https://evil.example"}).body["error_description"] == "audience is invalid"
    expired = grant({**good, "exp": int(NOW.timestamp()) - 1})
    assert expired.body == {"error": "invalid_grant", "error_description": "expired authorization code"}
    assert grant({**good, "sub": "nobody@example.com"}).status == 400
    assert grant({**good, "aud": "https://127.0.0.1:9"}).status == 200


def test_userinfo_describes_the_tokens_user_and_is_not_an_api_call() -> None:
    org = Org(daily_api_limit=1)
    token = token_request(org, **password_form()).body["access_token"]
    org.record("User", org.alice)["TimeZoneSidKey"] = "Europe/Berlin"
    response = org.call("GET", "/services/oauth2/userinfo", token=token)
    assert response.status == 200
    body = response.body
    assert (body["user_id"], body["preferred_username"]) == (org.alice, USERNAME)
    assert (body["name"], body["email"], body["given_name"], body["family_name"]) == (
        "Alice Ng",
        "alice@example.com",
        "Alice",
        "Ng",
    )
    assert body["organization_id"].startswith("00D") and len(body["organization_id"]) == 18
    assert body["sub"] == f"https://127.0.0.1:9/id/{body['organization_id']}/{org.alice}"
    assert (body["zoneinfo"], body["utcOffset"]) == ("Europe/Berlin", 3_600_000)  # CET on 10 March
    assert body["urls"]["rest"] == "https://127.0.0.1:9/services/data/v{version}/"
    assert body["active"] is True
    by_param = org.call("POST", f"/services/oauth2/userinfo?oauth_token={quote(token)}", token=None)
    assert by_param.body["user_id"] == org.alice
    preset = org.call("GET", "/services/oauth2/userinfo")  # the preset token acts as the integration user
    assert (preset.body["user_id"], preset.body["zoneinfo"]) == (org.bot, "GMT")
    assert org.service.api_requests_used == 0
    assert org.call("GET", f"{V}/limits").status == 200  # the one allowed API call is still there


def test_userinfo_errors_are_identity_service_codes() -> None:
    org = Org()
    bad = org.call("GET", "/services/oauth2/userinfo", token="00Dnot!valid")
    assert (bad.status, bad.body, bad.content_type()) == (403, b"Bad_OAuth_Token", "text/plain;charset=UTF-8")
    assert org.call("GET", "/services/oauth2/userinfo", token=None).body == b"Missing_OAuth_Token"
    org.record("User", org.bot)["IsActive"] = False
    inactive = org.call("GET", "/services/oauth2/userinfo")
    assert (inactive.status, inactive.body) == (404, b"Inactive")


# --- query ------------------------------------------------------------------------------------


def test_query_pages_through_three_pages_with_batch_size() -> None:
    org = Org(opportunities=450)
    first = org.query("SELECT Id, Name FROM Opportunity ORDER BY Name", batch=200)
    assert first.status == 200
    assert (first.body["totalSize"], first.body["done"], len(first.body["records"])) == (450, False, 200)
    assert re.fullmatch(rf"{V}/query/01g[A-Za-z0-9]{{15}}-200", first.body["nextRecordsUrl"])
    assert first.body["records"][0]["attributes"]["type"] == "Opportunity"
    assert first.body["records"][0]["Name"] == "Deal 0000"
    second = org.call("GET", first.body["nextRecordsUrl"])
    assert (second.body["done"], len(second.body["records"])) == (False, 200)
    assert second.body["nextRecordsUrl"].endswith("-400")
    third = org.call("GET", second.body["nextRecordsUrl"])
    assert (third.body["totalSize"], third.body["done"], len(third.body["records"])) == (450, True, 50)
    assert "nextRecordsUrl" not in third.body
    names = [r["Name"] for page in (first, second, third) for r in page.body["records"]]
    assert names == [f"Deal {i:04d}" for i in range(450)]


def test_batch_size_is_clamped_to_200_through_2000() -> None:
    org = Org(opportunities=2001)
    small = org.query("SELECT Id FROM Opportunity", batch=5)
    assert len(small.body["records"]) == 200
    big = org.query("SELECT Id FROM Opportunity", batch=9999)
    assert (len(big.body["records"]), big.body["done"]) == (2000, False)
    default = org.query("SELECT Id FROM Opportunity")
    assert len(default.body["records"]) == 2000
    assert default.body["nextRecordsUrl"].endswith("-2000")


def test_cursor_fixes_the_matching_ids_but_renders_rows_when_fetched() -> None:
    org = Org(opportunities=250)
    first = org.query("SELECT Id, Amount FROM Opportunity ORDER BY Name", batch=200)
    late = org.opps[249]
    assert org.call("PATCH", f"{V}/sobjects/Opportunity/{late}", {"Amount": 99}).status == 204
    created = org.call(
        "POST",
        f"{V}/sobjects/Opportunity",
        {"Name": "New", "StageName": "Prospecting", "CloseDate": "2025-07-01"},
    )
    assert created.status == 201
    second = org.call("GET", first.body["nextRecordsUrl"]).body
    assert second["totalSize"] == 250
    assert len(second["records"]) == 50
    assert second["records"][-1] == {
        "attributes": {"type": "Opportunity", "url": f"{V}/sobjects/Opportunity/{late}"},
        "Id": late,
        "Amount": 99.0,
    }


def test_unknown_or_expired_query_locator_is_invalid() -> None:
    org = Org(opportunities=300)
    unknown = org.call("GET", f"{V}/query/01gD0000002HU6KIAW-2000")
    assert unknown.status == 400
    assert single_error(unknown) == {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
    assert org.call("GET", f"{V}/query/garbage").status == 400
    first = org.query("SELECT Id FROM Opportunity", batch=200)
    org.clock.advance(timedelta(minutes=16))
    expired = org.call("GET", first.body["nextRecordsUrl"])
    assert single_error(expired)["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_cursor_survives_a_retry_of_the_same_page() -> None:
    org = Org(opportunities=300)
    url = org.query("SELECT Id FROM Opportunity", batch=200).body["nextRecordsUrl"]
    again = [org.call("GET", url).body for _ in range(2)]
    assert again[0] == again[1]
    assert len(again[0]["records"]) == 100


def test_count_query_returns_total_size_only() -> None:
    org = Org(opportunities=7)
    response = org.query("SELECT COUNT() FROM Opportunity")
    assert response.body == {"totalSize": 7, "done": True, "records": []}


def test_soql_errors_become_400_with_the_compiler_code() -> None:
    org = Org()
    response = org.query("SELECT Nope__c FROM Opportunity")
    assert response.status == 400
    error = single_error(response)
    assert error["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope__c'" in error["message"]
    missing = org.call("GET", f"{V}/query")
    assert single_error(missing)["errorCode"] == "MALFORMED_QUERY"


def test_query_all_sees_deleted_records_and_query_does_not() -> None:
    org = Org(opportunities=3)
    assert org.call("DELETE", f"{V}/sobjects/Opportunity/{org.opps[0]}").status == 204
    live = org.query("SELECT Id FROM Opportunity")
    assert [r["Id"] for r in live.body["records"]] == org.opps[1:]
    everything = org.query("SELECT Id FROM Opportunity", endpoint="queryAll")
    assert everything.body["totalSize"] == 3


def test_query_all_pages_through_its_own_endpoint() -> None:
    org = Org(opportunities=250)
    first = org.query("SELECT Id FROM Opportunity", endpoint="queryAll", batch=200)
    assert f"{V}/queryAll/01g" in first.body["nextRecordsUrl"]
    assert org.call("GET", first.body["nextRecordsUrl"]).body["done"] is True


# --- describe ---------------------------------------------------------------------------------


def test_describe_global_lists_the_objects() -> None:
    body = Org().call("GET", f"{V}/sobjects").body
    by_name = {s["name"]: s for s in body["sobjects"]}
    assert body["maxBatchSize"] == 200
    assert by_name["Opportunity"]["keyPrefix"] == "006"
    assert by_name["Opportunity"]["labelPlural"] == "Opportunities"
    assert by_name["Opportunity"]["urls"]["describe"] == f"{V}/sobjects/Opportunity/describe"


def test_sobject_basic_info_has_recent_items() -> None:
    org = Org()
    body = org.call("GET", f"{V}/sobjects/opportunity").body
    assert body["objectDescribe"]["name"] == "Opportunity"
    assert {item["Id"] for item in body["recentItems"]} == set(org.opps)
    assert body["recentItems"][0]["Name"].startswith("Deal ")


def test_describe_lists_fields_with_picklists() -> None:
    org = Org()
    body = org.call("GET", f"{V}/sobjects/Opportunity/describe").body
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["IsWon"]["updateable"] is False
    assert "Closed Won" in [p["value"] for p in fields["StageName"]["picklistValues"]]
    assert body["keyPrefix"] == "006" and body["queryable"] is True and body["custom"] is False
    assert {"childSObject": "Opportunity", "field": "AccountId"}.items() <= next(
        c
        for c in org.call("GET", f"{V}/sobjects/Account/describe").body["childRelationships"]
        if c["childSObject"] == "Opportunity"
    ).items()


def test_unknown_sobject_type_is_404() -> None:
    org = Org()
    for path in ("sobjects/Nope/describe", "sobjects/Nope", f"sobjects/Nope/{org.opps[0]}"):
        response = org.call("GET", f"{V}/{path}")
        assert response.status == 404
        assert single_error(response) == {
            "message": "The requested resource does not exist",
            "errorCode": "NOT_FOUND",
        }


# --- sObject rows -----------------------------------------------------------------------------


def test_get_record_renders_all_fields_with_attributes() -> None:
    org = Org()
    response = org.call("GET", f"{V}/sobjects/Opportunity/{org.opps[0]}")
    assert response.status == 200
    body = response.body
    assert body["attributes"] == {"type": "Opportunity", "url": f"{V}/sobjects/Opportunity/{org.opps[0]}"}
    assert body["CloseDate"] == "2025-06-01"
    assert body["LastModifiedDate"] == "2025-03-08T12:00:00.000+0000"
    assert response.headers["Last-Modified"] == "Sat, 08 Mar 2025 12:00:00 GMT"
    assert response.headers["ETag"].startswith('"')


def test_get_record_with_fields_parameter() -> None:
    org = Org()
    body = org.call("GET", f"{V}/sobjects/Opportunity/{org.opps[0]}?fields=Name,stagename").body
    assert list(body) == ["attributes", "Id", "Name", "StageName"]
    bad = org.call("GET", f"{V}/sobjects/Opportunity/{org.opps[0]}?fields=Name,Bogus")
    assert bad.status == 400
    assert single_error(bad)["errorCode"] == "INVALID_FIELD"


def test_get_record_accepts_the_15_character_id() -> None:
    org = Org()
    assert org.call("GET", f"{V}/sobjects/Opportunity/{org.opps[0][:15]}").body["Id"] == org.opps[0]


def test_get_missing_or_malformed_record() -> None:
    org = Org()
    missing = org.call("GET", f"{V}/sobjects/Opportunity/006000000000000AAA")
    assert missing.status == 404
    assert missing.body == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    wrong_type = org.call("GET", f"{V}/sobjects/Opportunity/{org.account}")
    assert wrong_type.status == 404
    malformed = org.call("GET", f"{V}/sobjects/Opportunity/abc")
    assert malformed.status == 404
    assert single_error(malformed)["message"] == "Provided external ID field does not exist or is not accessible: abc"


def test_create_record_stamps_and_derives_fields() -> None:
    org = Org()
    org.clock.set(NOW + timedelta(microseconds=123_456))
    response = org.call(
        "POST",
        f"{V}/sobjects/Opportunity/",
        {
            "Name": "Big",
            "StageName": "Closed Won",
            "CloseDate": "2025-04-01",
            "Amount": "1200.5",
            "AccountId": org.account[:15],
        },
    )
    assert response.status == 201
    assert response.body == {"id": response.body["id"], "success": True, "errors": []}
    record = org.record("Opportunity", response.body["id"])
    assert response.body["id"].startswith("006") and len(response.body["id"]) == 18
    assert (record["IsClosed"], record["IsWon"]) == (True, True)
    assert record["Amount"] == 1200.5
    assert record["AccountId"] == org.account
    assert record["CloseDate"] == date(2025, 4, 1)
    assert record["OwnerId"] == record["CreatedById"] == record["LastModifiedById"] == org.bot
    assert record["CreatedDate"] == record["LastModifiedDate"] == record["SystemModstamp"]
    assert record["SystemModstamp"] == NOW + timedelta(microseconds=123_000)


def test_create_user_derives_full_name_and_defaults_active() -> None:
    org = Org()
    response = org.call(
        "POST",
        f"{V}/sobjects/User",
        {
            "Username": "b@example.com",
            "FirstName": "Bo",
            "LastName": "Li",
            "Email": "b@example.com",
        },
    )
    assert response.status == 201
    record = org.record("User", response.body["id"])
    assert (record["Name"], record["IsActive"]) == ("Bo Li", True)


def test_default_caller_is_the_first_user_without_the_bot() -> None:
    org = Org()
    del org.data.records["User"][org.bot]
    response = org.call("POST", f"{V}/sobjects/Account", {"Name": "Solo"})
    assert org.record("Account", response.body["id"])["CreatedById"] == org.alice


NEW_OPP = {"Name": "N", "StageName": "Prospecting", "CloseDate": "2025-07-01"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {**NEW_OPP, "Bogus__c": 1},
            {
                "message": "No such column 'Bogus__c' on sobject of type Opportunity",
                "errorCode": "INVALID_FIELD",
                "fields": [],
            },
        ),
        (
            {**NEW_OPP, "IsWon": True, "IsClosed": True},
            {
                "message": "Unable to create/update fields: IsWon, IsClosed. Please check the security "
                "settings of this field and verify that it is read level editable for your profile or "
                "permission set.",
                "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                "fields": ["IsWon", "IsClosed"],
            },
        ),
        (
            {**NEW_OPP, "StageName": "Won-ish"},
            {
                "message": "bad value for restricted picklist field: Won-ish",
                "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "fields": ["StageName"],
            },
        ),
        (
            {**NEW_OPP, "AccountId": "xyz"},
            {
                "message": "Account ID: id value of incorrect type: xyz",
                "errorCode": "MALFORMED_ID",
                "fields": ["AccountId"],
            },
        ),
        (
            {**NEW_OPP, "AccountId": "001000000000000AAA"},
            {
                "message": "invalid cross reference id",
                "errorCode": "INVALID_CROSS_REFERENCE_KEY",
                "fields": ["AccountId"],
            },
        ),
        (
            {"Amount": 5},
            {
                "message": "Required fields are missing: [Name, StageName, CloseDate]",
                "errorCode": "REQUIRED_FIELD_MISSING",
                "fields": ["Name", "StageName", "CloseDate"],
            },
        ),
        (
            {**NEW_OPP, "Name": ""},
            {
                "message": "Required fields are missing: [Name]",
                "errorCode": "REQUIRED_FIELD_MISSING",
                "fields": ["Name"],
            },
        ),
        (
            {**NEW_OPP, "Id": "006000000000000AAA"},
            {
                "message": "Record ID: cannot specify Id in an insert call",
                "errorCode": "INVALID_FIELD",
                "fields": ["Id"],
            },
        ),
    ],
)
def test_create_validation_errors(body: dict[str, Any], expected: dict[str, Any]) -> None:
    org = Org()
    response = org.call("POST", f"{V}/sobjects/Opportunity", body)
    assert response.status == 400
    assert response.body == [expected]
    assert len(org.data.records["Opportunity"]) == 3


def test_reference_to_the_wrong_object_type_is_malformed_id() -> None:
    org = Org()
    response = org.call("POST", f"{V}/sobjects/Opportunity", {**NEW_OPP, "AccountId": org.alice})
    assert single_error(response)["errorCode"] == "MALFORMED_ID"


def test_text_longer_than_its_length_is_string_too_long() -> None:
    org = Org()
    response = org.call("PATCH", f"{V}/sobjects/Opportunity/{org.opps[0]}", {"Description": "x" * 32001})
    assert response.status == 400
    error = single_error(response)
    assert (error["errorCode"], error["fields"]) == ("STRING_TOO_LONG", ["Description"])
    assert error["message"].startswith("Description: data value too large: xxx")
    assert error["message"].endswith("(max length=32000)")
    assert org.call("PATCH", f"{V}/sobjects/Opportunity/{org.opps[0]}", {"Description": "x" * 32000}).status == 204


def test_bad_email_is_invalid_email_address() -> None:
    org = Org()
    response = org.call("PATCH", f"{V}/sobjects/User/{org.alice}", {"Email": "not-an-email"})
    assert single_error(response) == {
        "message": "Email: invalid email address: not-an-email",
        "errorCode": "INVALID_EMAIL_ADDRESS",
        "fields": ["Email"],
    }


def test_wrong_json_type_is_json_parser_error() -> None:
    org = Org()
    response = org.call("POST", f"{V}/sobjects/Opportunity", raw=b'{"Name": "N", "CloseDate": "next week"}')
    assert response.status == 400
    error = single_error(response)
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    assert error["message"] == (
        "Cannot deserialize instance of date from VALUE_STRING value next week "
        "or request may be missing a required field at [line:1, column:39]"
    )
    amount = org.call("PATCH", f"{V}/sobjects/Opportunity/{org.opps[0]}", {"Amount": "lots"})
    assert "instance of currency from VALUE_STRING value lots" in single_error(amount)["message"]
    flag = org.call("PATCH", f"{V}/sobjects/User/{org.alice}", {"IsActive": [True]})
    assert single_error(flag)["errorCode"] == "JSON_PARSER_ERROR"


def test_malformed_or_missing_json_body() -> None:
    org = Org()
    broken = org.call("POST", f"{V}/sobjects/Account", raw=b'{"Name": ')
    assert single_error(broken)["errorCode"] == "JSON_PARSER_ERROR"
    assert "[line:1, column:" in single_error(broken)["message"]
    empty = org.call("POST", f"{V}/sobjects/Account", raw=b"")
    assert single_error(empty) == {
        "message": "The HTTP entity body is required, but this request has no entity body.",
        "errorCode": "JSON_PARSER_ERROR",
    }
    listed = org.call("POST", f"{V}/sobjects/Account", [{"Name": "x"}])
    assert "Cannot deserialize instance of Account from START_ARRAY" in single_error(listed)["message"]


def test_update_stamps_at_ms_precision_and_strictly_increasing() -> None:
    org = Org()
    org.clock.set(NOW + timedelta(microseconds=987_654))
    path = f"{V}/sobjects/Opportunity/{org.opps[0]}"
    assert org.call("PATCH", path, {"StageName": "Closed Lost"}).status == 204
    record = org.record("Opportunity", org.opps[0])
    first = record["SystemModstamp"]
    assert first == NOW + timedelta(microseconds=987_000)
    assert record["LastModifiedDate"] == first
    assert (record["IsClosed"], record["IsWon"]) == (True, False)
    assert record["LastModifiedById"] == org.bot
    assert record["CreatedDate"] == EARLIER
    org.call("PATCH", path, {"Amount": 1})
    org.call("PATCH", f"{V}/sobjects/Opportunity/{org.opps[1]}", {"Amount": 1})
    second = record["SystemModstamp"]
    third = org.record("Opportunity", org.opps[1])["SystemModstamp"]
    assert first < second < third
    assert (second - first, third - second) == (timedelta(milliseconds=1), timedelta(milliseconds=1))
    assert org.call("GET", path).body["SystemModstamp"] == "2025-03-10T12:00:00.988+0000"


def test_stamps_never_go_back_when_the_clock_does() -> None:
    org = Org()
    org.call("PATCH", f"{V}/sobjects/Opportunity/{org.opps[0]}", {"Amount": 1})
    org.clock.set(NOW - timedelta(days=10))
    org.call("PATCH", f"{V}/sobjects/Opportunity/{org.opps[1]}", {"Amount": 1})
    assert org.record("Opportunity", org.opps[1])["SystemModstamp"] == NOW + timedelta(milliseconds=1)


def test_update_errors() -> None:
    org = Org()
    required = org.call("PATCH", f"{V}/sobjects/Opportunity/{org.opps[0]}", {"StageName": None})
    assert single_error(required)["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert org.record("Opportunity", org.opps[0])["StageName"] == "Prospecting"
    malformed = org.call("PATCH", f"{V}/sobjects/Opportunity/123", {"Amount": 1})
    assert malformed.status == 400
    assert single_error(malformed) == {
        "message": "Opportunity ID: id value of incorrect type: 123",
        "errorCode": "MALFORMED_ID",
        "fields": ["Id"],
    }
    missing = org.call("PATCH", f"{V}/sobjects/Opportunity/006000000000000AAA", {"Amount": 1})
    assert missing.status == 404
    other_id = org.call("PATCH", f"{V}/sobjects/Opportunity/{org.opps[0]}", {"Id": org.opps[1], "Amount": 1})
    assert single_error(other_id)["errorCode"] == "INVALID_FIELD"


def test_if_unmodified_since_guards_updates_at_second_precision() -> None:
    org = Org()
    path = f"{V}/sobjects/Opportunity/{org.opps[0]}"
    org.clock.set(NOW + timedelta(milliseconds=400))
    org.call("PATCH", path, {"Amount": 1})
    stale = {"If-Unmodified-Since": format_datetime(NOW - timedelta(seconds=1), usegmt=True)}
    refused = org.call("PATCH", path, {"Amount": 2}, headers=stale)
    assert refused.status == 412
    assert single_error(refused)["errorCode"] == "PRECONDITION_FAILED"
    assert single_error(refused)["message"].startswith("The requested resource's state has changed since")
    assert org.record("Opportunity", org.opps[0])["Amount"] == 1
    same_second = {"If-Unmodified-Since": format_datetime(NOW, usegmt=True)}
    assert org.call("PATCH", path, {"Amount": 3}, headers=same_second).status == 204
    garbage = org.call("PATCH", path, {"Amount": 4}, headers={"If-Unmodified-Since": "yesterday"})
    assert garbage.status == 400
    assert org.record("Opportunity", org.opps[0])["Amount"] == 3


def test_if_match_etag_guards_updates() -> None:
    org = Org()
    path = f"{V}/sobjects/Account/{org.account}"
    etag = org.call("GET", path).headers["ETag"]
    assert org.call("PATCH", path, {"Name": "Acme 2"}, headers={"If-Match": etag}).status == 204
    assert org.call("PATCH", path, {"Name": "Acme 3"}, headers={"If-Match": etag}).status == 412
    assert org.record("Account", org.account)["Name"] == "Acme 2"
    fresh = org.call("GET", path).headers["ETag"]
    assert org.call("GET", path, headers={"If-None-Match": fresh}).status == 304


def test_delete_moves_the_record_to_the_recycle_bin() -> None:
    org = Org()
    path = f"{V}/sobjects/Opportunity/{org.opps[0]}"
    assert org.call("DELETE", path).status == 204
    assert org.opps[0] not in org.data.records["Opportunity"]
    gone = org.data.deleted["Opportunity"][org.opps[0]]
    assert gone["IsDeleted"] is True
    assert gone["SystemModstamp"] == NOW
    assert org.call("GET", path).status == 404
    again = org.call("DELETE", path)
    assert again.status == 404
    assert single_error(again)["errorCode"] == "ENTITY_IS_DELETED"
    assert single_error(org.call("PATCH", path, {"Amount": 1}))["errorCode"] == "ENTITY_IS_DELETED"
    user = org.call("DELETE", f"{V}/sobjects/User/{org.alice}")
    assert single_error(user)["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert org.alice in org.data.records["User"]


# --- sObject Collections ----------------------------------------------------------------------


def opp(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Opportunity"}, "id": record_id, **fields}


def test_collection_update_reports_each_record_in_order() -> None:
    org = Org()
    response = org.call(
        "PATCH",
        f"{V}/composite/sobjects",
        {
            "allOrNone": False,
            "records": [
                opp(org.opps[0], Amount=10),
                opp(org.opps[1], StageName="Nope"),
                opp(org.opps[2], Execution_Health__c="Red"),
            ],
        },
    )
    assert response.status == 200
    assert response.body == [
        {"id": org.opps[0], "success": True, "errors": []},
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    "message": "bad value for restricted picklist field: Nope",
                    "fields": ["StageName"],
                }
            ],
        },
        {"id": org.opps[2], "success": True, "errors": []},
    ]
    assert org.record("Opportunity", org.opps[0])["Amount"] == 10
    assert org.record("Opportunity", org.opps[2])["Execution_Health__c"] == "Red"


def test_collection_all_or_none_rolls_back_everything() -> None:
    org = Org()
    before = {i: dict(org.record("Opportunity", i)) for i in org.opps}
    response = org.call(
        "PATCH",
        f"{V}/composite/sobjects",
        {
            "allOrNone": True,
            "records": [
                opp(org.opps[0], Amount=10),
                opp(org.opps[1], Bogus=1),
                opp(org.opps[2], Amount=30),
            ],
        },
    )
    assert response.status == 200
    rolled = {
        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
        "fields": [],
    }
    assert response.body[0] == {"success": False, "errors": [rolled]}
    assert response.body[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert response.body[2] == {"success": False, "errors": [rolled]}
    assert {i: org.record("Opportunity", i) for i in org.opps} == before


def test_collection_create_and_its_rollback() -> None:
    org = Org()
    new = {"attributes": {"type": "Account"}, "Name": "Globex"}
    created = org.call("POST", f"{V}/composite/sobjects", {"records": [new, {**new, "Name": "Initech"}]})
    assert [r["success"] for r in created.body] == [True, True]
    assert len(org.data.records["Account"]) == 3
    failed = org.call(
        "POST",
        f"{V}/composite/sobjects",
        {
            "allOrNone": True,
            "records": [
                new,
                {"attributes": {"type": "Account"}},
            ],
        },
    )
    assert failed.body[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert failed.body[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert len(org.data.records["Account"]) == 3


def test_collection_caps_at_200_records() -> None:
    org = Org(opportunities=201)
    ok = org.call("PATCH", f"{V}/composite/sobjects", {"records": [opp(i, Amount=1) for i in org.opps[:200]]})
    assert ok.status == 200 and all(r["success"] for r in ok.body) and len(ok.body) == 200
    too_many = org.call("PATCH", f"{V}/composite/sobjects", {"records": [opp(i, Amount=2) for i in org.opps]})
    assert too_many.status == 400
    assert too_many.body == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]
    assert org.record("Opportunity", org.opps[0])["Amount"] == 1


def test_collection_per_record_shape_errors() -> None:
    org = Org()
    response = org.call(
        "PATCH",
        f"{V}/composite/sobjects",
        {
            "records": [
                {"attributes": {"type": "Opportunity"}, "Amount": 1},
                {"id": org.opps[0], "Amount": 1},
                opp("006000000000000AAA", Amount=1),
                opp(org.account, Amount=1),
                opp(org.opps[1], Amount=1),
                opp(org.opps[1], Amount=2),
            ]
        },
    )
    codes = [r["errors"][0]["statusCode"] if r["errors"] else None for r in response.body]
    assert codes == [
        "MISSING_ARGUMENT",
        "INVALID_TYPE",
        "INVALID_CROSS_REFERENCE_KEY",
        "MALFORMED_ID",
        None,
        "DUPLICATE_VALUE",
    ]
    assert response.body[3]["errors"][0]["fields"] == ["Id"]


def test_collection_type_error_fails_the_whole_request() -> None:
    org = Org()
    response = org.call(
        "PATCH",
        f"{V}/composite/sobjects",
        {
            "records": [
                opp(org.opps[0], Amount=1),
                opp(org.opps[1], CloseDate=20250101),
            ]
        },
    )
    assert response.status == 400
    assert single_error(response)["errorCode"] == "JSON_PARSER_ERROR"
    assert org.record("Opportunity", org.opps[0])["Amount"] is None


# --- Composite --------------------------------------------------------------------------------


def collection(records: list[dict[str, Any]], ref: str, method: str = "PATCH") -> dict[str, Any]:
    return {
        "method": method,
        "url": f"{V}/composite/sobjects",
        "referenceId": ref,
        "body": {"allOrNone": False, "records": records},
    }


def test_composite_runs_collections_in_one_call_with_a_result_per_subrequest() -> None:
    org = Org(opportunities=6)
    used = org.service.api_requests_used
    response = org.call(
        "POST",
        f"{V}/composite",
        {
            "compositeRequest": [
                collection([opp(i, Amount=5) for i in org.opps[:3]], "first"),
                collection([opp(org.opps[3], Amount=6), opp(org.opps[4], StageName="Nope")], "second"),
                {
                    "method": "GET",
                    "url": f"{V}/query?q=SELECT+Id,Amount+FROM+Opportunity+WHERE+Amount+=+5",
                    "referenceId": "check",
                },
            ]
        },
    )
    assert response.status == 200
    results = response.body["compositeResponse"]
    assert [(r["referenceId"], r["httpStatusCode"]) for r in results] == [
        ("first", 200),
        ("second", 200),
        ("check", 200),
    ]
    assert [r["success"] for r in results[0]["body"]] == [True, True, True]
    assert results[1]["body"][0] == {"id": org.opps[3], "success": True, "errors": []}
    assert results[1]["body"][1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[2]["body"]["totalSize"] == 3  # later subrequests see earlier ones
    assert all("Content-Length" not in r["httpHeaders"] for r in results)
    assert org.service.api_requests_used == used + 1  # the whole composite is one API call
    assert org.record("Opportunity", org.opps[3])["Amount"] == 6


def test_composite_limits_25_subrequests_and_5_collections_or_queries() -> None:
    org = Org(opportunities=26)
    too_many = org.call(
        "POST",
        f"{V}/composite",
        {
            "compositeRequest": [
                {
                    "method": "PATCH",
                    "url": f"{V}/sobjects/Opportunity/{i}",
                    "referenceId": f"r{n}",
                    "body": {"Amount": 1},
                }
                for n, i in enumerate(org.opps)
            ]
        },
    )
    assert too_many.status == 400 and single_error(too_many)["errorCode"] == "LIMIT_EXCEEDED"
    six = org.call(
        "POST",
        f"{V}/composite",
        {"compositeRequest": [collection([opp(org.opps[n], Amount=2)], f"c{n}") for n in range(6)]},
    )
    assert six.status == 400 and single_error(six)["errorCode"] == "LIMIT_EXCEEDED"
    assert "5 sObject Collections" in single_error(six)["message"]
    assert all(org.record("Opportunity", i)["Amount"] is None for i in org.opps)  # nothing ran
    five = org.call(
        "POST",
        f"{V}/composite",
        {"compositeRequest": [collection([opp(org.opps[n], Amount=2)], f"c{n}") for n in range(5)]},
    )
    assert five.status == 200 and len(five.body["compositeResponse"]) == 5
    duplicate = org.call(
        "POST",
        f"{V}/composite",
        {
            "compositeRequest": [
                collection([opp(org.opps[0], Amount=3)], "same"),
                collection([opp(org.opps[1], Amount=3)], "same"),
            ]
        },
    )
    assert duplicate.status == 400 and single_error(duplicate)["errorCode"] == "INVALID_API_INPUT"
    empty = org.call("POST", f"{V}/composite", {"compositeRequest": []})
    assert empty.status == 400


def test_composite_references_and_all_or_none_rollback() -> None:
    org = Org()
    chained = org.call(
        "POST",
        f"{V}/composite",
        {
            "compositeRequest": [
                {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acct", "body": {"Name": "Globex"}},
                {"method": "GET", "url": f"{V}/sobjects/Account/@{{acct.id}}?fields=Name", "referenceId": "back"},
                {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "bad", "body": {}},
                {"method": "GET", "url": f"{V}/sobjects/Account/@{{bad.id}}", "referenceId": "after_bad"},
            ]
        },
    )
    results = chained.body["compositeResponse"]
    assert results[0]["httpStatusCode"] == 201 and results[0]["body"]["success"] is True
    assert results[0]["httpHeaders"]["Location"] == f"{V}/sobjects/Account/{results[0]['body']['id']}"
    assert results[1]["httpStatusCode"] == 200 and results[1]["body"]["Name"] == "Globex"
    assert results[2]["httpStatusCode"] == 400 and results[2]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert results[3]["httpStatusCode"] == 400 and results[3]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    accounts = len(org.data.records["Account"])
    before = {i: dict(org.record("Opportunity", i)) for i in org.opps}
    rolled = org.call(
        "POST",
        f"{V}/composite",
        {
            "allOrNone": True,
            "compositeRequest": [
                collection([opp(org.opps[0], Amount=9)], "ok"),
                {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "made", "body": {"Name": "Initech"}},
                {
                    "method": "PATCH",
                    "url": f"{V}/sobjects/Opportunity/{org.opps[1]}",
                    "referenceId": "fails",
                    "body": {"Bogus__c": 1},
                },
                collection([opp(org.opps[2], Amount=9)], "never"),
            ],
        },
    )
    results = rolled.body["compositeResponse"]
    assert rolled.status == 200
    assert [(r["referenceId"], r["httpStatusCode"]) for r in results] == [
        ("ok", 400),
        ("made", 400),
        ("fails", 400),
        ("never", 400),
    ]
    assert results[2]["body"][0]["errorCode"] == "INVALID_FIELD"
    assert {results[n]["body"][0]["errorCode"] for n in (0, 1, 3)} == {"PROCESSING_HALTED"}
    assert {i: org.record("Opportunity", i) for i in org.opps} == before
    assert len(org.data.records["Account"]) == accounts


def test_composite_whole_request_errors() -> None:
    org = Org()
    bad_json = org.call("POST", f"{V}/composite", raw=b"{not json")
    assert bad_json.status == 400 and single_error(bad_json)["errorCode"] == "JSON_PARSER_ERROR"
    nested = org.call(
        "POST",
        f"{V}/composite",
        {
            "compositeRequest": [
                {"method": "POST", "url": f"{V}/composite", "referenceId": "inner", "body": {"compositeRequest": []}}
            ]
        },
    )
    assert nested.body["compositeResponse"][0]["httpStatusCode"] == 400
    unknown = org.call(
        "POST",
        f"{V}/composite",
        {"compositeRequest": [{"method": "GET", "url": f"{V}/nothing/here", "referenceId": "x"}]},
    )
    assert unknown.body["compositeResponse"][0]["httpStatusCode"] == 404
    listed = org.call("GET", f"{V}/composite")
    assert listed.status == 200 and listed.body["sobjects"] == f"{V}/composite/sobjects"


# --- faults -----------------------------------------------------------------------------------


def test_fault_responses_look_like_salesforce() -> None:
    service = Org().service
    limited = service.fault_response("rate_limit", 3)
    assert limited.status == 403
    assert single_error(limited)["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert "Retry-After" not in limited.headers
    broken = service.fault_response("server_error", 3)
    assert (broken.status, broken.headers["Retry-After"]) == (503, "3")
    assert single_error(broken)["errorCode"] == "UNKNOWN_EXCEPTION"
    down = service.fault_response("unavailable", 5)
    assert down.status == 503 and isinstance(down.body, bytes)
    with pytest.raises(ValueError, match="unknown fault kind"):
        service.fault_response("meteor", 1)


# --- the real client, in process --------------------------------------------------------------


class InProcess(BaseAdapter):
    """A requests transport that hands each request to the service, so the real client runs unchanged."""

    def __init__(self, service: SalesforceService) -> None:
        super().__init__()
        self.service = service

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body or b""
        answer = self.service.handle(
            Request(
                request.method or "GET",
                url.path + (f"?{url.query}" if url.query else ""),
                dict(request.headers),
                body.encode() if isinstance(body, str) else body,
            )
        )
        response = requests.Response()
        response.status_code = answer.status
        response._content = answer.encode()
        response.headers = CaseInsensitiveDict(answer.headers)
        response.headers["Content-Type"] = answer.content_type() or "text/plain"
        response.url, response.request = request.url or "", request
        return response

    def close(self) -> None:
        """Nothing to release."""


def test_simple_salesforce_pages_writes_and_reads_usage() -> None:
    org = Org(opportunities=450)
    session = requests.Session()
    session.mount("https://", InProcess(org.service))
    sf = Salesforce(instance_url="https://127.0.0.1:9", session_id=TOKEN, session=session, version="59.0")
    result = sf.query_all("SELECT Id, Owner.Name FROM Opportunity", headers={"Sforce-Query-Options": "batchSize=200"})
    assert result["totalSize"] == len(result["records"]) == 450
    assert result["records"][0]["Owner"]["Name"] == "Alice Ng"
    assert sf.api_usage["api-usage"].used == 3
    assert sf.Opportunity.update(org.opps[0], {"StageName": "Closed Won"}) == 204
    assert sf.Opportunity.get(org.opps[0])["IsWon"] is True
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Opportunity.update(org.opps[0], {"IsWon": False})
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
