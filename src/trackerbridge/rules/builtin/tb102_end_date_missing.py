"""TB102 end-date-missing: every active initiative has an end date."""

from __future__ import annotations

from collections.abc import Iterable

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Rule, Severity


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    if initiative.end is None and initiative.active:
        return (Hit(initiative, "no end date"),)
    return ()


RULE = Rule(
    code="TB102",
    name="end-date-missing",
    severity=Severity.ERROR,
    summary="Active initiative without an end date",
    what="An initiative in decide, build or launch has no end date.",
    why="Without an end date nobody can tell when to extend or sunset it, so it lives on (initiative sprawl).",
    fix="Set the date by which it ends; if nobody can, sunset it with a learning note.",
    check=check,
)
