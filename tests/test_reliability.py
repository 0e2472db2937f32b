"""Issue 8, faults: `trackerbridge sync` against the sandbox's fault injection, through the real
clients over real HTTP. A soak under throttling, errors, drops and latency; SIGKILLed runs that
converge; overlapping runs; a person's edit between read and write; a spent Salesforce quota.

The full soak (10,000 initiatives, Retry-After 1 s, 20 ms latency) runs with TB_FULL_SOAK=1; the
default run uses the same test at a size that fits CI.
"""

from __future__ import annotations

import copy
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.pytest_plugin import jira_as_person
from trackerbridge.state.store import StateStore

ROOT = Path(__file__).resolve().parent.parent
FULL = os.environ.get("TB_FULL_SOAK") == "1"

JIRA_OWNED = ("Execution health", "Health reasons", "Account owner")
SF_OWNED = (
    "Execution_Health__c",
    "Health_Reasons__c",
    "TB_Last_Activity__c",
    "Delivery_Status__c",
    "Delivery_Owner__c",
    "Integrator__c",
)
SF_SYSTEM = ("LastModifiedDate", "SystemModstamp", "LastModifiedById")
LABEL_PREFIX = "health-"


def make_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for part in ("connectors", "mappings"):
        shutil.copytree(ROOT / part, root / part)
    shutil.copy(ROOT / "trackerbridge.yaml", root / "trackerbridge.yaml")
    return root


def sync(sb: Sandbox, project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat(), *args],
        env=sb.info.as_env(),
    )
    return result.exit_code, result.stderr


def store_of(project: Path) -> StateStore:
    return StateStore.open(f"sqlite:///{project / '.trackerbridge' / 'state.db'}")


def jira_owned_ids(sb: Sandbox) -> set[str]:
    out = set()
    for name in JIRA_OWNED:
        f = sb.jira_data.field_by_clause(name)
        assert f is not None, name
        out.add(f.id)
    return out


def tracker_state(sb: Sandbox) -> dict[str, Any]:
    """Everything a person sees on both trackers, except modification times and generated ids."""
    with sb.lock:
        issues = {
            key: {
                "fields": {f: copy.deepcopy(v) for f, v in issue.fields.items() if f != "updated"},
                "comments": [(c.author, c.body) for c in issue.comments],
            }
            for key, issue in sb.jira_data.issues.items()
        }
        opportunities = {
            opp_id: {f: copy.deepcopy(v) for f, v in opp.items() if f not in SF_SYSTEM}
            for opp_id, opp in sb.salesforce_data.records["Opportunity"].items()
        }
        tasks = sorted(
            (
                (t.get("WhatId"), t.get("Subject"), t.get("Description"), t.get("OwnerId"))
                for t in sb.salesforce_data.records.get("Task", {}).values()
            ),
            key=repr,
        )
    return {"issues": issues, "opportunities": opportunities, "tasks": tasks}


def assert_no_duplicate_notes(sb: Sandbox) -> None:
    with sb.lock:
        for key, issue in sb.jira_data.issues.items():
            bodies = Counter(c.body for c in issue.comments if "trackerbridge:" in c.body)
            assert all(n == 1 for n in bodies.values()), (key, bodies)
        subjects = Counter(
            (t.get("WhatId"), t.get("Subject"))
            for t in sb.salesforce_data.records.get("Task", {}).values()
            if "[tb:" in str(t.get("Subject"))
        )
    assert all(n == 1 for n in subjects.values()), [k for k, n in subjects.items() if n > 1]


def assert_only_owned_changed(sb: Sandbox, before: dict[str, Any], after: dict[str, Any]) -> None:
    owned = jira_owned_ids(sb)
    for key, was in before["issues"].items():
        now = after["issues"][key]
        changed = {f for f in {*was["fields"], *now["fields"]} if was["fields"].get(f) != now["fields"].get(f)}
        assert changed <= owned | {"labels"}, (key, changed - owned)
        if "labels" in changed:
            old = {x for x in (was["fields"]["labels"] or []) if not x.startswith(LABEL_PREFIX)}
            new = {x for x in (now["fields"]["labels"] or []) if not x.startswith(LABEL_PREFIX)}
            assert old == new, key
        assert now["comments"][: len(was["comments"])] == was["comments"], key
    for opp_id, was in before["opportunities"].items():
        now = after["opportunities"][opp_id]
        changed = {f for f in {*was, *now} if was.get(f) != now.get(f)}
        assert changed <= set(SF_OWNED), (opp_id, changed - set(SF_OWNED))


