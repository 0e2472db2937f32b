"""TB110 handoff-idle: a won deal reaches delivery without a long idle gap ("contract to first login").

The hand-off source is a record of `source_system` in stage done (a closed-won opportunity); its end
date is the close date. Its delivery records are its counterparts on `delivery_system` (linked either
way). The gap is from the close date to the day the first delivery record was created, both taken in
`timezone`; with no delivery record yet, the gap so far counts.
"""

from __future__ import annotations

from collections.abc import Iterator

from trackerbridge.model import Stage
from trackerbridge.rules.base import Context, Hit, Index, Param, Rule, Severity
from trackerbridge.rules.builtin.tb105_past_end_date import today_in


def check(index: Index, ctx: Context) -> Iterator[Hit]:
    limit: int = ctx.params["days"]
    source_system: str = ctx.params["source_system"]
    delivery_system: str = ctx.params["delivery_system"]
    zone: str = ctx.params["timezone"]
    today = today_in(ctx.now, zone)
    for source in index.all:
        closed = source.end
        if source.system != source_system or source.stage is not Stage.DONE or closed is None:
            continue
        deliveries = [d for d in index.counterparts(source) if d.system == delivery_system]
        if deliveries:
            started = [d.created for d in deliveries if d.created is not None]
            if not started:
                continue  # delivery exists but we cannot tell since when
            first = min(started)
            gap = (today_in(first, zone) - closed).days
            if gap > limit:
                yield Hit(source, f"delivery record created {gap} days after close (max {limit})")
        else:
            gap = (today - closed).days
            if gap > limit:
                yield Hit(source, f"no delivery record {gap} days after close (max {limit})")


RULE = Rule(
    code="TB110",
    name="handoff-idle",
    severity=Severity.ERROR,
    summary="Won deal idle too long before delivery starts",
    what=(
        "A closed-won record (stage done on `source_system`) got its first linked delivery record more than "
        "`days` after its close date, or has none and closed more than `days` ago."
    ),
    why="Every idle day between contract and first login costs customer trust and delays revenue recognition.",
    fix="Create the delivery record (epic) and link it to the deal; agree in the hand-off who starts when.",
    check=check,
    params={
        "days": Param(14, "days allowed from close to the delivery record's creation"),
        "source_system": Param("salesforce", "system whose done records hand off (closed won)"),
        "delivery_system": Param("jira", "system where the linked delivery records live"),
        "timezone": Param("UTC", "IANA time zone whose calendar counts the days"),
    },
    scope="set",
)
