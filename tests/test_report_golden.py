"""`trackerbridge report` for the demo organisation, through click's runner: every format carries the figures
the generator planted (it counts its gaps from its own data), from a fresh pull and from the state store."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from trackerbridge.audit import run_audit
from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.report.model import headline_metrics
from trackerbridge.sandbox import Sandbox, SandboxConfig
from trackerbridge.sandbox.demo import ACTIVE_STAGES, MAJOR_PRIORITIES, STAGE_OF_STATUS
from trackerbridge.sandbox.pytest_plugin import TEST_NOW
from trackerbridge.state.store import StateStore

ROOT = Path(__file__).resolve().parent.parent
# The demo organisation (seed 7, size 400) as of TEST_NOW: what leadership would read.
GOLDEN = {
    "active": 300,
    "share_owner": 0.9033,
    "share_integrator": 0.6961,
    "share_end_date": 0.88,
    "overdue": 30,
    "stuck_in_decide": 24,
    "red": 105,
    "amber": 127,
    "green": 68,
}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """One read-only sandbox for the module: reports never write to the trackers."""
    with Sandbox(SandboxConfig(clock=TEST_NOW)) as sandbox:
        yield sandbox


def report(sb: Sandbox, state: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main,
        ["report", "--project", str(ROOT), "--as-of", sb.anchor.isoformat(), "--state", f"sqlite:///{state}", *args],
        env=sb.info.as_env(),
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def document(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    code, out, err = report(sb, tmp_path_factory.mktemp("state") / "absent.db", "--pull", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def planted(sb: Sandbox) -> dict[str, Any]:
    """The figures worked out from the generator's own data and gap counts."""
    assert sb.summary is not None
    gaps = sb.summary.gaps
    status = {s.id: s.name for s in sb.jira_data.statuses.values()}
    active = [
        i.fields for i in sb.jira_data.issues.values() if STAGE_OF_STATUS[status[i.fields["status"]]] in ACTIVE_STAGES
    ]
    major = sum(1 for f in active if f["priority"] in MAJOR_PRIORITIES)
    return {
        "active": len(active),
        "share_owner": round((len(active) - gaps["no_owner"]) / len(active), 4),
        "share_integrator": round((major - gaps["no_integrator_major"]) / major, 4),
        "share_end_date": round((len(active) - gaps["no_end_date"]) / len(active), 4),
        "overdue": gaps["overdue"],
        "stuck_in_decide": gaps["stuck_in_decide"],
    }


def test_headline_figures_equal_the_planted_gaps(sb: Sandbox, document: dict[str, Any]) -> None:
    figures = {h["key"]: h["value"] for h in document["headline"]}
    assert figures == GOLDEN
    assert {k: figures[k] for k in planted(sb)} == planted(sb)
    assert figures["red"] + figures["amber"] + figures["green"] == figures["active"]
    assert all(len(h["series"]) == 1 and h["change"] is None for h in document["headline"])  # no state: no trend


def test_sprawl_handoffs_and_rules_equal_the_planted_gaps(sb: Sandbox, document: dict[str, Any]) -> None:
    assert sb.summary is not None
    gaps = sb.summary.gaps
    owners, teams = document["owners"], document["teams"]
    assert sum(1 for o in owners if o["over"]) == gaps["overloaded_owner"] == 3
    assert [o["over"] for o in owners[:4]] == [3, 2, 1, 0]  # overloaded first
    assert sum(1 for t in teams if t["over"]) == gaps["team_over_capacity"] == 2
    assert {t["name"]: t["capacity"] for t in teams} == sb.summary.team_capacity
    handoffs = document["handoffs"]["items"]
    assert len(handoffs) == sb.summary.closed_won
    assert sum(1 for h in handoffs if any(p["code"] == "TB110" for p in h["problems"])) == gaps["idle_handoff"]
    assert sum(1 for h in handoffs if h["owner"] is None) == gaps["handoff_without_owner"]
    assert sum(1 for h in handoffs if h["deliveries"]) == sb.summary.linked_handoffs
    assert all(h["deal"]["url"].startswith("https://") for h in handoffs)
    by_rule = {g["code"]: g["count"] for g in document["findings_by_rule"]}
    assert by_rule["TB101"] == gaps["no_owner"] and by_rule["TB104"] == gaps["stuck_in_decide"]
    severities = [g["severity"] for g in document["findings_by_rule"]]
    assert severities == sorted(severities)  # errors before warnings
    sunset = document["sunset_candidates"]["items"]
    assert len(sunset) == 205
    assert sum(1 for c in sunset if any(r["code"] == "TB101" for r in c["reasons"])) == gaps["no_owner"]
    assert all(c["record"]["url"].startswith("https://") and c["reasons"] for c in sunset)


