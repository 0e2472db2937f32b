"""The verdict is a function of the trackers alone: trackerbridge's own writes are never activity,
and no two runs (a fresh store, a second instance, `audit`, `report --pull`) disagree or fight.

Everything goes through the CLI, the real `jira` and `simple-salesforce` clients and the sandbox,
whose every API write moves `updated` / `LastModifiedDate` and records its author, as the real
services do (see `test_the_sandbox_records_every_api_write_like_the_real_services`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from trackerbridge.activity import STAMP_KEY
from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.pytest_plugin import jira_as_person

JIRA, SF = "sandbox-jira", "sandbox-salesforce"


def run(sb: Sandbox, project: Path, as_of: datetime, *args: str, store: Path | None = None) -> tuple[int, str, str]:
    env = sb.info.as_env()
    env["TRACKERBRIDGE_STATE_URL"] = f"sqlite:///{store or project / '.trackerbridge' / 'state.db'}"
    result = CliRunner().invoke(main, [*args, "--project", str(project), "--as-of", as_of.isoformat()], env=env)
    return result.exit_code, result.stdout, result.stderr


def audit(sb: Sandbox, project: Path, as_of: datetime) -> tuple[dict[str, str], int]:
    """Each record's flag, and how many TB106 (stale) findings the audit has."""
    code, out, err = run(sb, project, as_of, "audit", "--format", "json", "--fail-on", "never")
    assert code == 0, err
    doc = json.loads(out)
    flags = {f"{h['source']}:{h['key']}": h["flag"] for h in doc["health"]}
    return flags, doc["summary"]["by_rule"].get("TB106", 0)


def sync(sb: Sandbox, project: Path, as_of: datetime, store: Path, *args: str) -> dict[str, Any]:
    """The run's summary record (changes planned, records written)."""
    code, _, err = run(sb, project, as_of, "sync", "--log-format", "json", *args, store=store)
    assert code == 0, err
    [summary] = [r for r in map(json.loads, err.splitlines()) if r.get("event") == "summary"]
    return summary


def shown(sb: Sandbox) -> dict[str, str]:
    """The health each record shows in its tracker."""
    with sb.lock:
        health = sb.jira_data.field_by_clause("Execution health")
        assert health is not None
        out = {f"{JIRA}:{k}": str(i.fields.get(health.id) or "").casefold() for k, i in sb.jira_data.issues.items()}
        for rid, opp in sb.salesforce_data.records["Opportunity"].items():
            out[f"{SF}:{rid}"] = str(opp.get("Execution_Health__c") or "").casefold()
    return out


def notes(sb: Sandbox) -> Counter[str]:
    """Every "turned red" note in the trackers, by the text that carries its marker."""
    with sb.lock:
        found: Counter[str] = Counter(
            f"{k}:{c.body}" for k, i in sb.jira_data.issues.items() for c in i.comments if "trackerbridge:" in c.body
        )
        found.update(
            f"{t.get('WhatId')}:{t.get('Subject')}"
            for t in sb.salesforce_data.records.get("Task", {}).values()
            if "[tb:" in str(t.get("Subject"))
        )
    return found


def report_headline(sb: Sandbox, project: Path, as_of: datetime, *args: str) -> dict[str, Any]:
    code, out, err = run(sb, project, as_of, "report", "--format", "json", *args)
    assert code == 0, err
    return {h["key"]: h["value"] for h in json.loads(out)["headline"]}


