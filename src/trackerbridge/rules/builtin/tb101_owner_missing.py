"""TB101 owner-missing: every active initiative has a named owner."""

from __future__ import annotations

from collections.abc import Iterator

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Rule, Severity


def check(initiative: Initiative, ctx: Context) -> Iterator[Hit]:
    if initiative.active and initiative.owner is None:
        yield Hit(initiative, "no owner")


RULE = Rule(
    code="TB101",
    name="owner-missing",
    severity=Severity.ERROR,
    summary="Active initiative without a named owner",
    what="An initiative in decide, build or launch has nobody in its owner field.",
    why="Initiatives nobody owns drift: no one extends, finishes or kills them (initiative sprawl).",
    fix="Name one person as owner, or sunset the initiative with a learning note.",
    check=check,
)
