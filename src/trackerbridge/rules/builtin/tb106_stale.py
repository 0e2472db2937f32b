"""TB106 stale: an active initiative nobody has touched for a month is probably not active."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Param, Rule, Severity


@lru_cache(maxsize=16)
def _limit(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    updated = initiative.updated
    if updated is None or updated >= _limit(ctx.now, ctx.params["days"]) or not initiative.active:
        return ()
    return (Hit(initiative, f"not updated for {(ctx.now - updated).days} days"),)


RULE = Rule(
    code="TB106",
    name="stale",
    severity=Severity.WARNING,
    summary="Active initiative not updated for a long time",
    what="An initiative in decide, build or launch has not been changed for more than `days`.",
    why="Records nobody updates stop saying anything true: reports built on them mislead.",
    fix="Update the record with where it stands, or sunset it with a learning note.",
    check=check,
    params={"days": Param(30, "days without any update after which an active initiative counts as stale")},
)
