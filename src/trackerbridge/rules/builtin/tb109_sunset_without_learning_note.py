"""TB109 sunset-without-learning-note: a sunset initiative carries a short note on what was learned."""

from __future__ import annotations

from collections.abc import Iterable

from trackerbridge.model import Initiative, Stage
from trackerbridge.rules.base import Context, Hit, Rule, Severity


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    if initiative.stage is Stage.CANCELLED and not (initiative.learning_note or "").strip():
        return (Hit(initiative, "cancelled without a learning note"),)
    return ()


RULE = Rule(
    code="TB109",
    name="sunset-without-learning-note",
    severity=Severity.WARNING,
    summary="Cancelled initiative without a learning note",
    what="An initiative was cancelled (sunset) and its learning note is empty.",
    why="Stopping is fine; stopping without writing down why means the next team repeats the attempt blind.",
    fix="Write two or three sentences in the learning note: what was tried, what was found, why it stopped.",
    check=check,
)
