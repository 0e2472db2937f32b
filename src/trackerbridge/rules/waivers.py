"""Waivers: a record's own statement that a rule does not apply to it, until a date.

Two forms, both visible to people in the tracker:
- a label `tb-waive-TB103-until-2026-12-31` (the prefix is configurable);
- a text field mapped to the `waivers` attribute, one per line: `TB103 until 2026-12-31: pilot customer`.
A waiver without an expiry date is not honoured (and is reported, like an expired one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from trackerbridge.model import Initiative

_LABEL = re.compile(r"^(?P<code>TB\d{3})(?:-until-(?P<until>\d{4}-\d{2}-\d{2}))?$", re.IGNORECASE)
_LINE = re.compile(
    r"^\s*(?P<code>TB\d{3})(?:\s+until\s+(?P<until>\d{4}-\d{2}-\d{2}))?\s*(?::\s*(?P<reason>.*\S))?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Waiver:
    code: str
    until: date | None
    reason: str | None
    origin: str  # the label or line it came from, as written

    def honoured_on(self, today: date) -> bool:
        return self.until is not None and today <= self.until


def waivers_of(initiative: Initiative, label_prefix: str = "tb-waive-") -> list[Waiver]:
    found = []
    for label in sorted(initiative.labels):
        if not label.lower().startswith(label_prefix.lower()):
            continue
        m = _LABEL.match(label[len(label_prefix) :])
        if m:
            found.append(Waiver(m["code"].upper(), _day(m["until"]), None, label))
    text = initiative.extra.get("waivers")
    if isinstance(text, str):
        for line in text.splitlines():
            m = _LINE.match(line)
            if m:
                found.append(Waiver(m["code"].upper(), _day(m["until"]), m["reason"], line.strip()))
    return found


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
