"""Jira's JSON as plain trackerbridge values: the field catalog's types, people, options, dates and numbers."""

from __future__ import annotations

import re
import sys
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from trackerbridge.connectors.base import COMMENTS, DATE, DATETIME, LABELS, NUMBER, OPTION, TEXT, USER, FieldInfo
from trackerbridge.connectors.jira.links import ISSUE_LINKS_NATIVE, issue_links
from trackerbridge.model import Comment, Person

PEOPLE_CACHE = 20_000  # distinct users whose Person objects records share (see `_shared_person`)
_OPTION_TYPES = frozenset(
    {"option", "option-with-child", "status", "priority", "issuetype", "resolution", "project", "securitylevel"}
)
_LIST_ITEMS = frozenset({"string", "option", "component", "version"})
READ_ONLY = frozenset(
    {
        "created",
        "updated",
        "status",
        "resolution",
        "resolutiondate",
        "statuscategorychangedate",
        "lastViewed",
        "creator",
        "project",
        "issuekey",
        "thumbnail",
        "subtasks",
        "votes",
        "watches",
        "worklog",
        "progress",
        "aggregateprogress",
        "comment",  # comments are added through `update.comment` or POST comment, never set
        "timespent",
        "aggregatetimespent",
        "aggregatetimeestimate",
        "aggregatetimeoriginalestimate",
        "workratio",
    }
)
"""System fields a PUT cannot set (status and resolution move through transitions)."""


DATETIME_TEXT = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,6})\d*)?)?\s*(Z|[+-]\d\d:?\d\d)?$"
)


def int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def field_info(f: dict[str, Any]) -> FieldInfo:
    schema = f.get("schema") or {}
    kind, items = schema.get("type"), schema.get("items")
    if kind == "user" or (kind == "array" and items == "user"):  # a multi-user picker holds people
        ftype = USER
    elif kind == "date":
        ftype = DATE
    elif kind == "datetime":
        ftype = DATETIME
    elif kind in _OPTION_TYPES:
        ftype = OPTION
    elif kind == "array" and items in _LIST_ITEMS:
        ftype = LABELS
    elif kind == "number":
        ftype = NUMBER
    elif kind == "comments-page":  # the `comment` field: a page of comments (never navigable: asked for by id)
        ftype = COMMENTS
    else:
        ftype = TEXT
    native = schema.get("custom") or (f"array<{items}>" if kind == "array" and items else kind) or ""
    options = tuple(
        str(o.get("value") or o.get("name"))
        for o in f.get("allowedValues") or []
        if isinstance(o, dict) and (o.get("value") or o.get("name"))
    )
    fid = str(f["id"])
    return FieldInfo(
        id=fid,
        name=str(f.get("name") or fid),
        type=ftype,
        updateable=bool(f.get("orderable")) and fid not in READ_ONLY,
        options=options,
        native_type=str(native),
        multiple=kind == "array",
    )


def person_of(value: Any) -> Person | None:
    if not isinstance(value, dict):
        return _shared_person(None, None, str(value)) if isinstance(value, str) and value else None
    return _shared_person(
        value.get("emailAddress") or None,
        value.get("displayName") or None,
        value.get("accountId") or value.get("name") or value.get("key") or None,
    )


@lru_cache(maxsize=PEOPLE_CACHE)
def _shared_person(email: str | None, name: str | None, ref: str | None) -> Person:
    """One Person object per distinct user. The same few thousand people are named on every record
    and changelog entry: sharing them (they are frozen) keeps a large run's memory, and the garbage
    collector's work, proportional to the people rather than to the mentions."""
    return Person(email=email, name=name, ref=ref)


def _name(value: Any, native: str = "") -> str | None:
    """The text people see for an option-like value (option value, status name, project key)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return str(value)
    if native == "project" and value.get("key"):
        return str(value["key"])
    text = value.get("value") or value.get("name") or value.get("displayName") or value.get("key")
    child = value.get("child")
    if isinstance(child, dict) and child.get("value"):
        text = f"{text} / {child['value']}"
    # Interned: a few option values (team, lane, issue type) repeat on every record, and each
    # record would otherwise keep its own copy of the string from its page of JSON.
    return None if text is None else sys.intern(str(text))


def to_datetime(value: Any) -> datetime | None:
    """Jira's 2026-11-25T08:25:46.000+0000 (and ISO variants) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    m = DATETIME_TEXT.match(text)
    if not m:
        return None
    try:
        # The pattern decides what is a datetime; fromisoformat reads what it accepts the same way,
        # ten times faster (on Python 3.11+ that includes Jira's +0000). The rest, read by hand.
        moment = datetime.fromisoformat(text)
    except ValueError:
        return from_parts(m)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def from_parts(m: re.Match[str]) -> datetime:
    """A datetime from `DATETIME_TEXT`'s groups; no zone means UTC."""
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    tz = timezone.utc
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    micro = int((fraction or "0").ljust(6, "0"))
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)


def _to_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _to_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _comments(page: Any) -> tuple[Comment, ...]:
    """The comments a search answer carries for the `comment` field ({comments, maxResults, total, startAt}),
    oldest first; a comment without a readable time is left out (it can't be placed against a move).
    https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issue-comments/ (Comment)"""
    items = page.get("comments") if isinstance(page, dict) else page
    out = []
    for c in items if isinstance(items, list) else []:
        at = to_datetime(c.get("created")) if isinstance(c, dict) else None
        if at is not None:
            out.append(Comment(at, _plain_text(c.get("body")), person_of(c.get("author"))))
    return tuple(sorted(out, key=lambda c: c.at))


def _plain_text(body: Any) -> str:
    """A comment body as text: v2 answers a string, v3 an Atlassian Document Format tree."""
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        if body.get("type") == "text":
            return str(body.get("text") or "")
        inner = " ".join(t for t in (_plain_text(n) for n in body.get("content") or []) if t)
        return inner
    return ""


def normalise(value: Any, field: FieldInfo) -> Any:
    """A raw JSON value as the plain value `base` promises for the field's type."""
    if value is None:
        return None
    kind, native = field.type, field.native_type
    if native == ISSUE_LINKS_NATIVE:  # kept as links (type, direction, key) for the mapping's issue_links
        return issue_links(value)
    if kind == USER:
        if isinstance(value, list):  # multi-user picker: each person, account id kept
            return [p for p in map(person_of, value) if p is not None]
        return person_of(value)
    if kind == DATE:
        return _to_date(value)
    if kind == DATETIME:
        return to_datetime(value)
    if kind == OPTION:
        return _name(value, native)
    if kind == LABELS:
        items = value if isinstance(value, list) else [value]
        return [n for n in (_name(v) for v in items) if n is not None]
    if kind == NUMBER:
        return _to_number(value)
    if kind == COMMENTS:
        return _comments(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value) if n]
        return ", ".join(names) if names else None
    if isinstance(value, dict):
        return _name(value, native)
    return str(value)
