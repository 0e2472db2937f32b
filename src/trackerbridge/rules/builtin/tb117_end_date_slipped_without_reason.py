"""TB117 end-date-slipped-without-reason: an end date moves later only with a reason.

The playbook says overdue initiatives are "extended with a reason or sunset"; TB112 checks only commitments.
This rule checks every active initiative: its end date is later than its baseline (the first end date the
changelog shows, or a mapped target date) and the latest move carries no reason (see `trackerbridge.slips`
for what counts as one: the mapped reason attribute set at the move, after it, or shortly before).
"""

from __future__ import annotations

from collections.abc import Iterable

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Param, Rule, Severity
from trackerbridge.slips import SlipPolicy, slip_of


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    if not initiative.active or initiative.end is None:
        return ()
    slip = slip_of(initiative, SlipPolicy.of(ctx.params))
    if slip is None or slip.days < int(ctx.params["min_days"]) or slip.has_reason:
        return ()
    unit = "day" if slip.days == 1 else "days"
    moved = f", moved {_times(slip.moves)}" if slip.moves else ""
    message = (
        f"end date slipped {slip.baseline.isoformat()} → {slip.current.isoformat()} "
        f"(+{slip.days} {unit}{moved}) without a reason"
    )
    return (Hit(initiative, message, detail="end"),)


RULE = Rule(
    code="TB117",
    name="end-date-slipped-without-reason",
    severity=Severity.WARNING,
    summary="End date moved later without a reason",
    what=(
        "An active initiative's end date is at least `min_days` later than its baseline (the mapped "
        "`baseline_attribute`, else the first end date in the changelog) and the latest move has no reason: "
        "the `reason_attribute` (holding `reason_keyword`, when set) was not filled at the move, after it, or "
        "within `reason_window_hours` before it. Mapped to Jira's comment field, the reason is a comment "
        "(holding the keyword) posted in that time."
    ),
    why=(
        "Overdue initiatives are extended with a reason or sunset; a date that quietly moves hides the slip "
        "and the original commitment with it."
    ),
    fix="Write why the date moved in the reason field or comment (or move it back, or sunset the initiative).",
    check=check,
    params={
        "reason_attribute": Param("slip_reason", "mapped attribute (an `extra` field) that holds the reason"),
        "reason_keyword": Param("", "text the reason must contain to count (empty: any text)"),
        "baseline_attribute": Param("target_date", "mapped attribute holding the original target date, if any"),
        "reason_window_hours": Param(24, "a reason given this many hours before the move still covers it"),
        "min_days": Param(1, "slips shorter than this many days pass"),
    },
)
