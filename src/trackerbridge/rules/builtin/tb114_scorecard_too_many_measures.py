"""TB114 scorecard-too-many-measures: a team's scorecard holds at most ten measures."""

from __future__ import annotations

from collections.abc import Iterable

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Param, Rule, Severity


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    measures = initiative.scorecard_measures
    if measures is None or measures <= ctx.params["max"]:
        return ()
    return (Hit(initiative, f"{measures} scorecard measures (max {ctx.params['max']})"),)


RULE = Rule(
    code="TB114",
    name="scorecard-too-many-measures",
    severity=Severity.WARNING,
    summary="Scorecard with too many measures",
    what="A record's scorecard lists more than `max` measures (any stage: a closed record's scorecard is reused).",
    why="With more than a handful of measures nothing is a priority; people optimise whichever is easiest.",
    fix="Keep the measures that decide; move the rest to a dashboard nobody is judged by.",
    check=check,
    params={"max": Param(10, "measures a scorecard may hold")},
)
