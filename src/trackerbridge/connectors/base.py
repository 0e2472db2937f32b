"""What every connector offers, and the plain data it hands over.

A connector speaks to one tracker instance through its real client library and never lets that
library's objects escape: `pull` yields `RawRecord`s whose values are already plain Python
(a `Person` for user fields, `date`/`datetime`, `str` for options and statuses, lists for labels),
so mappings, rules and plans never know which tracker a value came from.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from trackerbridge.records import (  # noqa: F401 - the data types live in the core; these names stay importable here
    BOOLEAN,
    COMMENTS,
    DATE,
    DATETIME,
    FIELD_TYPES,
    LABELS,
    NUMBER,
    OPTION,
    REFERENCE,
    TEXT,
    USER,
    Catalog,
    FieldInfo,
    RawRecord,
    ServerInfo,
)

if TYPE_CHECKING:
    from trackerbridge.changes import Outcome, RecordChange
    from trackerbridge.config.connection import Connection
    from trackerbridge.model import Person


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


class Connector(ABC):
    """One configured tracker instance. Subclasses register through the `trackerbridge` plugin hook."""

    system: ClassVar[str]
    overlap: ClassVar[timedelta] = timedelta(0)
    """How far before the watermark an incremental read starts (`trackerbridge.cursor.Cursor`): what
    the tracker's change filter may lose to its granularity or to clock skew. `pull` gets the start."""

    def __init__(self, connection: Connection) -> None:
        # every connector type is made from its Connection (sources.connect): the constructor is the plugin contract
        self.name = connection.name
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
