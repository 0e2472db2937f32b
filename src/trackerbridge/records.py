"""The plain data connectors hand over and the core works on: field types, the field catalog, server facts,
records. A neutral home, so mapping, planning and reports need not import the connectors package (which
loads the HTTP clients); `trackerbridge.connectors.base` re-exports these names for connector code.

Values in a `RawRecord` are already plain Python (a `Person` for user fields, `date`/`datetime`, `str`
for options and statuses, lists for labels), so mappings, rules and plans never know which tracker a
value came from.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Normalised field types, shared by both systems (COMMENTS: Jira's comment field, a tuple of model.Comment).
TEXT, USER, DATE, DATETIME, OPTION, NUMBER, LABELS, BOOLEAN, REFERENCE, COMMENTS = (
    "text",
    "user",
    "date",
    "datetime",
    "option",
    "number",
    "labels",
    "boolean",
    "reference",
    "comments",
)
FIELD_TYPES = (TEXT, USER, DATE, DATETIME, OPTION, NUMBER, LABELS, BOOLEAN, REFERENCE, COMMENTS)


@dataclass(frozen=True)
class FieldInfo:
    """One field of the live catalog (Jira `field`, Salesforce describe)."""

    id: str  # customfield_10100, duedate, Integrator__c
    name: str  # as people see it: "Integrator", "Due date", "Integrator" (the label)
    type: str  # one of FIELD_TYPES
    updateable: bool = False
    options: tuple[str, ...] = ()  # allowed values of option/picklist fields, when the catalog says
    native_type: str = ""  # the tracker's own type name, for messages
    length: int = 0  # the most characters a text field takes, when the catalog says (Salesforce describe)
    multiple: bool = False  # holds a list of values of `type` (Jira array schema, Salesforce multipicklist)


@dataclass
class Catalog:
    """The fields of one connector's scope, looked up by id or by the name people see."""

    fields: list[FieldInfo]

    def __post_init__(self) -> None:
        self._by_id = {f.id.casefold(): f for f in self.fields}
        self._by_name: dict[str, list[FieldInfo]] = {}
        for f in self.fields:
            self._by_name.setdefault(f.name.casefold(), []).append(f)

    def find(self, ref: str) -> FieldInfo | None:
        """By id first, then by a name that is unique in the catalog."""
        key = ref.casefold()
        if key in self._by_id:
            return self._by_id[key]
        named = self._by_name.get(key, [])
        return named[0] if len(named) == 1 else None

    def ambiguous(self, ref: str) -> list[FieldInfo]:
        named = self._by_name.get(ref.casefold(), [])
        return named if len(named) > 1 else []

    def suggest(self, ref: str) -> str | None:
        names = [f.name for f in self.fields] + [f.id for f in self.fields]
        close = difflib.get_close_matches(ref, names, n=1, cutoff=0.6)
        if not close:
            lowered = {n.casefold(): n for n in names}
            close = [lowered[m] for m in difflib.get_close_matches(ref.casefold(), list(lowered), n=1, cutoff=0.6)]
        return close[0] if close else None


@dataclass(frozen=True)
class ServerInfo:
    system: str  # "jira" | "salesforce"
    flavor: str  # "cloud" | "datacenter" | "salesforce"
    version: str
    url: str
    user: str  # who we are signed in as (display name)
    user_email: str | None = None
    time_zone: str = "UTC"  # Jira interprets JQL dates in the user's time zone


@dataclass
class RawRecord:
    """One tracker record with the requested fields, values normalised (see module docstring)."""

    key: str
    url: str
    values: dict[str, Any]  # field id -> plain value
    updated: datetime | None = None  # the tracker's own modification stamp, for watermarks
    created: datetime | None = None  # the tracker's own creation stamp: `created` when the mapping has none
    history: list[dict[str, Any]] = field(default_factory=list)  # changelog, when asked for
    ours: bool = False
    """The tracker shows that trackerbridge's own write was the record's last change (Jira: the
    stamp property is as new as `updated`; Salesforce: LastModifiedById is the signed-in user)."""
    stamp: datetime | None = None
    """The person-activity time trackerbridge recorded on the record with its last write (Jira's
    stamp property), if the tracker carries one; see `trackerbridge.activity`."""
    # Requested fields the answer left out (hidden by a field configuration, not on the screen): absent is
    # not empty, so the record is a data finding and is not written. `unreadable`: why none of it can be read.
    absent: frozenset[str] = frozenset()
    unreadable: str | None = None
