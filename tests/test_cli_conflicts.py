"""`trackerbridge conflicts` and `conflicts resolve` against the sandbox through the real clients: the review lists
what both sides changed, a resolution goes through the planner and the audit log, and people settling a conflict
themselves close it without trackerbridge."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.pytest_plugin import jira_as_person
from trackerbridge.state.store import StateStore


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(size=120)


def run(sb: Sandbox, project: Path, *args: str) -> tuple[int, str, str]:
    command = list(args)
    at = 2 if command[:2] == ["conflicts", "resolve"] else 1  # the subcommand takes the options
    command[at:at] = ["--project", str(project), "--as-of", sb.clock.now().isoformat()]
    result = CliRunner().invoke(main, command, env=sb.info.as_env())
    return result.exit_code, result.stdout, result.stderr


def linked_pair(sb: Sandbox) -> tuple[str, str]:
    opportunity = sb.jira_data.field_by_clause("Salesforce opportunity id")
    assert opportunity is not None
    for key, issue in sb.jira_data.issues.items():
        opp_id = issue.fields.get(opportunity.id)
        status = sb.jira_data.statuses[issue.fields["status"]].name
        if opp_id and sb.salesforce_data.get(opp_id) and status in ("In Progress", "Rolling Out"):
            return key, opp_id
    raise AssertionError("the demo links epics to opportunities")


def conflict(sb: Sandbox, project: Path) -> tuple[str, str, dict[str, Any]]:
    """After a sync, a person cancels the delivery in Salesforce while another closes the epic in Jira."""
    code, _, err = run(sb, project, "sync")
    assert code == 0, err
    key, opp_id = linked_pair(sb)
    opp = sb.salesforce_data.get(opp_id)[1]  # type: ignore[index]
    sb.clock.advance(timedelta(minutes=5))
    opp["Delivery_Status__c"] = "Cancelled"
    opp["SystemModstamp"] = opp["LastModifiedDate"] = sb.clock.now()
    transitions = jira_as_person(sb, "GET", f"issue/{key}/transitions").json()["transitions"]
    done = next(t for t in transitions if t["name"] == "Done")
    assert jira_as_person(sb, "POST", f"issue/{key}/transitions", json={"transition": {"id": done["id"]}}).ok
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = run(sb, project, "sync")
    assert code == 0 and "conflict:" in err, err
    assert "health-sync-conflict" in sb.jira_data.issues[key].fields["labels"]
    return key, opp_id, opp


def listed(sb: Sandbox, project: Path) -> list[dict[str, Any]]:
    code, out, err = run(sb, project, "conflicts", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_no_conflicts_lists_none(sb: Sandbox, project: Path) -> None:
    run(sb, project, "sync")
    assert listed(sb, project) == []
    code, out, _ = run(sb, project, "conflicts")
    assert code == 0 and out.endswith("0 open conflicts\n")


def test_the_review_shows_base_both_sides_who_and_links(sb: Sandbox, project: Path) -> None:
    key, opp_id, _ = conflict(sb, project)
    before = sum(r.method in ("PUT", "PATCH", "POST") for r in sb.accounting.records())
    [item] = listed(sb, project)
    assert item["attribute"] == "stage"
    assert item["base"] in ("Build", "Launch")
    assert (item["source"]["system"], item["source"]["key"], item["source"]["value"]) == ("jira", key, "done")
    assert item["source"]["changed_by"] and item["source"]["changed_by"] != "trackerbridge bot"
    assert item["source"]["changed_at"] and item["source"]["url"].endswith(f"/browse/{key}")
    target = item["target"]
    assert (target["system"], target["key"], target["field"], target["value"]) == (
        "salesforce",
        opp_id,
        "Delivery Status",
        "Cancelled",
    )
    assert opp_id in target["url"]
    writes = sum(r.method in ("PUT", "PATCH") for r in sb.accounting.records())
    assert writes <= before, "the review writes nothing"
    code, out, _ = run(sb, project, "conflicts")
    assert code == 0 and key in out and opp_id in out and "Cancelled" in out and out.endswith("1 open conflict\n")


def test_resolve_taking_the_source_writes_through_the_planner_and_clears_both_flags(sb: Sandbox, project: Path) -> None:
    key, opp_id, opp = conflict(sb, project)
    sb.clock.advance(timedelta(minutes=1))
    code, out, err = run(sb, project, "conflicts", "resolve", key, "stage", "--take", "jira")
    assert code == 0, err
    assert f"{opp_id} takes jira's 'done'" in out
    assert opp["Delivery_Status__c"] == "Done"
    assert "health-sync-conflict" not in sb.jira_data.issues[key].fields["labels"]
    assert "sync conflict" not in (opp["Health_Reasons__c"] or "")
    with StateStore.open(f"sqlite:///{project / '.trackerbridge' / 'state.db'}") as store:
        rows = [r for r in store.log(key=opp_id) if r.slot == "resolve:stage"]
    assert [(r.before, r.after, r.outcome) for r in rows] == [("Cancelled", "Done", "ok")]
    assert listed(sb, project) == []
    sb.accounting.reset()
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = run(sb, project, "sync")
    assert code == 0 and "conflicts=0" in err and "written=0" in err, err


def test_resolve_by_value_of_the_source_side(sb: Sandbox, project: Path) -> None:
    _, opp_id, opp = conflict(sb, project)
    code, _, err = run(sb, project, "conflicts", "resolve", opp_id, "Delivery_Status__c", "--value", "done")
    assert code == 0, err
    assert opp["Delivery_Status__c"] == "Done"


def test_taking_the_target_would_write_the_source_of_truth_and_is_refused(sb: Sandbox, project: Path) -> None:
    key, _, opp = conflict(sb, project)
    code, out, err = run(sb, project, "conflicts", "resolve", key, "stage", "--take", "salesforce")
    assert code == 2 and out == ""
    assert "does not own" in err and "'Cancelled'" in err and "Traceback" not in err
    assert opp["Delivery_Status__c"] == "Cancelled"
    assert "health-sync-conflict" in sb.jira_data.issues[key].fields["labels"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("OPS-9999", "stage", "--take", "jira"), "no open conflict on OPS-9999 stage"),
        (("{key}", "title", "--take", "jira"), "no open conflict"),
        (("{key}", "stage"), "give --take jira|salesforce or --value"),
        (("{key}", "stage", "--value", "Archived"), "neither side's value"),
    ],
)
def test_bad_resolutions_exit_2_naming_the_problem(
    sb: Sandbox, project: Path, args: tuple[str, ...], message: str
) -> None:
    key, _, _ = conflict(sb, project)
    code, _, err = run(sb, project, "conflicts", "resolve", *(a.format(key=key) for a in args))
    assert code == 2 and message in err and "Traceback" not in err


def test_a_conflict_people_settle_themselves_closes_by_itself(sb: Sandbox, project: Path) -> None:
    key, _, opp = conflict(sb, project)
    sb.clock.advance(timedelta(minutes=5))
    opp["Delivery_Status__c"] = "Done"  # a person agrees with Jira, straight in Salesforce
    opp["SystemModstamp"] = opp["LastModifiedDate"] = sb.clock.now()
    sb.clock.advance(timedelta(minutes=5))
    assert listed(sb, project) == []
    code, _, err = run(sb, project, "sync")
    assert code == 0 and "conflicts=0" in err, err
    assert "health-sync-conflict" not in sb.jira_data.issues[key].fields["labels"]
    assert "sync conflict" not in (opp["Health_Reasons__c"] or "")


def test_conflicts_on_the_demo_lists_exactly_the_planted_ones(sb: Sandbox, project: Path) -> None:
    from trackerbridge.sandbox.showcase import DEMO_CONFLICTS, plant_conflicts

    code, _, err = run(sb, project, "sync")
    assert code == 0, err
    assert listed(sb, project) == []
    planted = plant_conflicts(sb)
    assert len(planted) == DEMO_CONFLICTS
    sb.clock.advance(timedelta(minutes=1))
    found = {
        (c["source"]["key"], c["target"]["key"], c["attribute"], c["base"], c["source"]["value"], c["target"]["value"])
        for c in listed(sb, project)
    }
    assert found == {(p.epic, p.opportunity, "stage", p.base, p.jira.lower(), p.salesforce) for p in planted}
    assert len({p.salesforce for p in planted}) == DEMO_CONFLICTS, "each pair disagrees its own way"
    code, out, _ = run(sb, project, "conflicts")
    assert code == 0 and out.endswith(f"{DEMO_CONFLICTS} open conflicts\n")


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_the_conflict_table_is_one_line_per_conflict_at_any_width(sb: Sandbox, project: Path, columns: int) -> None:
    from rich.cells import cell_len

    from terminal import run_in_terminal
    from trackerbridge.sandbox.showcase import DEMO_CONFLICTS, plant_conflicts

    code, _, err = run(sb, project, "sync")
    assert code == 0, err
    planted = plant_conflicts(sb)
    sb.clock.advance(timedelta(minutes=1))
    args = ["conflicts", "--project", str(project), "--as-of", sb.clock.now().isoformat()]
    out = run_in_terminal(args, columns, env=sb.info.as_env())
    lines = out.rstrip("\n").split("\n")
    assert max(cell_len(line) for line in lines) <= columns
    assert lines[-1] == f"{DEMO_CONFLICTS} open conflicts"
    for p in planted:  # one line each, with both keys whole (`conflicts resolve` takes either) and both values
        [row] = [line for line in lines if re.search(rf"\b{p.epic}\b", line)]
        assert p.opportunity in row and p.jira.lower() in row and row.startswith("stage  Build ")
        assert p.salesforce[:7] in row
    assert "https://" not in out  # the URLs are the keys' hyperlinks (and in --format json), not a column
    header = lines[0].split()
    assert ("at" in header) == (columns >= 100) and header.count("by") == 2