def unassign(sb: Sandbox, keys: list[str]) -> None:
    for key in keys:
        assert jira_as_person(sb, "PUT", f"issue/{key}", json={"fields": {"assignee": None}}).ok


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_every_reader_reaches_the_same_verdict_and_no_two_runs_fight(
    sandbox_factory: Callable[..., Sandbox], project: Path, tmp_path: Path, flavor: str
) -> None:
    sb = sandbox_factory(size=200, jira_flavor=flavor)
    as_of = sb.clock.now()
    first, second, third = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"

    _, stale_before = audit(sb, project, as_of)
    assert stale_before > 0, "the demo has stale initiatives"
    assert sync(sb, project, as_of, first)["written"] > 0
    sb.clock.advance(timedelta(minutes=3))

    after, stale_after = audit(sb, project, as_of)
    assert stale_after == stale_before, "trackerbridge's writes are not a person's activity"
    assert after == {ref: flag for ref, flag in shown(sb).items() if ref in after}, "records show what audit says"
    pulled = report_headline(sb, project, as_of, "--pull")
    assert pulled == report_headline(sb, project, as_of, "--state", f"sqlite:///{first}")

    posted = notes(sb)
    for store in (second, first):  # a fresh store, then the first instance again: nothing to do
        assert sync(sb, project, as_of, store, "--dry-run")["changes"] == 0
        assert sync(sb, project, as_of, store)["written"] == 0
    assert notes(sb) == posted

    sb.clock.advance(timedelta(minutes=3))
    unassign(sb, [k for k in sorted(sb.jira_data.issues) if after[f"{JIRA}:{k}"] == "green"][:6])
    sb.clock.advance(timedelta(minutes=3))
    showing = shown(sb)
    for store in (third, first, second):  # three instances, three stores: one note per turn
        sync(sb, project, as_of, store)
        sb.clock.advance(timedelta(minutes=1))
    turned = {ref.split(":", 1)[1] for ref, flag in shown(sb).items() if flag == "red" and showing[ref] != "red"}
    new = notes(sb) - posted
    assert turned and sorted({n.split(":", 1)[0] for n in new}) == sorted(turned), "a note for every turn"
    assert set(new.values()) == {1}, "each note posted exactly once"
    assert len(new) == len(turned)
    for store in (first, second, third):
        assert sync(sb, project, as_of, store, "--dry-run")["changes"] == 0


def test_salesforce_alone_reaches_the_same_verdict_from_any_store(
    sandbox_factory: Callable[..., Sandbox], project: Path, tmp_path: Path
) -> None:
    sb = sandbox_factory(size=120)
    as_of = sb.clock.now()
    only = ("--connector", SF)
    flags = lambda: {r: f for r, f in audit(sb, project, as_of)[0].items() if r.startswith(SF)}  # noqa: E731
    before = flags()
    assert sync(sb, project, as_of, tmp_path / "a.db", *only)["written"] > 0
    sb.clock.advance(timedelta(minutes=3))
    assert flags() == before, "the verdict after the sync is the one it wrote"
    with sb.lock:
        opps = sb.salesforce_data.records["Opportunity"].values()
        assert all(o["LastModifiedById"] and o["TB_Last_Activity__c"] for o in opps if o["Execution_Health__c"])
    tasks = notes(sb)
    for store in (tmp_path / "b.db", tmp_path / "a.db"):
        assert sync(sb, project, as_of, store, *only, "--dry-run")["changes"] == 0
        assert sync(sb, project, as_of, store, *only)["written"] == 0
    assert notes(sb) == tasks


def test_a_persons_edit_after_trackerbridges_write_is_activity_again(
    sandbox_factory: Callable[..., Sandbox], project: Path, tmp_path: Path
) -> None:
    sb = sandbox_factory(size=120)
    as_of = sb.clock.now()
    sync(sb, project, as_of, tmp_path / "a.db")
    code, out, _ = run(sb, project, as_of, "audit", "--format", "json", "--fail-on", "never")
    assert code == 0
    stale = sorted(f["key"] for f in json.loads(out)["findings"] if f["code"] == "TB106" and f["source"] == JIRA)
    assert stale
    sb.clock.advance(timedelta(minutes=30))  # well past the stamp's slack: this is a person, not the write
    assert jira_as_person(sb, "PUT", f"issue/{stale[0]}", json={"update": {"labels": [{"add": "looked-at"}]}}).ok
    code, out, _ = run(sb, project, sb.clock.now(), "audit", "--format", "json", "--fail-on", "never")
    assert code == 0
    still = {f["key"] for f in json.loads(out)["findings"] if f["code"] == "TB106" and f["source"] == JIRA}
    assert stale[0] not in still and set(stale[1:]) <= still


