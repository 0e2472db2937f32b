"""What a sync run stores as its metrics (`RunMetrics`), and the figures in them that `report` reads back as
trends (`headline_metrics`, `team_metrics`): one definition for the writer and the reader, so trends compare
like with like, and `sync` needs nothing of the report package. Pure: no I/O, no clock.

The figures are defined in `trackerbridge.report.model`'s docstring (the headline) and
`trackerbridge.report.team`'s (a team's scorecard), next to how they are shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from trackerbridge.emitters.json import text
from trackerbridge.health import Flag
from trackerbridge.model import Initiative, Size, Stage
from trackerbridge.rules.builtin import tb104_stuck_in_decide
from trackerbridge.rules.engine import effective_params

if TYPE_CHECKING:
    from trackerbridge.audit import AuditResult

Number = float | int
OWNER_RULE = "TB101"


@dataclass(frozen=True)
class RunMetrics:
    """One run's figures as the state store keeps them (a run's `metrics`, JSON: `as_json`, keys in this order).
    `headline` and `teams` are what `report` draws its trends from."""

    initiatives: int  # records judged
    red: int
    amber: int
    green: int
    findings: int  # live (not waived)
    changes: int  # records planned to change
    written: int
    failed: int
    conflicts: int
    read: Mapping[str, int]  # records read per connector
    api_calls: int
    headline: Mapping[str, Number]  # `headline_metrics`: the report's trends
    teams: Mapping[str, Mapping[str, Number]]  # `team_metrics`: the weekly team pages' trends

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def is_initiative(result: AuditResult, i: Initiative) -> bool:
    """A record of a connector whose rule scope includes the owner rule (`report.model`'s docstring)."""
    scope = result.settings.scope.get(i.source)
    return scope is None or scope.includes(OWNER_RULE)


def active_initiatives(result: AuditResult) -> list[Initiative]:
    return [i for i in result.initiatives if i.active and is_initiative(result, i)]


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


def headline_metrics(result: AuditResult) -> dict[str, Number]:
    """The headline figures, in METRICS' order; the sync stores exactly this dict as a run's metrics."""
    active = active_initiatives(result)
    flagged = {code: {f.ref for f in result.live if f.code == code} for code in ("TB104", "TB105")}
    major = [i for i in active if i.size is Size.MAJOR]
    flags = [result.health[i.ref].flag if i.ref in result.health else Flag.GREEN for i in active]
    return {
        "active": len(active),
        "share_owner": _share(sum(i.owner is not None for i in active), len(active)),
        "share_integrator": _share(sum(i.integrator is not None for i in major), len(major)),
        "share_end_date": _share(sum(i.end is not None for i in active), len(active)),
        "overdue": sum(i.ref in flagged["TB105"] for i in active),
        "stuck_in_decide": sum(i.ref in flagged["TB104"] for i in active),
        "red": flags.count(Flag.RED),
        "amber": flags.count(Flag.AMBER),
        "green": flags.count(Flag.GREEN),
    }


def _entered(i: Initiative) -> datetime | None:
    return i.stage_entered or i.created


def team_metrics(result: AuditResult) -> dict[str, dict[str, Number]]:
    """Team -> the scorecard's values now; `sync` stores this under "teams" in each run's metrics."""
    rule = tb104_stuck_in_decide.RULE  # its parameters as the audit ran it, else the built-in's defaults
    params: dict[str, Any] = effective_params(result.rules.get(rule.code, rule), result.settings)
    decide_days = int(params["days"])
    by_team: dict[str, list[Initiative]] = {}
    for i in active_initiatives(result):
        if i.team:
            by_team.setdefault(text(i.team), []).append(i)
    live = {code: {f.ref for f in result.live if f.code == code} for code in ("TB104", "TB105", "TB117")}
    out = {}
    for team, active in by_team.items():
        major = [i for i in active if i.size is Size.MAJOR]
        flags = [result.health[i.ref].flag if i.ref in result.health else Flag.GREEN for i in active]
        pending = [
            i
            for i in active
            if i.stage is Stage.DECIDE and (e := _entered(i)) is not None and (result.now - e).days > decide_days
        ]
        out[team] = {
            "active": len(active),
            "share_owner": _share(sum(i.owner is not None for i in active), len(active)),
            "share_end_date": _share(sum(i.end is not None for i in active), len(active)),
            "share_integrator": _share(sum(i.integrator is not None for i in major), len(major)),
            "pending_decisions": len(pending),
            "stuck_in_decide": sum(i.ref in live["TB104"] for i in active),
            "slips_without_reason": sum(i.ref in live["TB117"] for i in active),
            "overdue": sum(i.ref in live["TB105"] for i in active),
            "red": flags.count(Flag.RED),
            "amber": flags.count(Flag.AMBER),
        }
    return out
