"""The change set a sync plans and a connector applies: plain data, so a dry run can print it and
the state store can log it.

Values here are canonical (a `Person`, a `date`, a picklist's text, a list of labels); each
connector turns them into its wire format (Jira `{"accountId": ...}`, a Salesforce User Id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trackerbridge.model import Person


@dataclass(frozen=True, slots=True)  # slots: a 100k first sync holds ~300k of them (40 bytes each fewer)
class FieldChange:
    field: str  # field id
    name: str  # as people see it, for logs and dry runs
    before: Any
    after: Any
    reason: str  # "health", "reasons", "sync:<mapping>:<attribute>"


@dataclass(frozen=True)
class Note:
    """A message for people on the record, at most once per `marker` (a turn to red)."""

    kind: str  # "turned-red"
    marker: str  # stable id of this transition; the connector finds it to avoid duplicates
    text: str
    mention: Person | None = None
    maybe_posted: bool = True
    """Whether an earlier run may already have posted it (and died before recording that), so the
    connector must look for the marker on the record before posting. Sync clears it for markers the
    state store has never seen; True, the safe value, for callers that cannot know."""
    title: str = ""  # one line for a person's task list (the Salesforce Task's subject); text starts with it


@dataclass(slots=True)
class RecordChange:
    connector: str
    key: str
    url: str
    fields: list[FieldChange] = field(default_factory=list)
    add_labels: list[str] = field(default_factory=list)
    remove_labels: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    stamp: bool = False
    """Carry the activity stamp with the write (Jira's entity property; see `trackerbridge.activity`)."""
    activity: datetime | None = None  # the person-activity time the stamp records

    @property
    def empty(self) -> bool:
        return not (self.fields or self.add_labels or self.remove_labels or self.notes)


@dataclass(frozen=True)
class Conflict:
    """Both sides changed a synced value since the last run: nothing is written, a person decides."""

    source: str  # source record ref
    target: str  # target record ref
    attribute: str
    source_value: Any
    target_value: Any
    last_written: Any
    field_id: str = ""  # the target's synced field
    field: str = ""  # ... as people see it
    desired: Any = None  # the source's value as the target would hold it (value map applied)


@dataclass(frozen=True)
class SyncHeld:
    """A synced value that could not be read, or that the sync's value map lacks: the target keeps what it
    holds (never blanked), and the stop is reported."""

    source: str  # source record ref
    target: str  # target record ref
    attribute: str
    reason: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one record's change: every field and label of it, or none of it."""

    connector: str
    key: str
    ok: bool
    error: str | None = None
    notes_posted: tuple[str, ...] = ()  # markers of notes that now exist on the record
    gone: bool = False  # the record was deleted in the tracker (ENTITY_IS_DELETED): forgotten, not retried