def first_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    for part in ("issues", "opportunities"):
        for key in sorted({*a[part], *b[part]}):
            x, y = a[part].get(key) or {}, b[part].get(key) or {}
            if x != y:
                if part == "issues":
                    x, y = {**x["fields"], "comments": x["comments"]}, {**y["fields"], "comments": y["comments"]}
                diff = {f: (x.get(f), y.get(f)) for f in {*x, *y} if x.get(f) != y.get(f)}
                return f"{part} {key}: {diff}"
    return f"tasks differ: {len(a['tasks'])} != {len(b['tasks'])}" if a["tasks"] != b["tasks"] else ""


# --- the soak -------------------------------------------------------------------------------------

SOAK_SIZE = 10_000 if FULL else 600
SOAK_FAULTS = (
    "rate-limit:every=5,retry_after=1,service=jira;error:rate=0.05,status=503;drop:rate=0.01;latency:ms=20"
    if FULL
    # small runs make few calls (a turn to red is a few dozen): drops must be frequent enough to be met
    else "rate-limit:every=5,retry_after=0,service=jira;error:rate=0.05,status=503;drop:rate=0.04;latency:ms=2"
)
SOAK_BOUND = 3600.0 if FULL else 120.0  # seconds a faulted run may take


def turn_red(sb: Sandbox, count: int) -> list[str]:
    """A person clears the assignee of `count` green open issues (TB101 makes them red): the same
    issues on sandboxes built alike. Faults are off meanwhile, so the person's edits all land."""
    rules, seed = sb.faults.rules, sb.faults.seed
    sb.faults.replace([])
    health = sb.jira_data.field_by_clause("Execution health")
    assert health is not None
    keys = [
        k
        for k, i in sorted(sb.jira_data.issues.items())
        if i.fields.get(health.id) == "Green"
        and i.fields.get("assignee")
        and sb.jira_data.statuses[i.fields["status"]].category != "done"
    ][:count]
    for key in keys:
        assert jira_as_person(sb, "PUT", f"issue/{key}", json={"fields": {"assignee": None}}).ok
    sb.faults.replace(rules, seed)
    return keys


def notes(state: dict[str, Any]) -> int:
    comments = sum(1 for i in state["issues"].values() for _, body in i["comments"] if "trackerbridge:" in body)
    return comments + sum(1 for t in state["tasks"] if "[tb:" in t[1])


