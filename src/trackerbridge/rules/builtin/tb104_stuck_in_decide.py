"""TB104 stuck-in-decide: a milestone in decide for more than a week gets a decision owner or is killed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from trackerbridge.model import Initiative, Stage
from trackerbridge.rules.base import Context, Hit, Param, Rule, Severity


@lru_cache(maxsize=16)
def _limit(now: datetime, days: int) -> datetime:
    """Entered before this moment means too long; cached so the hot path does no date arithmetic."""
    return now - timedelta(days=days)


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    if initiative.stage is not Stage.DECIDE or initiative.decision_owner is not None:
        return ()
    entered = initiative.stage_entered or initiative.created
    if entered is None or entered >= _limit(ctx.now, ctx.params["days"]):
        return ()  # no date: we cannot tell how long (TB116 reports values that could not be read)
    days = (ctx.now - entered).days
    return (Hit(initiative, f"in decide {days} days without a decision owner"),)


RULE = Rule(
    code="TB104",
    name="stuck-in-decide",
    severity=Severity.ERROR,
    summary="In decide for more than a week without a decision owner",
    what=(
        "An initiative has been in decide longer than `days` (since it entered the stage, or since it was "
        "created when the tracker does not say) and nobody is named as decision owner."
    ),
    why="Decisions nobody owns do not get made: the milestone blocks everything behind it, silently.",
    fix="Name the decision owner who will decide by a date, or kill the initiative (cancel it with a learning note).",
    check=check,
    params={"days": Param(7, "days an initiative may stay in decide without a decision owner")},
)
