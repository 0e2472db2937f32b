"""The activity clock: when a person (not trackerbridge) last touched a record, from the tracker alone.

Every write trackerbridge makes moves the tracker's own modification stamp (Jira `updated`,
Salesforce `LastModifiedDate`), so that stamp alone would make every record it judged look freshly
worked on. Instead, each write carries the activity time it judged on, and the tracker says
whether anything happened since:

- Jira: an issue entity property (`STAMP_KEY`, written in the same Edit issue PUT, read by the
  search's `properties` parameter; invisible to people) holds `{"activity": ..., "at": ...}`. The
  last change was trackerbridge's when `updated` is no later than `at` plus `SLACK`. References:
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-properties/ and the
  Edit issue body's `properties` (IssueUpdateDetails; Data Center's IssueUpdateBean has the same list).
- Salesforce: an owned DateTime field (the mapping's `write_back.activity_field`) holds the activity
  time; the last change was trackerbridge's when `LastModifiedById` is the signed-in user.

Either way a second instance, a fresh state store and `audit` read the same clock. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

STAMP_KEY = "trackerbridge.activity"
"""Jira entity property key (at most 255 characters; an app's own namespace by convention)."""

SLACK = timedelta(minutes=5)
"""How much later than the stamp's `at` Jira's `updated` may be and still be trackerbridge's own
write: the edit's round trip and any Retry-After wait in between (at most two minutes), with room.
A person's edit inside that window, just after trackerbridge's, is not counted as activity."""

SYSTEM_STAMPS = frozenset({"updated", "LastModifiedDate", "SystemModstamp"})
"""Fields that are the tracker's own modification stamp: the ones the activity clock stands in for."""


def stamp_value(activity: datetime | None, at: datetime) -> dict[str, Any]:
    """The Jira property's value for a write made at `at` (the tracker's clock)."""
    return {"v": 1, "activity": _iso(activity) if activity is not None else None, "at": _iso(at)}


def read_stamp(value: Any, updated: datetime | None) -> tuple[bool, datetime | None]:
    """(whether the last change was trackerbridge's, the activity time it recorded) from the
    property's value and the issue's `updated`. Anything unreadable is not ours."""
    if not isinstance(value, Mapping) or updated is None:
        return False, None
    at, activity = _parse(value.get("at")), _parse(value.get("activity"))
    if at is None:
        return False, None
    return updated <= at + SLACK, activity


def _iso(when: datetime) -> str:
    moment = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
