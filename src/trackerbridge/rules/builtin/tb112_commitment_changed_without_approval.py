"""TB112 commitment-changed-without-approval: commitments change only with an approval.

A commitment (tied to a financial target or a customer promise) whose end date (or another attribute
in `scope_attributes`) was changed after creation needs the approval label. Setting a value for the
first time is not a change of the promise, so a change from empty does not count; the change log
itself is the tracker's history, which the mapping must ask for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum
from typing import Any

from trackerbridge.model import Change, Initiative, Person
from trackerbridge.rules.base import Context, Hit, Param, Rule, Severity

_MOVED = {"end": "end date moved", "start": "start date moved"}


def _show(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Person):
        return value.label
    if isinstance(value, Enum):
        return str(value.value)
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    if initiative.commitment is not True or not initiative.history:
        return ()
    approval = ctx.params["approval_label"].casefold()
    if any(label.casefold() == approval for label in initiative.labels):
        return ()
    watched = ctx.params["scope_attributes"]
    created = initiative.created
    changes: dict[str, list[Change]] = {}
    for change in initiative.history:
        if (
            change.attribute in watched
            and not _empty(change.before)
            and change.before != change.after
            and (created is None or change.at > created)
        ):
            changes.setdefault(change.attribute, []).append(change)
    hits = []
    for attribute in sorted(changes):
        seen = changes[attribute]
        what = _MOVED.get(attribute, f"{attribute} changed")
        message = f"{what} {_show(seen[0].before)} → {_show(seen[-1].after)} without approval"
        hits.append(Hit(initiative, message, detail=attribute))
    return hits


RULE = Rule(
    code="TB112",
    name="commitment-changed-without-approval",
    severity=Severity.ERROR,
    summary="Commitment changed without an approval",
    what=(
        "A record marked as a commitment had its end date (or another attribute in `scope_attributes`) changed "
        "after creation, and it does not carry the `approval_label` label."
    ),
    why="Commitments back financial targets and customer promises; a silent change breaks them without a decision.",
    fix="Get the change approved and add the approval label with a change-log entry, or restore the original value.",
    check=check,
    params={
        "scope_attributes": Param(["end"], "attributes whose change breaks a commitment"),
        "approval_label": Param("approved-change", "label that records an approved change"),
    },
)
