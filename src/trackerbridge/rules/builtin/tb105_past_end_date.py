"""TB105 past-end-date: overdue initiatives are extended with a reason, or sunset."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Param, ParamError, Rule, Severity


@lru_cache(maxsize=32)
def today_in(now: datetime, zone: str) -> date:
    """The calendar date at `now` in an IANA time zone: an end date is over only once its day is over there."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ParamError(f"unknown time zone {zone!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'") from exc
    moment = now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    return moment.astimezone(tz).date()


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    end = initiative.end
    if end is None or not initiative.active:
        return ()
    late = (today_in(ctx.now, ctx.params["timezone"]) - end).days
    if late <= 0:
        return ()
    unit = "day" if late == 1 else "days"
    return (Hit(initiative, f"{late} {unit} past end date {end.isoformat()}"),)


RULE = Rule(
    code="TB105",
    name="past-end-date",
    severity=Severity.WARNING,
    summary="Active initiative past its end date",
    what="An initiative is still in decide, build or launch after its end date (a day ends in `timezone`).",
    why="An overdue initiative that is neither extended nor sunset keeps people and money on a plan nobody holds.",
    fix="Move the end date with a reason in the change log, or sunset the initiative with a learning note.",
    check=check,
    params={"timezone": Param("UTC", "IANA time zone whose calendar decides when an end date has passed")},
)