def test_soak_under_faults_ends_where_a_fault_free_run_does(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    clean = sandbox_factory(size=SOAK_SIZE, seed=8)
    faulty = sandbox_factory(size=SOAK_SIZE, seed=8, faults=SOAK_FAULTS)
    clean_project, faulty_project = make_project(tmp_path / "clean"), make_project(tmp_path / "faulty")
    assert tracker_state(faulty) == tracker_state(clean)
    for phase in ("first run", "turned red"):
        if phase == "turned red":  # the same people's edits on both, then a run that posts notes
            for sb in (clean, faulty):
                sb.clock.advance(timedelta(minutes=5))
            assert turn_red(clean, SOAK_SIZE // 20) == turn_red(faulty, SOAK_SIZE // 20)
            for sb in (clean, faulty):
                sb.clock.advance(timedelta(minutes=5))
        before = tracker_state(faulty)
        assert before == tracker_state(clean), first_difference(before, tracker_state(clean))
        code, err = sync(clean, clean_project)
        assert code == 0, err
        expected = tracker_state(clean)
        assert expected != before, "the fault-free run writes something"
        if phase == "turned red":
            assert notes(expected) > notes(before), "the fault-free run posts notes"

        faulty.accounting.reset()
        started = time.monotonic()
        code, err = sync(faulty, faulty_project)
        elapsed = time.monotonic() - started
        assert code == 0, (phase, err[-3000:])
        assert elapsed < SOAK_BOUND, f"{phase}: the faulted run took {elapsed:.0f}s"
        statuses = Counter(r.status for r in faulty.accounting.records())
        assert statuses[429] and statuses[503] and statuses[0], (phase, statuses)  # every kind of fault met

        after = tracker_state(faulty)
        assert after == expected, (phase, first_difference(after, expected))
        assert_no_duplicate_notes(faulty)
        assert_only_owned_changed(faulty, before, after)


# --- crashes --------------------------------------------------------------------------------------

CRASH_SIZE = 120
KILL_POINTS = 20


def sync_process(
    sb: Sandbox, project: Path, *args: str, env: Mapping[str, str] | None = None, text: bool = False
) -> subprocess.Popen[Any]:
    """A real `trackerbridge sync` process against the sandbox (`env`: more variables, e.g. a state URL)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trackerbridge",
            "sync",
            "--project",
            str(project),
            "--as-of",
            sb.clock.now().isoformat(),
            *args,
        ],
        env={**os.environ, **sb.info.as_env(), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=text,
    )


def prepare(sb: Sandbox, project: Path, phase: str) -> None:
    """`first`: a fresh org, never synced. `red`: synced once, then people make some issues red."""
    if phase == "red":
        code, err = sync(sb, project)
        assert code == 0, err
        sb.clock.advance(timedelta(minutes=5))
        turn_red(sb, 8)
        sb.clock.advance(timedelta(minutes=5))
    sb.accounting.reset()


def kill_at(sb: Sandbox, process: subprocess.Popen[bytes], k: int) -> None:
    """SIGKILL the sync when the sandbox has handled its k-th request, before the answer is sent:
    the request (a write, perhaps) reached the tracker, the process never learns it did."""
    record = sb.accounting.record
    seen = [0]

    def counting(entry: Any) -> None:
        record(entry)
        seen[0] += 1
        if seen[0] == k:
            process.send_signal(signal.SIGKILL)
            process.wait()

    sb.accounting.record = counting  # type: ignore[method-assign]
    try:
        process.wait(timeout=60)
    finally:
        sb.accounting.record = record  # type: ignore[method-assign]


def logged_keys(project: Path) -> set[tuple[str, str]]:
    with store_of(project) as store:
        return {(e.connector, e.key[:15]) for e in store.log() if e.outcome in ("planned", "ok")}


def changed_records(before: dict[str, Any], after: dict[str, Any]) -> set[tuple[str, str]]:
    out = {("sandbox-jira", k) for k, v in after["issues"].items() if before["issues"][k] != v}
    out |= {
        ("sandbox-salesforce", k[:15]) for k, v in after["opportunities"].items() if before["opportunities"][k] != v
    }
    out |= {("sandbox-salesforce", str(t[0])[:15]) for t in after["tasks"] if t not in before["tasks"]}
    return out


def test_a_sync_killed_anywhere_converges_and_its_writes_are_in_the_audit_log(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    expected: dict[str, dict[str, Any]] = {}
    requests_in_run: dict[str, int] = {}
    first_write: dict[str, int] = {}
    for phase in ("first", "red"):
        sb = sandbox_factory(size=CRASH_SIZE)
        project = make_project(tmp_path / f"clean-{phase}")
        prepare(sb, project, phase)
        code, err = sync(sb, project)
        assert code == 0, err
        expected[phase] = tracker_state(sb)
        records = sb.accounting.records()
        requests_in_run[phase] = len(records)
        first_write[phase] = next(
            n
            for n, r in enumerate(records, 1)
            if r.method in ("PUT", "PATCH", "POST") and "search" not in r.path and "query" not in r.path
        )

    rng = random.Random(8)
    points = [(phase, rng.randint(1, requests_in_run[phase] - 1)) for phase in ("first", "red") * (KILL_POINTS // 2)]
    assert any(k < first_write[p] for p, k in points) and any(k >= first_write[p] for p, k in points)
    for n, (phase, k) in enumerate(points):
        sb = sandbox_factory(size=CRASH_SIZE)
        project = make_project(tmp_path / f"kill-{n}")
        prepare(sb, project, phase)
        before = tracker_state(sb)
        process = sync_process(sb, project)
        kill_at(sb, process, k)
        assert process.returncode == -signal.SIGKILL, (phase, k, process.stderr.read().decode()[-2000:])  # type: ignore[union-attr]
        killed = tracker_state(sb)
        written = changed_records(before, killed)
        jira_writes = {
            ("sandbox-jira", r.path.split("/")[5])
            for r in sb.accounting.records()
            if r.service == "jira" and r.method in ("PUT", "POST") and "/issue/" in r.path and 200 <= r.status < 300
        }
        missing = (written | jira_writes) - logged_keys(project) if (project / ".trackerbridge").exists() else written
        assert not missing, (phase, k, sorted(missing)[:5])

        code, err = sync(sb, project)
        assert code == 0, (phase, k, err[-2000:])
        after = tracker_state(sb)
        assert after == expected[phase], (phase, k, first_difference(after, expected[phase]))
        assert_no_duplicate_notes(sb)


def test_a_run_killed_between_a_records_red_write_and_its_task_posts_the_task_next_time(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    """A Salesforce "turned red" Task is a call of its own after the record's fields: a run killed in
    between leaves a record that already shows red, so the turn is no longer visible on it. The intent
    the run logged (the note pending) is what tells the next run that the Task is still owed."""
    reference = sandbox_factory(size=CRASH_SIZE)
    project = make_project(tmp_path / "reference")
    prepare(reference, project, "red")
    assert sync(reference, project)[0] == 0
    expected = tracker_state(reference)
    records = reference.accounting.records()
    writes = [n for n, r in enumerate(records, 1) if r.service == "salesforce" and r.method in ("PATCH", "POST")]
    assert expected["tasks"], "the red phase posts Tasks"
    health_write = writes[0]  # the opportunities' health: their Tasks come after it

    sb = sandbox_factory(size=CRASH_SIZE)
    project = make_project(tmp_path / "killed")
    prepare(sb, project, "red")
    process = sync_process(sb, project)
    kill_at(sb, process, health_write)
    assert process.returncode == -signal.SIGKILL
    assert len(tracker_state(sb)["tasks"]) < len(expected["tasks"]), "killed before its Tasks"
    code, err = sync(sb, project)
    assert code == 0, err[-2000:]
    assert tracker_state(sb)["tasks"] == expected["tasks"]
    assert_no_duplicate_notes(sb)


# --- a person edits between trackerbridge's read and its write ---------------------------------------


def test_a_persons_edit_between_read_and_write_is_not_lost(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(size=CRASH_SIZE)
    account_owner = sb.jira_data.field_by_clause("Account owner")
    assert account_owner is not None
    people = [u.account_id for u in sb.jira_data.users.values() if "bot" not in u.email]
    edited: dict[str, tuple[str, str, Any]] = {}
    jira_handle, salesforce_handle = sb.jira.handle, sb.salesforce.handle

    target: dict[str, str] = {}

    def jira(request: Any) -> Any:  # under the sandbox lock: before the request is answered
        writing = request.method == "PUT" or re.fullmatch(r"/rest/api/2/issue/[A-Z]+-\d+", request.path)
        if writing and "jira" not in edited:  # trackerbridge's first request of its writes
            issue = sb.jira_data.issues[target["jira"]]
            mine = next(p for p in people if p != issue.fields.get(account_owner.id))
            issue.fields[account_owner.id] = mine
            issue.fields["summary"] = "Renamed by a person"
            edited["jira"] = (target["jira"], account_owner.id, mine)
        return jira_handle(request)

    def salesforce(request: Any) -> Any:
        writing = request.method == "PATCH" or " Id IN " in unquote_plus(request.target)
        if writing and "salesforce" not in edited:
            opp = sb.salesforce_data.get(target["salesforce"])[1]  # type: ignore[index]
            opp["Delivery_Status__c"] = "Cancelled"
            opp["LastModifiedDate"] = opp["SystemModstamp"] = sb.clock.now()
            edited["salesforce"] = (opp["Id"], "Delivery_Status__c", "Cancelled")
        return salesforce_handle(request)

    project = make_project(tmp_path / "project")
    code, err = sync(sb, project)
    assert code == 0, err
    # People move a linked epic to Done (synced to the opportunity) and hand the opportunity to a new
    # owner (synced to the epic's Account owner): the next run writes synced values on both sides.
    opportunity = sb.jira_data.field_by_clause("Salesforce opportunity id")
    assert opportunity is not None
    sb.clock.advance(timedelta(minutes=5))
    linked = [
        (k, i.fields[opportunity.id])
        for k, i in sorted(sb.jira_data.issues.items())
        if i.fields.get(opportunity.id)
        and sb.salesforce_data.get(i.fields[opportunity.id])
        and sb.jira_data.statuses[i.fields["status"]].name in ("In Progress", "Rolling Out")
    ][:4]
    assert len(linked) == 4
    users = [u for u in sb.salesforce_data.records["User"].values() if u.get("IsActive") and "bot" not in u["Email"]]
    for key, opp_id in linked:
        transitions = jira_as_person(sb, "GET", f"issue/{key}/transitions").json()["transitions"]
        done = next(t for t in transitions if t["name"] == "Done")
        assert jira_as_person(sb, "POST", f"issue/{key}/transitions", json={"transition": {"id": done["id"]}}).ok
        opp = sb.salesforce_data.get(opp_id)[1]  # type: ignore[index]
        opp["OwnerId"] = next(u["Id"] for u in users if u["Id"] != opp["OwnerId"])
        opp["LastModifiedDate"] = opp["SystemModstamp"] = sb.clock.now()
    sb.clock.advance(timedelta(minutes=5))
    target["jira"], target["salesforce"] = linked[0]
    sb.jira.handle, sb.salesforce.handle = jira, salesforce  # type: ignore[method-assign]
    code, err = sync(sb, project)
    assert set(edited) == {"jira", "salesforce"}, (edited, err[-1500:])
    assert code == 4, err
    key, field, value = edited["jira"]
    assert sb.jira_data.issues[key].fields[field] == value
    assert sb.jira_data.issues[key].fields["summary"] == "Renamed by a person"
    assert f"key={key} error=Account owner: changed by a person since it was read" in err
    opp_id, field, value = edited["salesforce"]
    assert sb.salesforce_data.get(opp_id)[1][field] == value, err  # type: ignore[index]
    assert "changed by a person since it was read; left for the next run" in err

    sb.jira.handle, sb.salesforce.handle = jira_handle, salesforce_handle  # type: ignore[method-assign]
    sb.clock.advance(timedelta(minutes=5))
    code, err = sync(sb, project)  # the next run sees the edits: a conflict or the person's value, never lost
    assert code in (0, 4), err
    assert sb.jira_data.issues[key].fields[edited["jira"][1]] == edited["jira"][2]
    assert sb.salesforce_data.get(opp_id)[1][field] == value  # type: ignore[index]


# --- overlap --------------------------------------------------------------------------------------


def test_two_syncs_started_together_one_writes_the_other_exits_75(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(size=120, latency_ms=15)  # the first run holds the lock for a while
    clean = sandbox_factory(size=120)
    project, reference = make_project(tmp_path / "p"), make_project(tmp_path / "ref")
    assert sync(clean, reference)[0] == 0
    first, second = sync_process(sb, project), sync_process(sb, project)
    codes = sorted([first.wait(timeout=120), second.wait(timeout=120)])
    errors = [p.stderr.read().decode() if p.stderr else "" for p in (first, second)]
    assert codes == [0, 75], errors
    assert any("another trackerbridge sync is running" in e for e in errors)
    assert tracker_state(sb) == tracker_state(clean), "the writes are one run's"
    with store_of(project) as store:
        assert [r.status for r in store.runs()] == ["ok"]


# --- quotas ---------------------------------------------------------------------------------------


def test_salesforce_quota_stops_the_run_keeping_what_was_written(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(size=1800)  # 1125 opportunities: a Composite of 1000, then a collection of 125
    clean = sandbox_factory(size=1800)
    project, reference = make_project(tmp_path / "p"), make_project(tmp_path / "ref")
    with (project / "trackerbridge.yaml").open("a") as fh:  # no pacing: the org's own limit stops this run
        fh.write("quota:\n  share: 1\n")
    assert sync(clean, reference)[0] == 0
    # Describe, the query, the user look-up and the re-read of the synced fields the first 1000 write (one query:
    # fewer than 200 of them do) use the first calls, then one Composite saves 1000 records; the collection of
    # the other 125 meets the limit.
    reads = 4
    sb.salesforce.daily_api_limit = sb.salesforce.api_requests_used + reads + 1
    code, err = sync(sb, project)
    assert code == 3, err
    assert "REQUEST_LIMIT_EXCEEDED" in err or "request limit reached" in err
    writes = [r for r in sb.accounting.records() if r.method in ("PATCH", "POST") and "/composite" in r.endpoint]
    assert [(r.method, r.endpoint.rsplit("/", 1)[-1], r.status) for r in writes] == [
        ("POST", "composite", 200),
        ("PATCH", "sobjects", 403),
    ]
    assert any(r.status == 403 and r.service == "salesforce" for r in sb.accounting.records())
    written = {k for k, opp in sb.salesforce_data.records["Opportunity"].items() if opp.get("Execution_Health__c")}
    with store_of(project) as store:
        logged_ok = {e.key for e in store.log(connector="sandbox-salesforce") if e.outcome == "ok"}
        assert written == logged_ok and len(written) == 1000, "every saved record is in the audit log, and no more"
        assert store.runs()[0].status == "stopped"
    sb.salesforce.daily_api_limit = 10**9
    sb.clock.advance(timedelta(minutes=5))
    assert sync(sb, project)[0] == 0
    after, expected = tracker_state(sb), tracker_state(clean)
    assert after["opportunities"] == expected["opportunities"]
    assert after["tasks"] == expected["tasks"]
