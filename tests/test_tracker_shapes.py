"""Odd-but-normal shapes real trackers send, produced by the sandbox and read through the real clients:
each becomes a correct value or a named data finding, never a wrong write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.audit import run_audit
from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.jira_model import Status


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(size=60)


def sync(sb: Sandbox, project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat(), *args], env=sb.info.as_env()
    )
    return result.exit_code, result.stdout, result.stderr


def field_id(sb: Sandbox, name: str) -> str:
    f = sb.jira_data.field_by_clause(name)
    assert f is not None
    return f.id


def written_keys(sb: Sandbox) -> set[str]:
    """Jira issues trackerbridge sent an edit to."""
    return {r.path.rsplit("/", 1)[-1].split("?")[0] for r in sb.accounting.records() if r.method == "PUT"}


def test_a_field_hidden_from_the_answer_is_a_finding_and_no_write(sb: Sandbox, project: Path) -> None:
    """Jira leaves a field out of an issue's `fields` when a field configuration hides it
    (https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issue-search/#api-rest-api-2-search-jql-get:
    "fields ... Fields not on the issue's screen or hidden are not returned"). Absent is not empty."""
    sb.jira_data.hidden_fields["OPS"] = {"assignee"}
    ops = sorted(k for k in sb.jira_data.issues if k.startswith("OPS-"))
    result = run_audit(Project.load(project), ["sandbox-jira"], sb.clock.now(), sb.info.as_env())
    by_key: dict[str, list[str]] = {}
    for f in result.findings:
        by_key.setdefault(f.key, []).append(f.code)
    for key in ops:
        assert by_key.get(key) == ["TB116"], key  # no TB101 "owner missing" on a blank that is not one
    message = next(f.message for f in result.findings if f.key == ops[0])
    assert "field 'Assignee' (assignee) is absent" in message
    code, _, err = sync(sb, project)
    assert code == 0, err
    health = field_id(sb, "Execution health")
    assert not written_keys(sb) & set(ops)
    assert all(sb.jira_data.issues[k].fields.get(health) is None for k in ops)
    assert all(not any(lb.startswith("health-") for lb in sb.jira_data.issues[k].fields["labels"]) for k in ops)
    dels = [k for k in sb.jira_data.issues if k.startswith("DEL-")]
    assert dels and all(sb.jira_data.issues[k].fields.get(health) for k in dels)  # the rest is written


def test_fields_null_is_unreadable_not_an_empty_record(sb: Sandbox, project: Path) -> None:
    """An issue in a search answer with `"fields": null` (seen when the caller lost permission between the
    query and the fetch) cannot be judged: one TB116 finding, no label, field or comment written."""
    key = sorted(sb.jira_data.issues)[0]
    sb.jira_data.null_fields.add(key)
    code, _, err = sync(sb, project)
    assert code == 0, err
    assert key not in written_keys(sb)
    issue = sb.jira_data.issues[key]
    assert not any(lb.startswith("health-") for lb in issue.fields["labels"])
    assert issue.fields.get(field_id(sb, "Execution health")) is None
    result = run_audit(Project.load(project), ["sandbox-jira"], sb.clock.now(), sb.info.as_env())
    found = [f for f in result.findings if f.key == key]
    assert [f.code for f in found] == ["TB116"]
    assert 'Jira answered with "fields": null' in found[0].message


def linked_epic(sb: Sandbox) -> tuple[str, str]:
    opportunity = field_id(sb, "Salesforce opportunity id")
    for key, issue in sorted(sb.jira_data.issues.items()):
        opp_id = issue.fields.get(opportunity)
        status = sb.jira_data.statuses[issue.fields["status"]].name
        if opp_id and sb.salesforce_data.get(opp_id) and status in ("In Progress", "Rolling Out"):
            return key, opp_id
    raise AssertionError("the demo links epics in build or launch to opportunities")


def test_a_status_missing_from_the_value_map_never_blanks_the_synced_field(sb: Sandbox, project: Path) -> None:
    """Delivery_Status__c keeps 'Build' or 'Launch' when the epic moves to a status the mapping does not know; the
    stop is reported (sync-held) and the epic carries a TB116 finding naming the status."""
    code, _, err = sync(sb, project)
    assert code == 0, err
    key, opp_id = linked_epic(sb)
    opp = sb.salesforce_data.get(opp_id)[1]  # type: ignore[index]
    before = opp["Delivery_Status__c"]
    assert before in ("Build", "Launch")
    status = Status("19999", "Launch Prep", "indeterminate")
    sb.jira_data.statuses[status.id] = status
    sb.jira_data.issues[key].fields["status"] = status.id
    sb.jira_data.issues[key].fields["updated"] = sb.clock.now()
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = sync(sb, project)
    assert code == 0, err
    assert opp["Delivery_Status__c"] == before
    assert "sync-held" in err and f"sandbox-jira:{key}" in err and "stage" in err
    result = run_audit(Project.load(project), ["sandbox-jira"], sb.clock.now(), sb.info.as_env())
    unreadable = [f.message for f in result.findings if f.key == key and f.code == "TB116"]
    assert unreadable and "'Launch Prep'" in unreadable[0]


def test_multi_valued_jira_fields_are_read_by_their_schema(sb: Sandbox, project: Path) -> None:
    """A multi-user picker is `{"type": "array", "items": "user"}` and Components `{"type": "array",
    "items": "component"}` (https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issue-fields/#api-rest-api-2-field-get):
    people stay people with their account ids, components are a list of names, and the mapping's `take`
    says how many values an attribute takes."""
    from trackerbridge.sandbox.jira_model import COMPONENTS, USERS, FieldDef

    data = sb.jira_data
    data.fields["customfield_10990"] = FieldDef("customfield_10990", "Co-owners", USERS, custom=True)
    data.fields["components"] = FieldDef("components", "Components", COMPONENTS)
    people = [u for u in data.users.values() if "bot" not in u.email][:2]
    one, two, three = sorted(k for k in data.issues if k.startswith("OPS-"))[:3]
    data.issues[one].fields["customfield_10990"] = [p.account_id for p in people]
    data.issues[one].fields["components"] = ["Mobile"]
    data.issues[two].fields["components"] = ["Mobile", "Web"]
    mapping = project / "mappings" / "demo-jira.yaml"
    text = mapping.read_text(encoding="utf-8")
    text = text.replace("  integrator: Integrator\n", "  integrator: {field: Co-owners, take: first}\n")
    text = text.replace("  team: Team\n", "  team: Components\n")
    text = text.replace("extra:\n", "extra:\n  co_owners: {field: Co-owners, take: all}\n")
    mapping.write_text(text, encoding="utf-8")
    result = run_audit(Project.load(project), ["sandbox-jira"], sb.clock.now(), sb.info.as_env())
    by_key = {i.key: i for i in result.initiatives}
    first = by_key[one]
    assert first.integrator is not None and first.integrator.ref == people[0].account_id
    assert first.integrator.name == people[0].display_name  # one person, not "A, B"
    assert [p.ref for p in first.extra["co_owners"]] == [p.account_id for p in people]
    assert first.team == "Mobile"  # not "['Mobile']"
    assert by_key[three].team is None and by_key[three].integrator is None
    second = by_key[two]
    assert second.team is None and "team" in second.unread
    found = [f.message for f in result.findings if f.key == two and f.code == "TB116"]
    assert found and "holds 2 values (Mobile, Web); the mapping takes one" in found[0]


def test_a_multipicklist_is_a_set_of_values_so_a_waiver_in_it_counts(sb: Sandbox, project: Path) -> None:
    """The REST API sends a multipicklist's values joined by ';'
    (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_update_fields.htm,
    "multi-select picklist ... separated by semicolons"): `VIP;tb-waive-...` is two values, one a waiver."""
    from trackerbridge.sandbox.salesforce_model import MULTIPICKLIST, SField

    opportunity = sb.salesforce_data.sobject("Opportunity")
    assert opportunity is not None
    before = run_audit(Project.load(project), ["sandbox-salesforce"], sb.clock.now(), sb.info.as_env())
    target = next(f for f in before.findings if not f.waived_by)
    waiver = f"tb-waive-{target.code}-until-2026-12-31"
    opportunity.add_field(SField("Tags__c", "Tags", MULTIPICKLIST, length=4099, picklist=("VIP", "Pilot", waiver)))
    sb.salesforce_data.records["Opportunity"][target.key]["Tags__c"] = f"VIP;{waiver}"
    mapping = project / "mappings" / "demo-salesforce.yaml"
    mapping.write_text(
        mapping.read_text(encoding="utf-8").replace("  end: CloseDate\n", "  end: CloseDate\n  labels: Tags__c\n")
    )
    after = run_audit(Project.load(project), ["sandbox-salesforce"], sb.clock.now(), sb.info.as_env())
    record = next(i for i in after.initiatives if i.key == target.key)
    assert record.labels == frozenset({"VIP", waiver})
    same = next(f for f in after.findings if f.key == target.key and f.code == target.code)
    assert same.waived_by == waiver


def test_reasons_are_cut_at_the_fields_length_from_describe(sb: Sandbox, project: Path) -> None:
    """describe gives each text field's `length`
    (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm):
    the reasons use all of it rather than 255, and `check` says when the field is too short to be useful."""
    from trackerbridge.sandbox.salesforce_model import STRING, SField
    from trackerbridge.sources import open_source
    from trackerbridge.sync import write_specs

    opportunities = sb.salesforce_data.records["Opportunity"]
    source = open_source(Project.load(project), "sandbox-salesforce", sb.info.as_env())
    assert write_specs([source])["sandbox-salesforce"].reasons_limit == 32768  # the demo's long text area
    source.connector.close()
    opportunity = sb.salesforce_data.sobject("Opportunity")
    assert opportunity is not None
    opportunity.add_field(SField("Short_Reasons__c", "Short Reasons", STRING, length=40))
    connector = project / "connectors" / "sandbox-salesforce.yaml"
    connector.write_text(connector.read_text(encoding="utf-8").replace("Health_Reasons__c", "Short_Reasons__c"))
    mapping = project / "mappings" / "demo-salesforce.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8").replace("Health_Reasons__c", "Short_Reasons__c"))
    result = CliRunner().invoke(main, ["check", "--project", str(project)], env=sb.info.as_env())
    assert result.exit_code == 0, result.stderr
    assert "field 'Short Reasons' (Short_Reasons__c) holds at most 40 characters" in result.stderr
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = sync(sb, project, "--full")
    assert code == 0, err
    written = [r["Short_Reasons__c"] for r in opportunities.values() if r.get("Short_Reasons__c")]
    assert written and max(map(len, written)) <= 40


def test_a_record_deleted_in_salesforce_is_forgotten_and_reported_once(sb: Sandbox, project: Path) -> None:
    """A write to a record deleted since the read fails with ENTITY_IS_DELETED
    (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm#statuscode):
    it is left out of the state store as deleted, reported once, and no run exits 4 for it."""
    from simple_salesforce import Salesforce

    from trackerbridge.net import session_for

    code, _, err = sync(sb, project)
    assert code == 0, err
    key, opp_id = linked_epic(sb)
    person = Salesforce(
        session_id=sb.info.salesforce_token, instance_url=sb.info.salesforce_url, session=session_for(sb.info.ca_bundle)
    )
    person.Opportunity.delete(opp_id)
    # The epic moves on, so the next run plans to sync its stage onto the deleted opportunity.
    done = next(s for s in sb.jira_data.statuses.values() if s.name == "Done")
    sb.jira_data.issues[key].fields["status"] = done.id
    sb.jira_data.issues[key].fields["updated"] = sb.clock.now()
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = sync(sb, project)
    assert code == 0, err
    assert err.count("record-deleted") == 1 and opp_id in err and "ENTITY_IS_DELETED" in err
    sb.clock.advance(timedelta(minutes=5))
    sb.jira_data.issues[key].fields["updated"] = sb.clock.now()
    code, _, err = sync(sb, project)
    assert code == 0, err
    assert "record-deleted" not in err and "write-failed" not in err


def test_an_api_version_the_org_does_not_serve_exits_2_listing_the_versions(sb: Sandbox, project: Path) -> None:
    """Salesforce answers 404 NOT_FOUND under an API version it does not serve; `GET /services/data/`
    lists the ones it does (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_versions.htm)."""
    connector = project / "connectors" / "sandbox-salesforce.yaml"
    connector.write_text(connector.read_text(encoding="utf-8").replace('api_version: "59.0"', 'api_version: "63.0"'))
    result = CliRunner().invoke(main, ["check", "--project", str(project)], env=sb.info.as_env())
    assert result.exit_code == 2, result.stderr
    assert "does not serve API version 63.0 (api_version in connectors/sandbox-salesforce.yaml)" in result.stderr
    assert "it serves 57.0, 58.0, 59.0, 60.0, 61.0, 62.0" in result.stderr
    assert "not supported" not in result.stderr
    code, _, err = sync(sb, project)
    assert code == 2 and "does not serve API version 63.0" in err


def test_an_issue_returned_on_two_pages_is_one_record_in_audit(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    """Cloud's enhanced search pages by token over a live order
    (https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issue-search/#api-rest-api-2-search-jql-get):
    an issue edited between two pages of `ORDER BY updated` is sent again on a later page. audit keeps one
    record per key, the newest copy."""
    from trackerbridge.sandbox.pytest_plugin import jira_as_person

    sb = sandbox_factory(size=240)
    sb.jira.live_pages = True
    in_scope = [k for k, i in sb.jira_data.issues.items() if i.project in ("OPS", "DEL")]
    assert len(in_scope) > 100  # more than one page of 100
    edited: list[str] = []

    def edit_after_first_page(name: str, count: int) -> None:
        if name == "sandbox-jira" and not edited:
            first = min(in_scope, key=sb.jira._order)
            sb.clock.advance(timedelta(minutes=1))
            assert jira_as_person(sb, "PUT", f"issue/{first}", json={"fields": {"summary": "Renamed mid-read"}}).ok
            edited.append(first)

    result = run_audit(
        Project.load(project), ["sandbox-jira"], sb.clock.now(), sb.info.as_env(), progress=edit_after_first_page
    )
    keys = [i.key for i in result.initiatives]
    assert edited and len(keys) == len(set(keys)) == len(in_scope)
    assert next(i.title for i in result.initiatives if i.key == edited[0]) == "Renamed mid-read"
    searches = [r for r in sb.accounting.records() if r.endpoint.endswith("/search/jql")]
    assert len(searches) >= 2


STAGES = {  # the demo mapping's status -> stage
    "Backlog": "decide",
    "Under Review": "decide",
    "In Progress": "build",
    "Rolling Out": "launch",
    "Done": "done",
    "Won't Do": "cancelled",
}


def test_rules_that_need_unmapped_dates_fall_back_and_check_says_so(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    """A mapping without `created`, `stage_entered` or history: TB104 times decide from the record's own
    creation date (Jira's `created`), TB112 cannot fire, and `check` says both."""
    sb = sandbox_factory(jira_flavor="datacenter")
    mapping = project / "mappings" / "demo-jira.yaml"
    text = mapping.read_text(encoding="utf-8")
    for line in ("  stage_entered: Status Category Changed\n", "  created: Created\n"):
        assert line in text
        text = text.replace(line, "")
    mapping.write_text(text, encoding="utf-8")
    # History read: stage_entered comes from the changelog's last status change (Data Center has no field).
    result = run_audit(Project.load(project), ["sandbox-jira"], sb.clock.now(), sb.info.as_env())
    moved = 0
    for i in result.initiatives:
        issue = sb.jira_data.issues[i.key]
        assert i.created == issue.fields["created"]  # the record's own, though the mapping names none
        changes = [
            h.created
            for h in issue.changelog
            for item in h.items
            if item["field"] == "status" and STAGES[item["fromString"]] != STAGES[item["toString"]]
        ]
        if changes:
            moved += 1
            assert i.stage_entered == max(changes), i.key
    assert moved
    mapping.write_text(text.replace("history: true", "history: false"), encoding="utf-8")
    check = CliRunner().invoke(main, ["check", "--project", str(project)], env=sb.info.as_env())
    assert check.exit_code == 0, check.stderr
    assert "TB104 (stuck in decide) times the decide stage from each record's creation date" in check.stderr
    assert "TB112 (commitment changed without approval) cannot fire: mappings/demo-jira.yaml" in check.stderr
