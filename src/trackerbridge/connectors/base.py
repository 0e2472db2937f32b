"""What every connector offers, and the plain data it hands over.

A connector speaks to one tracker instance through its real client library and never lets that
library's objects escape: `pull` yields `RawRecord`s whose values are already plain Python
(a `Person` for user fields, `date`/`datetime`, `str` for options and statuses, lists for labels),
so mappings, rules and plans never know which tracker a value came from.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from trackerbridge.changes import Outcome, RecordChange
    from trackerbridge.model import Person

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


class ConnectorError(Exception):
    """A tracker could not be read or written; the message is safe to show (it never holds secrets)."""

    exit_code = 3


class AuthError(ConnectorError):
    pass


class VersionUnsupported(ConnectorError):
    """The tracker does not serve the API version the connector file names: a configuration problem."""

    exit_code = 2


class ScopeRejected(ConnectorError):
    """The tracker refused the connector's scope (bad JQL or SOQL): a configuration problem."""

    exit_code = 2


class QuotaExceeded(ConnectorError):
    """The tracker's API allowance is spent; retrying would only make it worse."""


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


class Connector(ABC):
    """One configured tracker instance. Subclasses register through the `trackerbridge` plugin hook."""

    system: ClassVar[str]
    overlap: ClassVar[timedelta] = timedelta(0)
    """How far before the watermark an incremental read starts (`trackerbridge.cursor.Cursor`): what
    the tracker's change filter may lose to its granularity or to clock skew. `pull` gets the start."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: Counter[str] = Counter()  # API calls by "METHOD endpoint", for metrics and benchmarks

    @abstractmethod
    def server(self, *, identify: bool = True) -> ServerInfo:
        """Connect (authenticating) and say what is on the other end; with `identify`, also who we
        are signed in as (`check` shows it; a run does not need it and saves the call)."""

    @abstractmethod
    def catalog(self) -> Catalog:
        """The live field catalog."""

    @abstractmethod
    def pull(
        self,
        fields: Sequence[FieldInfo],
        *,
        since: datetime | None = None,
        history: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> Iterator[RawRecord]:
        """Records in scope, changed at or after `since` if given (the start of the read: the cursor
        has taken `overlap` off the watermark already), lazily, page by page. `clock` says the
        trackers' current time when it is known (a live run, not `--as-of`): a connector may then ask
        for changes relative to it."""

    def discovery(self) -> dict[str, Any]:
        """What connecting learned that rarely changes (server facts, the field catalog), as JSON.
        `sync` keeps it in the state store so the next run can skip those calls; {}: nothing."""
        return {}

    def reuse(self, discovery: Mapping[str, Any]) -> bool:
        """Start from an earlier run's `discovery()` instead of asking again. False (and nothing
        taken) when it does not fit this connector; then the calls are made as usual."""
        return False

    def record_url(self, key: str) -> str:
        """Where a person opens the record."""
        raise NotImplementedError

    def live_values(self, field: FieldInfo, seen: Sequence[str] = ()) -> tuple[str, ...] | None:
        """Every value the field can hold on this instance (picklist values, statuses), for `check` to
        hold value maps against; None when the tracker does not say. `seen`: keys of records read from
        the scope, so a tracker can narrow the values to the part of it the scope covers."""
        return field.options or None

    def resolve_people(self, people: Iterable[Person]) -> dict[str, str]:
        """Person.identity -> this tracker's user reference (Jira accountId or username, Salesforce
        User Id), for writing user fields; people without an account here are left out."""
        raise NotImplementedError

    def people_why(self, person: Person) -> str | None:
        """Why the last `resolve_people` found no account for this person, when the tracker said more
        than "none" (a failed lookup, several accounts sharing the address)."""
        return getattr(self, "_people_why", {}).get(person.identity)

    def apply(
        self, changes: Sequence[RecordChange], fields: Mapping[str, FieldInfo], *, recheck_synced: bool = False
    ) -> Iterator[Outcome]:
        """Write the changes, yielding one Outcome per RecordChange as it completes. A failed record
        never stops the others. Notes are posted at most once per marker: before posting, the
        connector looks for the marker on the record (a crashed run may already have posted it).
        `fields` maps field id -> FieldInfo for every field a change names. With `recheck_synced`,
        synced fields are re-read right before they are written and a record a person changed since
        the read (its FieldChange.before) is a failed outcome: sync asks for it, as its `before` values
        are what it read; a caller with made-up `before` values does not."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions."""