@pytest.mark.parametrize("fmt", ["html", "markdown", "csv", "table"])
def test_every_format_shows_the_figures(sb: Sandbox, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"report.{fmt}"
    code, out, err = report(sb, tmp_path / "absent.db", "--pull", "--format", fmt, "--output", str(target))
    assert code == 0, err
    assert out == ""
    text = target.read_text(encoding="utf-8")
    for label, value in (
        ("Active initiatives", "300"),
        ("Overdue", "30"),
        ("Stuck in decide", "24"),
        ("With an owner", "90%"),
    ):
        shown = {
            "html": rf"<span>{label}</span></div><div class=\"value\">{value}</div>",
            "markdown": rf"\| {label} \| {value} \|",
            "table": rf"{label}\s+{value}\s",
            "csv": None,
        }[fmt]
        if shown:
            assert re.search(shown, text), (label, value)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        headline = {r["item"]: r["value"] for r in rows if r["section"] == "headline"}
        assert headline == {k: str(v) for k, v in GOLDEN.items()}
        assert sum(1 for r in rows if r["section"] == "sunset") == 205
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "<script" not in text
        assert 'href="https://127.0.0.1:' in text  # record links into the sandbox's Jira and Salesforce


def test_format_follows_the_output_suffix(sb: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "sprawl.md"
    code, _, err = report(sb, tmp_path / "absent.db", "--pull", "--output", str(target))
    assert code == 0, err
    assert target.read_text().startswith("## Initiative sprawl report")


def test_without_state_or_pull_says_what_to_do(sb: Sandbox, tmp_path: Path) -> None:
    state = tmp_path / "nothing" / "state.db"
    code, out, err = report(sb, state, "--format", "json")
    assert code == 2 and out == ""
    assert "run `trackerbridge sync` first, or pass --pull" in err
    assert not state.exists() and not state.parent.exists()  # a report never creates a store
    StateStore.open(f"sqlite:///{state}").close()  # a store, but no runs yet
    code, _, err = report(sb, state, "--format", "json")
    assert code == 2 and "no runs in the state store" in err


def test_from_the_state_store_without_api_calls(sb: Sandbox, tmp_path: Path, document: dict[str, Any]) -> None:
    """The last sync's records and past runs' metrics: the same figures as a pull, with their trend."""
    result = run_audit(Project.load(ROOT), [], sb.anchor, sb.info.as_env())
    state = tmp_path / "state.db"
    with StateStore.open(f"sqlite:///{state}") as store:
        for name in ("sandbox-jira", "sandbox-salesforce"):
            store.save_records(name, [i for i in result.initiatives if i.source == name], replace=True)
        for days, overdue in ((3, 41), (2, 37), (1, 33)):
            run = store.begin_run("sync", sb.anchor - timedelta(days=days))
            store.finish_run(
                run, sb.anchor - timedelta(days=days), "ok", {**headline_metrics(result), "overdue": overdue}
            )
        crashed = store.begin_run("sync", sb.anchor - timedelta(hours=12))  # never finished: no trend point
        other = sb.anchor - timedelta(days=1, hours=-1)  # the day's last run, but its metrics count something else
        store.finish_run(store.begin_run("sync", other), other, "ok", {"initiatives": 650, "red": 999})
    before = sb.admin("GET", "requests")["total"]
    since = (sb.anchor - timedelta(days=2)).date().isoformat()
    code, out, err = report(sb, state, "--format", "json", "--since", since)
    assert code == 0, err
    assert sb.admin("GET", "requests")["total"] == before, "no API calls without --pull"
    assert crashed
    stored = json.loads(out)
    assert stored["read_at"] == other.isoformat()  # the newest finished run read the stored records
    figures = {h["key"]: h for h in stored["headline"]}
    assert {k: h["value"] for k, h in figures.items()} == GOLDEN
    assert [p["value"] for p in figures["overdue"]["series"]] == [37, 33, 30]  # since two days ago
    assert figures["overdue"]["change"] == -3
    assert [p["value"] for p in figures["red"]["series"]] == [105, 105, 105]
    assert stored["owners"] == document["owners"] and stored["teams"] == document["teams"]
    assert stored["sunset_candidates"] == document["sunset_candidates"]
