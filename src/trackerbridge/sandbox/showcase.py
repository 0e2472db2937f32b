"""What `trackerbridge demo` shows after the audit: slips, the health roll-up and conflict review, on the demo
organisation as a user would meet them.

Slips and roll-ups are planted by the generator (`demo.count_gaps`: `slip_without_reason`, `deal_red_via_epic`).
A conflict cannot be planted in fresh data: it is both systems changing a synced field differently since the last
sync, so it needs a sync's base. `show` therefore runs a first sync against the sandbox (into a state store of its
own, never the project's), then people edit both sides of a few linked pairs (`plant_conflicts`: a person moves the
Jira delivery epic on, another person sets the opportunity's delivery status to something else), and lists the open
conflicts the way `trackerbridge conflicts` does (a dry run: nothing more is written).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from trackerbridge.sandbox.demo_gaps import DELIVERY_STATUS_OF_STATUS, PROGRESS, ROLLOUT
from trackerbridge.sandbox.jira_edit import IssueEditor

if TYPE_CHECKING:
    from trackerbridge.audit import AuditResult
    from trackerbridge.config.project import Project
    from trackerbridge.conflicts import ConflictView
    from trackerbridge.report.model import Report
    from trackerbridge.sandbox.runner import Sandbox

DEMO_CONFLICTS = 3  # linked pairs whose delivery status both sides change after the first sync
# What the person in Salesforce sets instead, in turn: each differs from the base (Build) and from Jira's (Launch).
_SALESFORCE_STATUSES = ("Cancelled", "Done", "Decide")
SYNCED_STATUS_FIELD = "Delivery_Status__c"


@dataclass(frozen=True)
class PlantedConflict:
    epic: str  # the Jira delivery epic (the source of truth for its stage)
    opportunity: str  # the linked Salesforce opportunity's Id
    base: str  # the delivery status the first sync left on both
    jira: str  # the status a person moved the epic to
    salesforce: str  # ... and the delivery status another person set on the opportunity


@dataclass(frozen=True)
class Showcase:
    audit: AuditResult  # the first sync's assessment (the same verdicts as the audit above it)
    report: Report
    rollups: list[tuple[str, list[str]]]  # (record key, its rolled-up reasons "DEL-33 red: TB101")
    planted: list[PlantedConflict]
    conflicts: list[ConflictView]


def rolled_up(result: AuditResult) -> list[tuple[str, list[str]]]:
    """Records whose health took a child's verdict: a reason that starts with another record's key."""
    keys = {i.key for i in result.initiatives}
    out = []
    for i in result.initiatives:
        reasons = [r for r in result.health[i.ref].reasons if r.split(" ", 1)[0] in keys - {i.key}]
        if reasons:
            out.append((i.key, reasons))
    return out


def plant_conflicts(sb: Sandbox, n: int = DEMO_CONFLICTS) -> list[PlantedConflict]:
    """After a sync: for the first n linked pairs whose epic is In Progress, a person moves the epic to Rolling
    Out in Jira and another person sets the opportunity's delivery status in Salesforce to something else.
    Both edits are people's (changelog author, LastModifiedById), a minute after the sandbox's `now`."""
    jira, sf = sb.jira_data, sb.salesforce_data
    link = jira.field_by_clause("Salesforce opportunity id")
    rollout = jira.status_by_name(ROLLOUT)
    if link is None or rollout is None:
        raise ValueError("the sandbox holds no demo organisation (no 'Salesforce opportunity id' field)")
    editor = IssueEditor(jira, sb.config.jira_flavor == "cloud")
    people = [u for u in jira.users.values() if u.active and "bot" not in u.email]
    planted: list[PlantedConflict] = []
    with sb.lock:
        sb.clock.advance(timedelta(minutes=1))
        now = sb.clock.now()
        for key, issue in jira.issues.items():
            if len(planted) == n:
                break
            found = sf.get(issue.fields.get(link.id) or "")
            if found is None or jira.statuses[issue.fields["status"]].name != PROGRESS:
                continue
            opp = found[1]
            base = DELIVERY_STATUS_OF_STATUS[PROGRESS]
            if opp[SYNCED_STATUS_FIELD] != base:
                continue  # the first sync did not bring this pair together (a held or failed write)
            person = next(u for u in people if u.account_id != issue.fields["assignee"])
            editor.transition(issue, rollout, person.account_id, now)
            value = _SALESFORCE_STATUSES[len(planted) % len(_SALESFORCE_STATUSES)]
            opp[SYNCED_STATUS_FIELD] = value
            opp["LastModifiedById"] = opp["OwnerId"]
            opp["LastModifiedDate"] = opp["SystemModstamp"] = now
            planted.append(PlantedConflict(key, opp["Id"], base, DELIVERY_STATUS_OF_STATUS[ROLLOUT], value))
    return planted


def show(project: Project, sb: Sandbox, env: Mapping[str, str], n: int = DEMO_CONFLICTS) -> Showcase:
    """First sync, planted conflicts, then the review (see the module docstring)."""
    from trackerbridge.conflicts import review
    from trackerbridge.report.model import build_report
    from trackerbridge.state.store import StateStore
    from trackerbridge.sync import run_sync

    with (
        tempfile.TemporaryDirectory(prefix="trackerbridge-demo-") as tmp,
        StateStore.open(f"sqlite:///{Path(tmp) / 'state.db'}") as store,
    ):
        first = run_sync(project, [], sb.clock.now(), store, env, clock=sb.clock.now)
        planted = plant_conflicts(sb, n)
        sb.clock.advance(timedelta(minutes=1))
        found = review(project, [], sb.clock.now(), store, env)
    return Showcase(first.audit, build_report(first.audit), rolled_up(first.audit), planted, found)
