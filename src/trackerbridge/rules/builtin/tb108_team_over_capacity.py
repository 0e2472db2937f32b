"""TB108 team-over-capacity: teams do not carry more active initiatives than their capacity allows.

Capacity is configured per team, or estimated as `per_member` times the people seen owning the
team's records (any stage, any kind): the trackers know who works on a team's records, not the
org chart. One finding per team, on its newest counted initiative (see TB107 for why that one).
"""

from __future__ import annotations

from collections.abc import Iterator

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Index, Param, ParamError, Rule, Severity
from trackerbridge.rules.builtin.tb107_owner_overloaded import active, counted, newest


def check(index: Index, ctx: Context) -> Iterator[Hit]:
    configured: dict[str, int] = ctx.params["capacity"]
    per_member: int = ctx.params["per_member"]
    load: dict[str, list[Initiative]] = {}
    for i in counted(index.all, ctx.params["kinds"]):
        if i.team:
            load.setdefault(i.team, []).append(i)
    members: dict[str, set[str]] = {}
    if any(team not in configured for team in load):
        for i in index.all:
            if i.team in load and i.owner is not None and i.owner.identity:
                members.setdefault(i.team, set()).add(i.owner.identity)
    for team, carried in sorted(load.items()):
        if team in configured:
            capacity = configured[team]
            if isinstance(capacity, bool) or not isinstance(capacity, int):
                raise ParamError(f"capacity of team {team!r} must be a whole number, got {capacity!r}")
            basis = ""
        else:
            seen = len(members.get(team, ()))
            capacity = per_member * seen
            basis = f", {seen} owners x {per_member}"
        if len(carried) > capacity:
            message = f"team {team} carries {active(len(carried))} (capacity {capacity}{basis})"
            yield Hit(newest(carried), message, detail=team)


RULE = Rule(
    code="TB108",
    name="team-over-capacity",
    severity=Severity.WARNING,
    summary="Team carries more active initiatives than its capacity",
    what=(
        "A team has more initiatives in decide, build or launch (of `kinds`, when set) than its capacity: the "
        "number in `capacity`, else `per_member` times the distinct owners seen on the team's records."
    ),
    why="A team over capacity starts everything and finishes little; priorities get set by whoever shouts last.",
    fix="Stop or defer initiatives until the team is within capacity, or move some to another team.",
    check=check,
    params={
        "capacity": Param({}, "team -> active initiatives it may carry; overrides the per-member estimate"),
        "per_member": Param(5, "active initiatives per team member, for teams missing from `capacity`"),
        "kinds": Param([], "kinds (issue types, record types) that count; empty counts every kind"),
    },
    scope="set",
)
