"""Salesforce field history for slips: the sandbox records tracked fields' changes and serves them as Salesforce does
(OpportunityFieldHistory with OpportunityId, a custom object's __History with ParentId), the connector reads them
when the mapping says `history: true` (one query per 200 records), and TB117 and the report's slips use them like
Jira's changelog. Through the real simple-salesforce client against the sandbox."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from simple_salesforce import SalesforceMalformedRequest

from test_connector_salesforce import client, connector, fields
from trackerbridge.audit import run_audit
from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import ScopeRejected
from trackerbridge.connectors.salesforce.history import CHUNK, history_source
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.salesforce_history import history_names, track
from trackerbridge.sandbox.salesforce_model import DATE, STRING, TEXTAREA, SField, SObjectType, _system_fields

HISTORY_FIELDS = {
    "Id",
    "OpportunityId",
    "Field",
    "DataType",
    "OldValue",
    "NewValue",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
}


def open_opportunities(sb: Sandbox, n: int) -> list[str]:
    """Open deals (active initiatives for TB117) whose close date is still ahead, by Id."""
    today = sb.clock.now().date()
    found = sorted(
        i
        for i, r in sb.salesforce_data.records["Opportunity"].items()
        if not r["StageName"].startswith("Closed") and r["CloseDate"] and r["CloseDate"] > today
    )
    assert len(found) >= n
    return found[:n]


def with_reason_field(sb: Sandbox) -> None:
    """A 'Slip reason' long text field on opportunities, tracked like the close date (Setup, both)."""
    sb.salesforce_data.types["Opportunity"].add_field(SField("Slip_Reason__c", "Slip Reason", TEXTAREA, length=32768))
    track(sb.salesforce_data, "Opportunity", "Slip_Reason__c")


def initiative_object(sb: Sandbox, *, tracked: bool) -> None:
    """A custom object Initiative__c (as in examples/), with or without history tracking on its end date."""
    fields_ = [SField("Name", "Name", STRING, length=80), SField("End_Date__c", "End Date", DATE)]
    sb.salesforce_data.types["Initiative__c"] = SObjectType(
        "Initiative__c", "Initiative", "a01", {f.name: f for f in _system_fields() + fields_}, custom=True
    )
    sb.salesforce_data.records["Initiative__c"] = {}
    if tracked:
        track(sb.salesforce_data, "Initiative__c", "End_Date__c")


def test_the_sandbox_records_tracked_changes_and_serves_them_as_salesforce_does(sandbox: Sandbox) -> None:
    sf = client(sandbox)
    [opp] = open_opportunities(sandbox, 1)
    first = sandbox.salesforce_data.records["Opportunity"][opp]["CloseDate"]
    sf.Opportunity.update(opp, {"CloseDate": (first + timedelta(days=30)).isoformat(), "Description": "untracked"})
    sandbox.clock.advance(timedelta(hours=2))
    sf.Opportunity.update(opp, {"CloseDate": (first + timedelta(days=60)).isoformat()})
    rows = sf.query_all(
        f"SELECT OpportunityId, Field, DataType, OldValue, NewValue, CreatedDate, CreatedById, "
        f"CreatedBy.Email FROM OpportunityFieldHistory WHERE OpportunityId = '{opp}' "
        "ORDER BY CreatedDate"
    )["records"]
    assert [(r["Field"], r["OldValue"], r["NewValue"]) for r in rows] == [
        ("CloseDate", first.isoformat(), (first + timedelta(days=30)).isoformat()),
        ("CloseDate", (first + timedelta(days=30)).isoformat(), (first + timedelta(days=60)).isoformat()),
    ]
    assert {r["DataType"] for r in rows} == {"date"} and rows[0]["CreatedDate"] < rows[1]["CreatedDate"]
    assert rows[0]["OpportunityId"] == opp and rows[0]["CreatedBy"]["Email"] == "trackerbridge-bot@example.com"
    described = sf.OpportunityFieldHistory.describe()
    assert {f["name"] for f in described["fields"]} == HISTORY_FIELDS
    assert {f["name"]: f["type"] for f in described["fields"]}["NewValue"] == "anyType"
    assert described["createable"] is False and described["keyPrefix"] == "017"
    with pytest.raises(SalesforceMalformedRequest):
        sf.OpportunityFieldHistory.create({"Field": "CloseDate", "OpportunityId": opp})
    created = sf.Opportunity.create({"Name": "New", "StageName": "Prospecting", "CloseDate": "2027-01-31"})["id"]
    born = sf.query(f"SELECT Field, OldValue, NewValue FROM OpportunityFieldHistory WHERE OpportunityId = '{created}'")
    assert [(r["Field"], r["OldValue"], r["NewValue"]) for r in born["records"]] == [("created", None, None)]


def test_a_custom_objects_history_is_its___history_with_parentid(sandbox: Sandbox) -> None:
    initiative_object(sandbox, tracked=True)
    sf = client(sandbox)
    rid = sf.Initiative__c.create({"Name": "Checkout", "End_Date__c": "2027-02-01"})["id"]
    sf.Initiative__c.update(rid, {"End_Date__c": "2027-03-01", "Name": "Checkout v2"})
    rows = sf.query(
        f"SELECT ParentId, Field, OldValue, NewValue, Parent.Name FROM Initiative__History "
        f"WHERE ParentId = '{rid}' AND Field = 'End_Date__c'"
    )["records"]
    assert [(r["ParentId"], r["OldValue"], r["NewValue"], r["Parent"]["Name"]) for r in rows] == [
        (rid, "2027-02-01", "2027-03-01", "Checkout v2")
    ]
    assert history_source("Initiative__c") == history_names("Initiative__c")[:2] == ("Initiative__History", "ParentId")
    assert history_source("Opportunity") == history_names("Opportunity")[:2]


def test_the_connector_reads_history_with_one_query_per_200_records(sandbox: Sandbox) -> None:
    sf = client(sandbox)
    [opp] = open_opportunities(sandbox, 1)
    first = sandbox.salesforce_data.records["Opportunity"][opp]["CloseDate"]
    sf.Opportunity.update(opp, {"CloseDate": (first + timedelta(days=14)).isoformat()})
    c = connector(sandbox)
    wanted = fields(c, "CloseDate", "StageName", "Name")
    c.pull(wanted)  # describe and who-am-I, so the counts below are the queries alone
    before = c.calls["GET query"]
    plain = list(c.pull(wanted))
    queries = c.calls["GET query"] - before
    before = c.calls["GET query"]
    read = list(c.pull(wanted, history=True))
    with_history = c.calls["GET query"] - before
    assert len(read) == len(plain) > CHUNK, "the demo has more opportunities than one chunk"
    assert with_history - queries == math.ceil(len(read) / CHUNK) == 2
    assert all(r.history == [] for r in plain)
    moved = next(r for r in read if r.key == opp)
    assert [(h["items"][0]["field"], h["items"][0]["from"], h["items"][0]["to"]) for h in moved.history] == [
        ("CloseDate", first.isoformat(), (first + timedelta(days=14)).isoformat())
    ]
    assert moved.history[0]["author"].email == "trackerbridge-bot@example.com"
    assert sum(bool(r.history) for r in read) == 1, "only the changed record has history (created rows are unmapped)"


def test_history_on_an_object_without_tracking_is_a_configuration_error(sandbox: Sandbox) -> None:
    initiative_object(sandbox, tracked=False)
    client(sandbox).Initiative__c.create({"Name": "Checkout", "End_Date__c": "2027-02-01"})
    c = connector(sandbox, sobject="Initiative__c")
    with pytest.raises(ScopeRejected) as caught:
        list(c.pull(fields(c, "Name", "End_Date__c"), history=True))
    assert caught.value.exit_code == 2
    assert "Initiative__History" in str(caught.value) and "Field History Tracking" in str(caught.value)


def history_project(project: Path) -> Path:
    """The shipped project, with the Salesforce mapping reading field history and a reason, and TB117 on deals."""
    mapping = project / "mappings" / "demo-salesforce.yaml"
    text = mapping.read_text(encoding="utf-8").replace("extra:\n", "extra:\n  slip_reason: Slip_Reason__c\n", 1)
    mapping.write_text(text + "history: true\n", encoding="utf-8")
    config = project / "trackerbridge.yaml"
    text = config.read_text(encoding="utf-8")
    assert "select: [TB110, TB111, TB113, TB115, TB116]" in text
    # every rule, so the deals count as initiatives (the report's definition: the owner rule applies to them)
    config.write_text(text.replace("select: [TB110, TB111, TB113, TB115, TB116]", "select: [TB]"), encoding="utf-8")
    return project


def test_tb117_and_the_slips_section_read_salesforce_field_history(sandbox: Sandbox, project: Path) -> None:
    with_reason_field(sandbox)
    sf = client(sandbox)
    silent, explained, later, pulled_in = open_opportunities(sandbox, 4)
    first = {
        k: sandbox.salesforce_data.records["Opportunity"][k]["CloseDate"] for k in (silent, explained, later, pulled_in)
    }

    def move(key: str, days: int, **more: str) -> None:
        sf.Opportunity.update(key, {"CloseDate": (first[key] + timedelta(days=days)).isoformat(), **more})

    move(silent, 21)
    move(explained, 10, Slip_Reason__c="Customer asked for a later go-live")
    move(later, 35)
    move(pulled_in, -3)
    sandbox.clock.advance(timedelta(hours=3))
    sf.Opportunity.update(later, {"Slip_Reason__c": "Legal review took longer"})
    sandbox.clock.advance(timedelta(hours=1))
    result = run_audit(Project.load(history_project(project)), [], sandbox.clock.now(), sandbox.info.as_env())
    flagged = {f.key for f in result.findings if f.code == "TB117" and f.waived_by is None}
    assert silent in flagged and not {explained, later, pulled_in} & flagged
    by_key = {i.key: i for i in result.initiatives}
    assert [c.attribute for c in by_key[silent].history] == ["end"]
    assert [(c.before, c.after) for c in by_key[silent].history] == [(first[silent], first[silent] + timedelta(21))]
    out = project / "report.json"
    report = CliRunner().invoke(
        main,
        [
            "report",
            "--pull",
            "--project",
            str(project),
            "--as-of",
            sandbox.clock.now().isoformat(),
            "--output",
            str(out),
            "--state",
            f"sqlite:///{project / 'absent.db'}",
        ],
        env=sandbox.info.as_env(),
    )
    assert report.exit_code == 0, report.stderr
    slips = {s["record"]["key"]: s for s in json.loads(out.read_text())["slips"]["items"]}
    assert (
        slips[silent]["baseline"],
        slips[silent]["baseline_from"],
        slips[silent]["slip_days"],
        slips[silent]["moves"],
        slips[silent]["reason"],
    ) == (first[silent].isoformat(), "history", 21, 1, None)
    assert slips[explained]["reason"] == "Customer asked for a later go-live" and slips[explained]["slip_days"] == 10
    assert slips[later]["reason"] == "Legal review took longer", "a reason added after the move covers it"
    assert pulled_in not in slips, "pulled in is no slip"
    assert isinstance(date.fromisoformat(slips[later]["last_moved"][:10]), date)
