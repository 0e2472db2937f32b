"""Slips and baselines: how far an initiative's end date moved from its first commitment, and why.

Pure, and a function of what the trackers hold: the history is the tracker's changelog (`Initiative.history`,
read when the mapping says `history: true`), the reason and a mapped baseline are attributes of the record.
So TB117, the report's slips section and a second instance with a fresh state store all reach the same answer.

- The baseline is a mapped "target date" attribute when the record has one, else the first end date the history
  shows (the value before the first change; a first setting from empty is the baseline itself), else today's end.
- A move is a change of the end date to a later day (setting it the first time, clearing it or pulling it in
  is not a move). The slip is the current end date minus the baseline, in days.
- A move has a reason when the reason attribute was set (non-empty, and holding the keyword if one is asked)
  at the move, after it, or at most `window` before it. When the history has no change of the reason
  attribute at all (the field was filled at creation, or the tracker's field history is not read), or no
  move in it (the baseline is a mapped target date), the record's current reason counts, since nothing says
  when it was given. A reason cleared after the move is no reason.
- When the reason attribute is mapped to Jira's comment field, the reason is a comment (holding the keyword, if one
  is asked) posted at the latest move, after it, or at most `window` before it; with no move in the history, any
  such comment. Comments are not edits of one value: a later comment without the keyword takes nothing away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from trackerbridge.model import Change, Comment, Initiative

END = "end"


@dataclass(frozen=True, slots=True)
class SlipPolicy:
    """Where a record keeps its reason and baseline (TB117's parameters)."""

    reason_attribute: str = "slip_reason"
    reason_keyword: str = ""
    baseline_attribute: str = "target_date"
    window: timedelta = timedelta(hours=24)

    @classmethod
    def of(cls, params: dict[str, Any] | Any) -> SlipPolicy:
        return cls(
            str(params["reason_attribute"]),
            str(params["reason_keyword"]),
            str(params["baseline_attribute"]),
            timedelta(hours=float(params["reason_window_hours"])),
        )


@dataclass(frozen=True, slots=True)
class Slip:
    baseline: date
    baseline_from: str  # "attribute" (a mapped target date) | "history" | "current"
    current: date
    days: int  # current - baseline; > 0 is later than first committed
    moves: int  # how many times the end date moved later
    last_moved: datetime | None  # the latest move, when the history shows one
    reason: str | None  # the reason covering the latest move, if any

    @property
    def has_reason(self) -> bool:
        return self.reason is not None


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _reason_text(value: Any, keyword: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text or (keyword and keyword.casefold() not in text.casefold()):
        return None
    return text


def _comment_reason(comments: tuple[Comment, ...], since: datetime | None, keyword: str) -> str | None:
    """The newest comment at or after `since` (any time when None) that reads as a reason."""
    for comment in sorted(comments, key=lambda c: _aware(c.at), reverse=True):
        if since is not None and _aware(comment.at) < since:
            break
        text = _reason_text(comment.text, keyword)
        if text is not None:
            return text
    return None


def baseline_of(initiative: Initiative, policy: SlipPolicy) -> tuple[date, str] | None:
    mapped = _day(initiative.extra.get(policy.baseline_attribute)) if policy.baseline_attribute else None
    if mapped is not None:
        return mapped, "attribute"
    for change in sorted((c for c in initiative.history if c.attribute == END), key=lambda c: _aware(c.at)):
        first = _day(change.before) or _day(change.after)
        if first is not None:
            return first, "history"
    return (initiative.end, "current") if initiative.end is not None else None


def slip_of(initiative: Initiative, policy: SlipPolicy) -> Slip | None:
    """The record's slip, or None when it has no end date (TB102's concern)."""
    current = initiative.end
    if current is None:
        return None
    baseline = baseline_of(initiative, policy)
    if baseline is None:
        return None
    moves: list[Change] = []
    reasons: list[Change] = []
    for change in initiative.history:
        if change.attribute == END:
            before, after = _day(change.before), _day(change.after)
            if before is not None and after is not None and after > before:
                moves.append(change)
        elif change.attribute == policy.reason_attribute:
            reasons.append(change)
    last = max((_aware(c.at) for c in moves), default=None)
    reason: str | None = None
    given_as = initiative.extra.get(policy.reason_attribute)
    if isinstance(given_as, tuple) and all(isinstance(c, Comment) for c in given_as):
        reason = _comment_reason(given_as, None if last is None else last - policy.window, policy.reason_keyword)
    elif reasons and last is not None:
        since = last - policy.window
        given = sorted((c for c in reasons if _aware(c.at) >= since), key=lambda c: _aware(c.at))
        reason = _reason_text(given[-1].after, policy.reason_keyword) if given else None
    else:
        reason = _reason_text(initiative.extra.get(policy.reason_attribute), policy.reason_keyword)
    return Slip(baseline[0], baseline[1], current, (current - baseline[0]).days, len(moves), last, reason)
