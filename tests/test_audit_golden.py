"""The demo organisation's audit, end to end through the real clients: findings per rule equal
the gaps the seed planted (the generator counts them from its own data)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from trackerbridge.audit import run_audit
from trackerbridge.config.project import Project
from trackerbridge.health import Flag
from trackerbridge.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent

RULE_FOR_GAP = {
    "no_owner": "TB101",
    "no_end_date": "TB102",
    "no_integrator_major": "TB103",
    "stuck_in_decide": "TB104",
    "overdue": "TB105",
    "overloaded_owner": "TB107",
    "team_over_capacity": "TB108",
    "sunset_without_learning_note": "TB109",
    "idle_handoff": "TB110",
    "handoff_without_owner": "TB111",
    "commitment_changed_without_approval": "TB112",
    "sync_drift": "TB113",
    "scorecard_over_ten": "TB114",
    "slip_without_reason": "TB117",
}


@pytest.mark.parametrize(("flavor", "seed", "size"), [("cloud", 7, 400), ("datacenter", 11, 1200)])
def test_audit_counts_equal_the_planted_gaps(
    flavor: str, seed: int, size: int, sandbox_factory: Callable[..., Sandbox]
) -> None:
    sb = sandbox_factory(jira_flavor=flavor, seed=seed, size=size)
    assert sb.summary is not None
    result = run_audit(Project.load(ROOT), [], sb.anchor, sb.info.as_env())
    counts = result.counts_by_rule()
    expected = {RULE_FOR_GAP[gap]: n for gap, n in sb.summary.gaps.items() if gap in RULE_FOR_GAP}
    assert {code: counts.get(code, 0) for code in expected} == expected
    assert counts.get("TB115", 0) == sb.summary.waiver_labels  # planted waivers have no expiry date
    assert counts.get("TB116", 0) == 0, "the demo's data is all readable"
    keys = {i.key for i in result.initiatives}
    rolled = [
        i.key
        for i in result.initiatives
        if any(r.split(" ", 1)[0] in keys - {i.key} for r in result.health[i.ref].reasons)
    ]
    assert len(rolled) == sb.summary.gaps["deal_red_via_epic"] > 0, "each planted roll-up, and only those"
    assert all(result.health[f"sandbox-salesforce:{k}"].flag is Flag.RED for k in rolled)
    records = len(sb.jira_data.issues) + len(sb.salesforce_data.records["Opportunity"])
    assert len(result.initiatives) == len(result.health) == records
    flags = result.flag_counts()
    assert flags[Flag.RED] > 0 and flags[Flag.GREEN] > 0
    assert sum(flags.values()) == records


def test_audit_is_deterministic_and_reads_each_record_once(sandbox: Sandbox) -> None:
    project = Project.load(ROOT)
    first = run_audit(project, [], sandbox.anchor, sandbox.info.as_env())
    again = run_audit(project, [], sandbox.anchor, sandbox.info.as_env())
    assert [(f.identity, f.message) for f in first.findings] == [(f.identity, f.message) for f in again.findings]
    assert {ref: h.text() for ref, h in first.health.items()} == {ref: h.text() for ref, h in again.health.items()}
    refs = [i.ref for i in first.initiatives]
    assert len(refs) == len(set(refs))