def test_a_persons_health_lookalike_labels_survive_and_waivers_stay_readable(
    sandbox_factory: Callable[..., Sandbox], project: Path, tmp_path: Path
) -> None:
    sb = sandbox_factory(size=120)
    code, out, _ = run(sb, project, sb.clock.now(), "audit", "--format", "json", "--fail-on", "never")
    finding = next(f for f in json.loads(out)["findings"] if f["source"] == JIRA)
    key, rule = finding["key"], finding["code"]
    mine = ["health-insurance", "health-check-2027", f"tb-waive-{rule}-until-2099-12-31"]
    assert jira_as_person(sb, "PUT", f"issue/{key}", json={"update": {"labels": [{"add": x} for x in mine]}}).ok
    for _ in range(3):
        sb.clock.advance(timedelta(minutes=10))
        sync(sb, project, sb.clock.now(), tmp_path / "a.db")
    labels = set(sb.jira_data.issues[key].fields["labels"])
    assert set(mine) <= labels
    assert len({x for x in labels if x in ("health-green", "health-amber", "health-red")}) == 1
    code, out, _ = run(sb, project, sb.clock.now(), "audit", "--format", "json", "--fail-on", "never")
    assert code == 0
    waived = [f for f in json.loads(out)["findings"] if f["key"] == key and f["code"] == rule]
    assert waived and all(f["waived_by"] for f in waived), "the waiver next to trackerbridge's label is still read"


def test_the_prefix_form_of_label_ownership_is_an_explicit_opt_in(
    sandbox_factory: Callable[..., Sandbox], project: Path, tmp_path: Path
) -> None:
    sb = sandbox_factory(size=120)
    path = project / "connectors" / f"{JIRA}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["owns"] = {"fields": doc["owns"]["fields"], "label_prefixes": ["health-"]}
    path.write_text(yaml.safe_dump(doc))
    assert jira_as_person(sb, "PUT", "issue/OPS-1", json={"update": {"labels": [{"add": "health-insurance"}]}}).ok
    sb.clock.advance(timedelta(minutes=10))
    sync(sb, project, sb.clock.now(), tmp_path / "a.db")
    assert "health-insurance" not in sb.jira_data.issues["OPS-1"].fields["labels"], "opted in: every health-* is ours"


def test_a_changed_base_url_is_not_an_edit(
    sandbox_factory: Callable[..., Sandbox], project: Path, tmp_path: Path
) -> None:
    sb = sandbox_factory(size=120)
    as_of = sb.clock.now()
    sync(sb, project, as_of, tmp_path / "a.db")
    sb.clock.advance(timedelta(minutes=10))
    renamed = sb.info.as_env()
    renamed["TB_SANDBOX_JIRA_URL"] = renamed["TB_SANDBOX_JIRA_URL"].replace("127.0.0.1", "localhost")
    assert renamed["TB_SANDBOX_JIRA_URL"] != sb.info.as_env()["TB_SANDBOX_JIRA_URL"]
    renamed["TRACKERBRIDGE_STATE_URL"] = f"sqlite:///{tmp_path / 'a.db'}"
    result = CliRunner().invoke(
        main, ["sync", "--log-format", "json", "--project", str(project), "--as-of", as_of.isoformat()], env=renamed
    )
    assert result.exit_code == 0, result.stderr
    [summary] = [r for r in map(json.loads, result.stderr.splitlines()) if r.get("event") == "summary"]
    assert summary["changes"] == 0, "the same records under another URL: nothing to write"


def test_the_sandbox_records_every_api_write_like_the_real_services(sandbox: Sandbox) -> None:
    """Jira: an edit moves `updated` and logs its author in the changelog; an entity property moves
    neither. Salesforce: an update moves LastModifiedDate/SystemModstamp and sets LastModifiedById."""
    issue = sandbox.jira_data.issues["OPS-2"]
    was = issue.fields["updated"]
    sandbox.clock.advance(timedelta(minutes=1))
    assert jira_as_person(sandbox, "PUT", "issue/OPS-2", json={"update": {"labels": [{"add": "x1"}]}}).ok
    assert issue.fields["updated"] > was and issue.changelog[-1].author != "bot"
    moved = issue.fields["updated"]
    sandbox.clock.advance(timedelta(minutes=1))
    put = jira_as_person(sandbox, "PUT", f"issue/OPS-2/properties/{STAMP_KEY}", json={"at": "x"})
    assert put.status_code == 201
    assert jira_as_person(sandbox, "GET", f"issue/OPS-2/properties/{STAMP_KEY}").json()["value"] == {"at": "x"}
    assert issue.fields["updated"] == moved, "a property is an app's own data, not an edit"
    searched = jira_as_person(
        sandbox, "GET", "search/jql", params={"jql": "key = OPS-2", "fields": "updated", "properties": STAMP_KEY}
    ).json()["issues"][0]
    assert searched["properties"] == {STAMP_KEY: {"at": "x"}}
