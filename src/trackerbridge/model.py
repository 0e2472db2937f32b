"""The canonical initiative: what every rule, report and plan sees, whatever tracker it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any


class Stage(str, Enum):
    """The playbook's three columns, plus the two ways an initiative ends."""

    DECIDE = "decide"
    BUILD = "build"
    LAUNCH = "launch"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (Stage.DECIDE, Stage.BUILD, Stage.LAUNCH)


class Size(str, Enum):
    """Major objectives need a named integrator; minor ones do not."""

    MAJOR = "major"
    MINOR = "minor"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone named on a record, identified across systems by e-mail where the tracker gives one."""

    email: str | None = None
    name: str | None = None
    ref: str | None = None  # the tracker's own id (Jira accountId or username, Salesforce User Id)

    @property
    def label(self) -> str:
        return self.name or self.email or self.ref or "?"

    @property
    def identity(self) -> str:
        """What makes two mentions the same person: e-mail, case-folded; else the tracker id."""
        return (self.email or "").casefold() or self.ref or self.name or ""


@dataclass(frozen=True, slots=True)
class Link:
    """A pointer to a record in another system (a Salesforce opportunity from a Jira epic, say)."""

    system: str  # "jira" | "salesforce"
    key: str


@dataclass(frozen=True, slots=True)
class Change:
    """One past change of a mapped attribute, from the tracker's history (Jira changelog)."""

    at: datetime
    attribute: str
    before: Any
    after: Any
    author: Person | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """One comment on a record (Jira's issue comments), for an `extra` attribute mapped to the comment field:
    a slip's reason may be a comment holding a keyword (TB117)."""

    at: datetime
    text: str
    author: Person | None = None


@dataclass(slots=True)
class Initiative:
    """One record, mapped. Attributes a mapping does not feed stay None."""

    source: str  # connector name
    system: str  # "jira" | "salesforce"
    key: str  # OPS-12, 006...
    url: str
    title: str = ""
    kind: str | None = None  # issue type or sObject
    owner: Person | None = None
    integrator: Person | None = None
    decision_owner: Person | None = None
    team: str | None = None
    stage: Stage | None = None
    stage_entered: datetime | None = None
    lane: str | None = None
    size: Size | None = None
    start: date | None = None
    end: date | None = None
    learning_note: str | None = None
    commitment: bool | None = None
    scorecard_measures: int | None = None
    labels: frozenset[str] = frozenset()
    links: tuple[Link, ...] = ()
    created: datetime | None = None
    updated: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # mapped attributes beyond the canonical ones
    current: dict[str, Any] = field(default_factory=dict)  # raw values of owned write-back fields
    data_errors: list[str] = field(default_factory=list)  # values the mapping could not read
    unread: frozenset[str] = frozenset()  # attributes whose value could not be read: never synced onward
    held: bool = False  # the record as read cannot be judged (a mapped field absent, no fields): no writes
    history: tuple[Change, ...] = ()  # changes of mapped attributes, oldest first, when the mapping asks

    @property
    def active(self) -> bool:
        return self.stage is None or self.stage.active

    @property
    def ref(self) -> str:
        """Unique across connectors."""
        return f"{self.source}:{self.key}"


CANONICAL_ATTRIBUTES: dict[str, str] = {
    "title": "text",
    "kind": "text",
    "owner": "person",
    "integrator": "person",
    "decision_owner": "person",
    "team": "text",
    "stage": "stage",
    "stage_entered": "datetime",
    "lane": "text",
    "size": "size",
    "start": "date",
    "end": "date",
    "learning_note": "text",
    "commitment": "boolean",
    "scorecard_measures": "integer",
    "labels": "labels",
    "created": "datetime",
    "updated": "datetime",
}
"""Attribute name -> its kind; mappings may also define other attributes, kept in `extra`."""
