"""TB103 integrator-missing: every major objective has a named integrator."""

from __future__ import annotations

from collections.abc import Iterable

from trackerbridge.model import Initiative, Size
from trackerbridge.rules.base import Context, Hit, Rule, Severity


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    if initiative.size is Size.MAJOR and initiative.integrator is None and initiative.active:
        return (Hit(initiative, "major initiative without an integrator"),)
    return ()


RULE = Rule(
    code="TB103",
    name="integrator-missing",
    severity=Severity.ERROR,
    summary="Active major initiative without a named integrator",
    what="An active initiative of size major has nobody in its integrator field.",
    why="Major objectives span functions; without one person pulling them together they stall between teams.",
    fix="Name an integrator (someone other than the owner is fine), or re-size the initiative if it is not major.",
    check=check,
)
