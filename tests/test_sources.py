"""Reading the demo organisation through the shipped files: the initiatives equal the seed's truth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from trackerbridge.config.project import Project
from trackerbridge.model import Link, Size, Stage
from trackerbridge.sandbox import Sandbox
from trackerbridge.sources import open_source, sync_bindings

ROOT = Path(__file__).resolve().parent.parent
STAGES = {
    "Backlog": Stage.DECIDE,
    "Under Review": Stage.DECIDE,
    "In Progress": Stage.BUILD,
    "Rolling Out": Stage.LAUNCH,
    "Done": Stage.DONE,
    "Won't Do": Stage.CANCELLED,
}


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_jira_initiatives_equal_the_emulators_data(flavor: str, sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(jira_flavor=flavor)
    source = open_source(Project.load(ROOT), "sandbox-jira", sb.info.as_env())
    initiatives = {i.key: i for i in source.read()}
    data = sb.jira_data
    assert set(initiatives) == set(data.issues)
    integrator = data.field_by_clause("Integrator")
    opportunity = data.field_by_clause("Salesforce opportunity id")
    assert integrator is not None and opportunity is not None
    for key, issue in data.issues.items():
        i = initiatives[key]
        assert i.title == issue.fields["summary"]
        assert i.stage is STAGES[data.statuses[issue.fields["status"]].name]
        assignee = issue.fields["assignee"]
        assert (i.owner.email if i.owner else None) == (data.users[assignee].email if assignee else None)
        person = issue.fields[integrator.id]
        assert (i.integrator.email if i.integrator else None) == (data.users[person].email if person else None)
        due = issue.fields["duedate"]
        assert i.end == (date.fromisoformat(due) if due else None)
        assert i.size is (Size.MAJOR if issue.fields["priority"] in ("Highest", "High") else Size.MINOR)
        assert i.labels == frozenset(issue.fields["labels"])
        assert i.updated == issue.fields["updated"].replace(
            microsecond=issue.fields["updated"].microsecond // 1000 * 1000
        )
        linked = issue.fields[opportunity.id]
        assert i.links == ((Link("salesforce", linked),) if linked else ())
        assert i.data_errors == []


def test_salesforce_initiatives_equal_the_emulators_data(sandbox: Sandbox) -> None:
    source = open_source(Project.load(ROOT), "sandbox-salesforce", sandbox.info.as_env())
    initiatives = {i.key: i for i in source.read()}
    records = sandbox.salesforce_data.records
    assert set(initiatives) == set(records["Opportunity"])
    for opp_id, opp in records["Opportunity"].items():
        i = initiatives[opp_id]
        assert i.owner is not None and i.owner.email == records["User"][opp["OwnerId"]]["Email"]
        assert i.end == opp["CloseDate"]
        assert (i.stage is Stage.DONE) == (opp["StageName"] == "Closed Won")
        assert i.size is (Size.MAJOR if (opp["Amount"] or 0) >= 100000 else Size.MINOR)
        epic = opp["Jira_Epic_Key__c"]
        assert i.links == ((Link("jira", epic),) if epic else ())
        delivery_owner = opp["Delivery_Owner__c"]
        assert (i.extra["delivery_owner"].ref if i.extra["delivery_owner"] else None) == delivery_owner


def test_sync_bindings_join_both_mappings(sandbox: Sandbox) -> None:
    project = Project.load(ROOT)
    env = sandbox.info.as_env()
    sources = [open_source(project, name, env) for name in ("sandbox-jira", "sandbox-salesforce")]
    bindings = {(b.source_mapping, b.attribute): b for b in sync_bindings(project, sources)}
    stage = bindings[("demo-jira", "stage")]
    assert (stage.target_mapping, stage.target_field, stage.values["build"]) == (
        "demo-salesforce",
        "Delivery_Status__c",
        "Build",
    )
    owner = bindings[("demo-salesforce", "owner")]
    assert owner.target_field.startswith("customfield_") and owner.target_name == "Account owner"
