"""TB115 waiver-invalid: a waiver that no longer applies (or never did) is reported, not silently ignored.

The engine honours a waiver only up to its expiry date, judged on the date of `now` as given, the
same day this rule uses; so a waiver is never both honoured and reported. A label with the waiver
prefix that cannot be read at all is reported too: someone meant to waive something.
"""

from __future__ import annotations

from collections.abc import Iterable

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Rule, Severity
from trackerbridge.rules.waivers import waivers_of


def check(initiative: Initiative, ctx: Context) -> Iterable[Hit]:
    labels = initiative.labels
    if not labels and not initiative.extra.get("waivers"):
        return ()
    prefix = ctx.waiver_prefix.casefold()
    if not initiative.extra.get("waivers") and not any(label.casefold().startswith(prefix) for label in labels):
        return ()
    today = ctx.now.date()
    hits = []
    read = set()
    for waiver in waivers_of(initiative, ctx.waiver_prefix):
        read.add(waiver.origin)
        if waiver.until is None:
            if "until" in waiver.origin.casefold():
                message = f"waiver {waiver.origin} has an unreadable expiry date"
            else:
                message = f"waiver {waiver.origin} has no expiry date (add -until-YYYY-MM-DD)"
            hits.append(Hit(initiative, message, detail=waiver.origin))
        elif waiver.until < today:
            hits.append(Hit(initiative, f"waiver {waiver.origin} expired on {waiver.until.isoformat()}", waiver.origin))
    for label in sorted(labels):
        if label.casefold().startswith(prefix) and label not in read:
            want = f"{ctx.waiver_prefix}TB123-until-YYYY-MM-DD"
            hits.append(Hit(initiative, f"waiver label {label} cannot be read (want {want})", label))
    return hits


RULE = Rule(
    code="TB115",
    name="waiver-invalid",
    severity=Severity.WARNING,
    summary="Waiver expired, without expiry date, or unreadable",
    what=(
        "A waiver on the record (a label with the waiver prefix, or a line in the mapped `waivers` text) has "
        "expired, has no expiry date, or cannot be read. Such waivers are not honoured."
    ),
    why="A waiver promises to look again by a date; an open-ended or lapsed one hides a gap people think is handled.",
    fix="Renew the waiver with a new -until-YYYY-MM-DD date if the exception still holds; otherwise remove it.",
    check=check,
)
