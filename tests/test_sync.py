"""`trackerbridge sync` against the sandbox through the real clients: what it writes, and what it
never does (echo, clobber, duplicate, overlap)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from trackerbridge.audit import run_audit
from trackerbridge.changes import FieldChange, Note, Outcome, RecordChange
from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.pytest_plugin import jira_as_person
from trackerbridge.state.lock import run_lock
from trackerbridge.state.store import StateStore
from trackerbridge.sync import _mark_known_notes, _OutcomeBatch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(size=120)


def sync(sb: Sandbox, project: Path, *args: str) -> tuple[int, str, str]:
    as_of = sb.clock.now().isoformat()
    result = CliRunner().invoke(
        main, ["sync", "--project", str(project), "--as-of", as_of, *args], env=sb.info.as_env()
    )
    return result.exit_code, result.stdout, result.stderr


def field_id(sb: Sandbox, name: str) -> str:
    f = sb.jira_data.field_by_clause(name)
    assert f is not None
    return f.id


def puts(sb: Sandbox) -> int:
    """Writes: PUTs and bulk edits (a Jira Cloud bulk edit writes many issues in one POST)."""
    return sum(r.method == "PUT" or r.path.endswith("/bulk/issues/fields") for r in sb.accounting.records())


def bulk_written(sb: Sandbox) -> set[str]:
    """The keys of the issues bulk edit tasks wrote (processedAccessibleIssues)."""
    data = sb.jira.data
    tasks = [t for t in sb.jira.bulk.tasks.values() if t.kind == "bulk"]
    return {i.key for t in tasks for n in t.processed if (i := data.issue(str(n)))}


def test_first_sync_writes_the_audits_verdict_and_a_second_writes_nothing(sb: Sandbox, project: Path) -> None:
    expected = run_audit(Project.load(project), [], sb.clock.now(), sb.info.as_env())
    code, _, err = sync(sb, project)
    assert code == 0, err
    health = field_id(sb, "Execution health")
    for key, issue in sb.jira_data.issues.items():
        flag = expected.health[f"sandbox-jira:{key}"].flag.value
        assert issue.fields[health] == flag.capitalize()
        assert [lb for lb in issue.fields["labels"] if lb.startswith("health-")] == [f"health-{flag}"]
    for opp_id, opp in sb.salesforce_data.records["Opportunity"].items():
        assert opp["Execution_Health__c"] == expected.health[f"sandbox-salesforce:{opp_id}"].flag.value.capitalize()
    sb.accounting.reset()
    sb.clock.advance(timedelta(minutes=10))
    code, _, err = sync(sb, project)
    assert code == 0, err
    assert puts(sb) == 0
    assert not any(r.method in ("PATCH", "POST") and "composite" in r.path for r in sb.accounting.records())
    assert "written=0" in err


def test_unowned_labels_and_fields_survive(sb: Sandbox, project: Path) -> None:
    sync(sb, project)
    sb.clock.advance(timedelta(minutes=5))
    assert jira_as_person(sb, "PUT", "issue/OPS-1", json={"update": {"labels": [{"add": "persons-own"}]}}).ok
    before = {k: dict(v.fields) for k, v in sb.jira_data.issues.items()}
    sb.clock.advance(timedelta(minutes=5))
    sync(sb, project)
    assert "persons-own" in sb.jira_data.issues["OPS-1"].fields["labels"]
    owned = {
        field_id(sb, "Execution health"),
        field_id(sb, "Health reasons"),
        field_id(sb, "Account owner"),
        "labels",
        "updated",
    }
    for key, fields in before.items():
        changed = {f for f, v in sb.jira_data.issues[key].fields.items() if fields.get(f) != v}
        assert changed <= owned, (key, changed - owned)


def linked_pair(sb: Sandbox) -> tuple[str, str]:
    opportunity = field_id(sb, "Salesforce opportunity id")
    for key, issue in sb.jira_data.issues.items():
        opp_id = issue.fields.get(opportunity)
        if opp_id and sb.salesforce_data.get(opp_id):
            status = sb.jira_data.statuses[issue.fields["status"]].name
            if status in ("In Progress", "Rolling Out"):
                return key, opp_id
    raise AssertionError("the demo links epics to opportunities")


def test_a_synced_field_flows_from_the_source_of_truth_only(sb: Sandbox, project: Path) -> None:
    sync(sb, project)
    key, opp_id = linked_pair(sb)
    opp = sb.salesforce_data.get(opp_id)[1]  # type: ignore[index]
    expected = {"In Progress": "Build", "Rolling Out": "Launch"}[
        sb.jira_data.statuses[sb.jira_data.issues[key].fields["status"]].name
    ]
    assert opp["Delivery_Status__c"] == expected
    sb.clock.advance(timedelta(minutes=5))
    transitions = jira_as_person(sb, "GET", f"issue/{key}/transitions").json()["transitions"]
    done = next(t for t in transitions if t["name"] == "Done")
    assert jira_as_person(sb, "POST", f"issue/{key}/transitions", json={"transition": {"id": done["id"]}}).ok
    sb.clock.advance(timedelta(minutes=5))
    sync(sb, project)
    assert opp["Delivery_Status__c"] == "Done"
    assert sb.jira_data.statuses[sb.jira_data.issues[key].fields["status"]].name == "Done"


def test_both_sides_changed_is_a_conflict_left_for_a_person(sb: Sandbox, project: Path) -> None:
    sync(sb, project)
    key, opp_id = linked_pair(sb)
    opp = sb.salesforce_data.get(opp_id)[1]  # type: ignore[index]
    sb.clock.advance(timedelta(minutes=5))
    opp["Delivery_Status__c"] = "Cancelled"  # a person, straight in Salesforce
    opp["SystemModstamp"] = opp["LastModifiedDate"] = sb.clock.now()
    transitions = jira_as_person(sb, "GET", f"issue/{key}/transitions").json()["transitions"]
    done = next(t for t in transitions if t["name"] == "Done")
    jira_as_person(sb, "POST", f"issue/{key}/transitions", json={"transition": {"id": done["id"]}})
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = sync(sb, project)
    assert code == 0, err
    assert "conflict: source=sandbox-jira:" in err and f"target=sandbox-salesforce:{opp_id}" in err
    assert opp["Delivery_Status__c"] == "Cancelled", "nothing is overwritten"
    assert "health-sync-conflict" in sb.jira_data.issues[key].fields["labels"]
    assert "sync conflict" in (opp["Health_Reasons__c"] or "")


def test_dry_run_writes_nothing_and_prints_what_a_real_run_does(sb: Sandbox, project: Path) -> None:
    code, out, _ = sync(sb, project, "--dry-run")
    assert code == 0
    assert puts(sb) == 0
    assert (
        not (project / ".trackerbridge" / "state.db").exists()
        or not StateStore.open(f"sqlite:///{project / '.trackerbridge' / 'state.db'}").runs()
    )
    planned = {line.split(":", 1)[0] for line in out.splitlines()[:-1]}
    sb.accounting.reset()
    sync(sb, project)
    touched = {f"sandbox-jira {r.path.rsplit('/', 1)[-1]}" for r in sb.accounting.records() if r.method == "PUT"}
    touched |= {f"sandbox-jira {key}" for key in bulk_written(sb)}
    assert touched and touched <= planned
    assert len([p for p in planned if p.startswith("sandbox-jira ")]) == len(touched)


def test_an_overlapping_run_exits_75_without_writing(sb: Sandbox, project: Path) -> None:
    with run_lock(project / ".trackerbridge" / "state.db.lock"):  # next to the default SQLite state
        code, _, err = sync(sb, project)
    assert code == 75
    assert "another trackerbridge sync is running" in err
    assert puts(sb) == 0


def test_a_turn_to_red_is_one_edit_carrying_the_comment_and_mention(sb: Sandbox, project: Path) -> None:
    sync(sb, project)  # baseline: first sight of every record
    health = field_id(sb, "Execution health")
    green = [
        k
        for k, i in sb.jira_data.issues.items()
        if i.fields[health] == "Green"
        and i.fields["assignee"]
        and i.fields["duedate"]
        and sb.jira_data.statuses[i.fields["status"]].category != "done"
    ][:6]
    assert len(green) == 6
    sb.clock.advance(timedelta(minutes=5))
    for key in green:  # a person clears the end date: TB102 makes them red; the owner stays
        assert jira_as_person(sb, "PUT", f"issue/{key}", json={"fields": {"duedate": None}}).ok
    sb.clock.advance(timedelta(minutes=5))
    sb.accounting.reset()

    code, _, err = sync(sb, project)

    assert code == 0, err
    jira = [r for r in sb.accounting.records() if r.service == "jira"]
    writes = [r for r in jira if r.method != "GET" and "search" not in r.endpoint]
    assert [(r.method, r.endpoint, r.status) for r in writes] == [("PUT", "/rest/api/2/issue/{key}", 204)] * 6
    assert sorted(r.path.rsplit("/", 1)[-1] for r in writes) == sorted(green)
    assert not [r for r in jira if r.endpoint.endswith(("/comment", "/user/search", "/user"))]
    for key in green:
        issue = sb.jira_data.issues[key]
        [comment] = [c for c in issue.comments if "[trackerbridge:" in c.body]
        assert issue.fields[health] == "Red"
        assert f"[~accountid:{issue.fields['assignee']}]" in comment.body  # the owner, by the accountId read
        assert "TB102 end date missing: Set the date by which it ends" in comment.body  # the rule's fix text


def test_only_notes_the_store_already_holds_are_looked_for_on_the_record(tmp_path: Path) -> None:
    changes = [
        RecordChange("j", "OPS-1", "", notes=[Note("turned-red", "m1", "t")]),
        RecordChange("j", "OPS-2", "", notes=[Note("turned-red", "m2", "t"), Note("turned-red", "m3", "t")]),
        RecordChange("j", "OPS-3", "", notes=[Note("turned-red", "m1", "t")]),
        RecordChange("j", "OPS-4", ""),
    ]
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.set_note("j", "OPS-1", "m1", "pending", None)  # a run died between posting and recording
        store.set_note("j", "OPS-2", "m2", "posted", None)
        store.set_note("other", "OPS-3", "m1", "pending", None)

        changes = _mark_known_notes(store, "j", changes)

    assert [[n.maybe_posted for n in c.notes] for c in changes] == [[True], [True, False], [False], []]


def test_turning_red_comments_once_even_when_a_run_is_killed_midway(
    sb: Sandbox, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync(sb, project)  # baseline: first sight of every record
    green = [
        k
        for k, i in sb.jira_data.issues.items()
        if i.fields[field_id(sb, "Execution health")] == "Green"
        and sb.jira_data.statuses[i.fields["status"]].category != "done"
    ][:6]
    assert len(green) == 6
    sb.clock.advance(timedelta(minutes=5))
    for key in green:  # a person clears the owner: TB101 makes them red
        assert jira_as_person(sb, "PUT", f"issue/{key}", json={"fields": {"assignee": None}}).ok
    sb.clock.advance(timedelta(minutes=5))

    from trackerbridge.connectors.jira import JiraConnector

    original = JiraConnector.apply

    class Killed(BaseException):
        """Stands in for the process dying: nothing below catches it."""

    def dies_after_three(self: JiraConnector, changes: Any, fields: Any, **options: Any) -> Any:
        for n, outcome in enumerate(original(self, changes, fields, **options)):
            if n == 3:
                raise Killed
            yield outcome

    monkeypatch.setattr(JiraConnector, "apply", dies_after_three)
    with pytest.raises(Killed):
        CliRunner().invoke(
            main,
            ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat()],
            env=sb.info.as_env(),
            catch_exceptions=False,
        )
    monkeypatch.setattr(JiraConnector, "apply", original)
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = sync(sb, project)
    assert code == 0, err
    for key in green:
        comments = [c for c in sb.jira_data.issues[key].comments if "[trackerbridge:" in c.body]
        assert len(comments) == 1, key
        assert sb.jira_data.issues[key].fields[field_id(sb, "Execution health")] == "Red"
    with StateStore.open(f"sqlite:///{project / '.trackerbridge' / 'state.db'}") as store:
        statuses = [r.status for r in store.runs()]
        assert statuses[0] == "ok" and "failed" in statuses


def test_outcomes_are_recorded_one_transaction_per_write_batch(
    sb: Sandbox, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[tuple[list[str], list[str]]] = []
    original = StateStore.record_writes

    def spying(self: StateStore, writes: Any, notes: Any = ()) -> None:
        writes, notes = list(writes), list(notes)
        batches.append(([w.outcome for w in writes], [n[3] for n in notes]))
        original(self, writes, notes)

    monkeypatch.setattr(StateStore, "record_writes", spying)
    code, _, err = sync(sb, project, "--connector", "sandbox-salesforce")

    assert code == 0, err
    opportunities = len(sb.salesforce_data.records["Opportunity"])
    # the intent, then one batch for the one Composite call's outcomes: not one transaction per record
    assert len(batches) == 2
    assert set(batches[0][0]) == {"planned"} and set(batches[1][0]) == {"ok"}
    assert len(batches[0][0]) == len(batches[1][0]) >= opportunities
    with StateStore.open(f"sqlite:///{project / '.trackerbridge' / 'state.db'}") as store:
        logged = {e.key for e in store.log(connector="sandbox-salesforce") if e.outcome == "ok"}
    assert len(logged) == opportunities


def test_an_outcome_batch_flushes_at_its_size_its_age_and_on_demand(tmp_path: Path) -> None:
    changes = {
        f"K-{n}": RecordChange(
            "j", f"K-{n}", "", [FieldChange("f", "F", None, n, "health")], notes=[Note("turned-red", f"m{n}", "t")]
        )
        for n in range(5)
    }
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        now = datetime(2026, 1, 5, tzinfo=timezone.utc)
        batch = _OutcomeBatch(store, 1, changes, now, size=2, seconds=3600)
        for n in range(5):
            batch.add(Outcome("j", f"K-{n}", True, None, (f"m{n}",)))
            assert len(store.log()) == 4 * ((n + 1) // 2)  # two records (field + note rows) per flush
        batch.flush()
        assert len(store.log()) == 10 and store.notes("j")[("K-4", "m4")] == "posted"
        hurried = _OutcomeBatch(store, 2, changes, now, size=1000, seconds=0)
        hurried.add(Outcome("j", "K-0", False, "boom"))
        assert [e.outcome for e in store.log(run_id=2)] == ["failed"]


def test_an_emptied_source_of_truth_keeps_the_other_side_until_the_mapping_says_clear(
    sb: Sandbox, project: Path
) -> None:
    """Issue 16: a person unassigns the epic; the opportunity keeps its delivery owner and the run says
    so (`sync-held`), until the owner sync says `clear: true`."""
    code, _, err = sync(sb, project)
    assert code in (0, 1), err
    link = field_id(sb, "Salesforce opportunity id")
    opportunities = sb.salesforce_data.records["Opportunity"]
    key, opp_id = next(  # an assigned epic whose opportunity got its delivery owner from the first sync
        (k, i.fields[link])
        for k, i in sb.jira_data.issues.items()
        if i.fields.get("assignee") and opportunities.get(i.fields.get(link), {}).get("Delivery_Owner__c")
    )
    opp = opportunities[opp_id]
    owner = opp["Delivery_Owner__c"]
    sb.clock.advance(timedelta(minutes=5))
    assert jira_as_person(sb, "PUT", f"issue/{key}", json={"fields": {"assignee": None}}).ok
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = sync(sb, project)
    assert code in (0, 1), err
    assert opp["Delivery_Owner__c"] == owner
    held = [line for line in err.splitlines() if "sync-held" in line and f"target=sandbox-salesforce:{opp_id}" in line]
    assert len(held) == 1 and "attribute=owner" in held[0] and "clear: true" in held[0], err
    mapping = project / "mappings" / "demo-jira.yaml"
    text = mapping.read_text()
    spot = "    field: Delivery_Owner__c\n"
    assert spot in text
    mapping.write_text(text.replace(spot, spot + "    clear: true\n"))
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = sync(sb, project)
    assert code in (0, 1), err
    assert opp["Delivery_Owner__c"] is None
    assert not [line for line in err.splitlines() if "sync-held" in line and opp_id in line]
