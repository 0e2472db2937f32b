"""The emulated Salesforce org through the real `simple_salesforce.Salesforce` client over HTTPS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceMalformedRequest
from simple_salesforce.format import format_soql

from trackerbridge.net import session_for
from trackerbridge.sandbox import Sandbox


def client(sb: Sandbox) -> Salesforce:
    info = sb.info
    return Salesforce(
        session_id=info.salesforce_token, instance_url=info.salesforce_url, session=session_for(info.ca_bundle)
    )


def calls(sb: Sandbox, suffix: str, method: str = "GET") -> int:
    return sum(r.method == method and r.endpoint.endswith(suffix) for r in sb.accounting.records())


def test_query_all_iter_follows_next_records_url_across_pages(sandbox_factory: Callable[..., Sandbox]) -> None:
    sandbox = sandbox_factory(size=1000)
    sf = client(sandbox)
    expected = sorted(sandbox.salesforce_data.records["Opportunity"])
    sandbox.accounting.reset()
    rows = list(
        sf.query_all_iter(
            "SELECT Id, Name, Owner.Email FROM Opportunity ORDER BY Id",
            headers={"Sforce-Query-Options": "batchSize=200"},
        )
    )
    assert [r["Id"] for r in rows] == expected
    assert rows[0]["attributes"]["type"] == "Opportunity"
    assert "Email" in rows[0]["Owner"]
    first_pages = calls(sandbox, "/query")
    more_pages = sum(r.method == "GET" and "/query/" in r.endpoint for r in sandbox.accounting.records())
    assert first_pages == 1
    assert 1 + more_pages == -(-len(expected) // 200) >= 3


def test_default_batch_is_2000_records(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size=4000)
    sf = client(sb)
    first = sf.query("SELECT Id FROM Opportunity")
    assert len(first["records"]) == 2000
    assert first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    assert first["totalSize"] == len(sb.salesforce_data.records["Opportunity"])


def test_describe_reports_types_updateability_and_picklists(sandbox: Sandbox) -> None:
    described = client(sandbox).Opportunity.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["keyPrefix"] == "006"
    assert fields["Execution_Health__c"]["type"] == "picklist"
    assert [v["value"] for v in fields["Execution_Health__c"]["picklistValues"]] == ["Green", "Amber", "Red"]
    assert fields["Execution_Health__c"]["updateable"] is True
    assert fields["IsWon"]["updateable"] is False
    assert fields["Delivery_Owner__c"]["referenceTo"] == ["User"]
    assert fields["Delivery_Owner__c"]["relationshipName"] == "Delivery_Owner__r"


def test_update_maintains_last_modified_with_millisecond_precision(sandbox: Sandbox) -> None:
    sf = client(sandbox)
    opp_id = next(iter(sandbox.salesforce_data.records["Opportunity"]))
    before = sf.Opportunity.get(opp_id)
    sandbox.clock.advance(timedelta(seconds=3, milliseconds=250))
    assert sf.Opportunity.update(opp_id, {"Execution_Health__c": "Red"}) == 204
    after = sf.Opportunity.get(opp_id)
    assert after["Execution_Health__c"] == "Red"
    assert after["LastModifiedDate"] > before["LastModifiedDate"]
    assert after["LastModifiedDate"] == "2026-11-02T09:30:03.250+0000"  # the pinned test clock + 3.25 s
    assert after["SystemModstamp"] == after["LastModifiedDate"]
    sf.query("SELECT COUNT() FROM User")
    assert sf.api_usage["api-usage"].used == sandbox.salesforce.api_requests_used


def test_composite_patch_reports_each_record(sandbox: Sandbox) -> None:
    sf = client(sandbox)
    ids = list(sandbox.salesforce_data.records["Opportunity"])[:3]
    payload = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Opportunity"}, "id": ids[0], "Execution_Health__c": "Amber"},
            {"attributes": {"type": "Opportunity"}, "id": ids[1], "Execution_Health__c": "Purple"},
            {"attributes": {"type": "Opportunity"}, "id": ids[2], "Health_Reasons__c": "no owner"},
        ],
    }
    results = sf.restful("composite/sobjects", method="PATCH", json=payload)
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[1]["errors"][0]["fields"] == ["Execution_Health__c"]
    records = sandbox.salesforce_data.records["Opportunity"]
    assert records[ids[0]]["Execution_Health__c"] == "Amber"
    assert records[ids[2]]["Health_Reasons__c"] == "no owner"


def test_composite_refuses_more_than_200_records(sandbox: Sandbox) -> None:
    sf = client(sandbox)
    ids = list(sandbox.salesforce_data.records["Opportunity"])[:201]
    payload = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Opportunity"}, "id": i, "Execution_Health__c": "Green"} for i in ids],
    }
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="PATCH", json=payload)
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_soql_values_quoted_by_simple_salesforce_round_trip(sandbox: Sandbox) -> None:
    sf = client(sandbox)
    name = next(iter(sandbox.salesforce_data.records["Opportunity"].values()))["Name"]
    found = sf.query(format_soql("SELECT Id, Name FROM Opportunity WHERE Name = {}", name))
    assert [r["Name"] for r in found["records"]] == [name]
    tricky = sf.query(format_soql("SELECT Id FROM Opportunity WHERE Name = {}", "O'Brien \\ 'quoted'"))
    assert tricky["totalSize"] == 0


def test_malformed_soql_is_a_400_with_salesforce_error_body(sandbox: Sandbox) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        client(sandbox).query("SELECT Id FROM Opportunity GROUP BY Name")
    assert caught.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_oauth_password_grant_issues_a_working_session(sandbox: Sandbox) -> None:
    info = sandbox.info
    token = requests.post(
        f"{info.salesforce_url}/services/oauth2/token",
        verify=info.ca_bundle,
        timeout=10,
        data={
            "grant_type": "password",
            "client_id": info.salesforce_client_id,
            "client_secret": info.salesforce_client_secret,
            "username": info.salesforce_username,
            "password": info.salesforce_password + info.salesforce_security_token,
        },
    ).json()
    assert token["instance_url"] == info.salesforce_url
    sf = Salesforce(
        session_id=token["access_token"], instance_url=token["instance_url"], session=session_for(info.ca_bundle)
    )
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] > 0


def test_composite_through_the_client_is_one_counted_call(sandbox_factory: Callable[..., Sandbox]) -> None:
    sandbox = sandbox_factory(size=1000)
    sf = client(sandbox)
    ids = sorted(sandbox.salesforce_data.records["Opportunity"])[:400]
    sandbox.accounting.reset()
    body = {
        "compositeRequest": [
            {
                "method": "PATCH",
                "url": "/services/data/v59.0/composite/sobjects",
                "referenceId": f"c{n}",
                "body": {
                    "allOrNone": False,
                    "records": [
                        {"attributes": {"type": "Opportunity"}, "id": i, "Execution_Health__c": "Amber"}
                        for i in ids[n * 200 : (n + 1) * 200]
                    ],
                },
            }
            for n in range(2)
        ]
    }
    answer = sf.restful("composite", method="POST", json=body)
    assert [r["httpStatusCode"] for r in answer["compositeResponse"]] == [200, 200]
    assert sum(len(r["body"]) for r in answer["compositeResponse"]) == 400
    records = sandbox.accounting.records()
    assert [(r.method, r.endpoint, r.status) for r in records] == [("POST", "/services/data/v{version}/composite", 200)]
    assert all(sandbox.salesforce_data.records["Opportunity"][i]["Execution_Health__c"] == "Amber" for i in ids)
