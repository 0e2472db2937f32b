"""A live sync reuses what connecting learned (server facts, field catalog) and reads relative to
the trackers' clock, so a run that finds nothing new costs one search per connector; and neither
shortcut may cost a record or a wrong write."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from trackerbridge.config.project import Project
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.pytest_plugin import jira_as_person
from trackerbridge.state.store import StateStore
from trackerbridge.sync import SyncResult, run_sync

ROOT = Path(__file__).resolve().parent.parent
JIRA, SF = "sandbox-jira", "sandbox-salesforce"


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(size=120)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    s = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield s  # type: ignore[misc]
    s.close()


def live(
    sb: Sandbox,
    project: Path | Project,
    store: StateStore,
    *,
    minutes: int = 5,
    clock: Callable[[], datetime] | None = None,
    **kwargs: Any,
) -> SyncResult:
    """A run as cron makes it: the clock moved on, `now` and the trackers' clock agree."""
    sb.clock.advance(timedelta(minutes=minutes))
    sb.accounting.reset()
    now = sb.clock.now()
    loaded = project if isinstance(project, Project) else Project.load(project)
    return run_sync(
        loaded,
        [],
        now,
        store,
        sb.info.as_env(),
        watermark_floor=now - timedelta(minutes=2),
        clock=clock or sb.clock.now,
        **kwargs,
    )


def calls(sb: Sandbox, service: str) -> list[str]:
    """ "GET search/jql", "GET query": the sandbox's routes without their API prefix."""
    prefix = re.compile(r"^/(rest/api/\d+|services/data/v[^/]+)/")
    return sorted(f"{r.method} {prefix.sub('', r.endpoint)}" for r in sb.accounting.records() if r.service == service)


def test_an_idle_live_run_costs_one_search_per_connector(sb: Sandbox, project: Path, store: StateStore) -> None:
    first = live(sb, project, store)
    assert {"GET serverInfo", "GET field"} <= set(calls(sb, "jira"))
    assert "GET myself" not in calls(sb, "jira")  # neither who we are nor our time zone is needed
    # who we are on Salesforce (its writes are trackerbridge's own) is asked once and kept
    assert sum("userinfo" in c for c in calls(sb, "salesforce")) == 1
    assert first.written > 0
    live(sb, project, store)  # re-reads its own writes once (the echo)
    idle = live(sb, project, store)
    assert calls(sb, "jira") == ["GET search/jql"]
    assert calls(sb, "salesforce") == ["GET query"]
    assert idle.read == {JIRA: 0, SF: 0}
    assert idle.written == 0


def test_a_persons_change_is_read_through_the_relative_window(sb: Sandbox, project: Path, store: StateStore) -> None:
    live(sb, project, store)
    live(sb, project, store)
    sb.clock.advance(timedelta(minutes=3))
    assert jira_as_person(sb, "PUT", "issue/OPS-3", json={"update": {"labels": [{"add": "persons-own"}]}}).ok
    result = live(sb, project, store)
    assert calls(sb, "jira") == ["GET search/jql"]
    assert result.read[JIRA] == 1
    assert any(i.key == "OPS-3" and "persons-own" in i.labels for i in result.audit.initiatives)


def test_a_tracker_clock_ahead_of_ours_falls_back_to_a_dated_search(
    sb: Sandbox, project: Path, store: StateStore
) -> None:
    live(sb, project, store)
    live(sb, project, store)
    sb.clock.advance(timedelta(minutes=3))
    assert jira_as_person(sb, "PUT", "issue/OPS-3", json={"update": {"labels": [{"add": "persons-own"}]}}).ok
    # Our clock says 20 minutes earlier than Jira's: "-Nm" counted from Jira's clock would start after the edit.
    result = live(sb, project, store, clock=lambda: sb.clock.now() - timedelta(minutes=20))
    jira = calls(sb, "jira")
    assert "GET myself" in jira
    assert jira.count("GET search/jql") == 2
    assert result.read[JIRA] == 1
    assert any(i.key == "OPS-3" and "persons-own" in i.labels for i in result.audit.initiatives)


def test_discovery_is_asked_again_when_it_may_not_fit(sb: Sandbox, project: Path, store: StateStore) -> None:
    connect = {"GET serverInfo", "GET field"}
    live(sb, project, store)
    live(sb, project, store)
    assert not connect & set(calls(sb, "jira"))
    assert not any("describe" in c for c in calls(sb, "salesforce"))
    live(sb, project, store, full=True)  # a full run asks again, and keeps the answer
    assert connect <= set(calls(sb, "jira"))
    assert any("describe" in c for c in calls(sb, "salesforce"))
    live(sb, project, store, minutes=61)  # older than state.discovery_max_age (an hour)
    assert connect <= set(calls(sb, "jira"))
    file = project / "connectors" / "sandbox-jira.yaml"
    file.write_text(file.read_text().replace("flavor: auto", "flavor: cloud"))  # another configuration
    live(sb, project, store)
    assert connect <= set(calls(sb, "jira"))
    assert not any("describe" in c for c in calls(sb, "salesforce"))
    loaded = Project.load(project)
    loaded.config = loaded.config.model_copy(
        update={"state": loaded.config.state.model_copy(update={"discovery_max_age": 0})}
    )
    live(sb, loaded, store)
    live(sb, loaded, store)
    assert connect <= set(calls(sb, "jira"))
    assert store.discovery(JIRA) is not None  # 0: not used, and not renewed either


def test_a_field_the_saved_catalog_lacks_is_looked_up_before_anything_is_reported(
    sb: Sandbox, project: Path, store: StateStore
) -> None:
    live(sb, project, store)
    saved = store.discovery(JIRA)
    assert saved is not None
    health = next(f for f in saved.body["fields"] if f["name"] == "Execution health")
    body = {**saved.body, "fields": [f for f in saved.body["fields"] if f is not health]}
    store.save_discovery(JIRA, saved.fingerprint, saved.fetched_at, body)
    result = live(sb, project, store)
    assert "GET field" in calls(sb, "jira")
    assert result.failed == []
    renewed = store.discovery(JIRA)
    assert renewed is not None and health in renewed.body["fields"]


def test_a_refused_write_forgets_discovery(sb: Sandbox, project: Path, store: StateStore) -> None:
    live(sb, project, store)
    live(sb, project, store)
    assert store.discovery(JIRA) is not None
    health = sb.jira_data.field_by_clause("Execution health")
    assert health is not None
    sb.jira_data.fields[health.id] = dataclasses.replace(health, orderable=False)  # taken off the edit screen
    dated = [k for k, issue in sb.jira_data.issues.items() if issue.fields.get("duedate")]
    for key in dated[:20]:  # their health turns: a write of the health field follows
        assert jira_as_person(sb, "PUT", f"issue/{key}", json={"fields": {"duedate": None}}).ok
    result = live(sb, project, store)
    assert result.failed
    assert store.discovery(JIRA) is None
    assert store.discovery(SF) is not None
