"""The metrics a sync run stores (`trackerbridge.metrics`): one definition for `sync`, which writes them, and
`report`, which reads them back as trends; `sync` needs nothing of the report package."""

from __future__ import annotations

import subprocess
import sys

from trackerbridge.metrics import RunMetrics, headline_metrics, team_metrics
from trackerbridge.report import model, team


def test_the_report_reads_the_figures_the_sync_stores_by_the_same_definition() -> None:
    assert model.headline_metrics is headline_metrics
    assert team.team_metrics is team_metrics


def test_run_metrics_are_stored_as_json_in_a_fixed_key_order() -> None:
    figures = RunMetrics(
        initiatives=3,
        red=1,
        amber=1,
        green=1,
        findings=4,
        changes=2,
        written=2,
        failed=0,
        conflicts=0,
        read={"jira": 3},
        api_calls=5,
        headline={"active": 2},
        teams={"Payments": {"red": 1}},
    )
    stored = figures.as_json()
    assert list(stored) == [
        "initiatives",
        "red",
        "amber",
        "green",
        "findings",
        "changes",
        "written",
        "failed",
        "conflicts",
        "read",
        "api_calls",
        "headline",
        "teams",
    ]
    assert stored["read"] == {"jira": 3} and stored["teams"] == {"Payments": {"red": 1}}
    assert RunMetrics(**stored) == figures


def test_sync_imports_nothing_of_the_report_package() -> None:
    code = "import sys, trackerbridge.sync; print(sorted(m for m in sys.modules if m.startswith('trackerbridge.rep')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
