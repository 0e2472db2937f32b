"""TB116 unreadable-data: values the mapping could not read are reported, so no rule passes on a blank."""

from __future__ import annotations

from collections.abc import Iterable

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Rule, Severity


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    errors = initiative.data_errors
    if not errors:
        return ()
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return (Hit(initiative, errors[0] + more),)


RULE = Rule(
    code="TB116",
    name="unreadable-data",
    severity=Severity.WARNING,
    summary="Record holds values the mapping cannot read",
    what="One or more mapped fields hold values the mapping could not convert (a date that is not a date, say).",
    why="An unreadable value is treated as missing, so other rules judge the record on less than it says.",
    fix="Correct the value in the tracker, or fix the mapping (value map, date format) if the value is valid.",
    check=check,
)
