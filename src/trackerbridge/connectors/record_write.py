"""What both connectors' `apply` share: the error for a value that cannot be written, the people a
change set names, and the re-read of synced fields. Which failures stop a run is in `connectors.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, TypeVar

from trackerbridge.changes import FieldChange, RecordChange
from trackerbridge.connectors.base import FieldInfo
from trackerbridge.model import Person

T = TypeVar("T")


class WriteError(ValueError):
    """One record's change cannot be put on the wire (a person without an account, an unknown
    field); the record fails with this message and the others go on."""


def people_of(changes: Iterable[RecordChange], *, mentions: bool = True) -> list[Person]:
    """Every person a change set writes (and mentions), once per identity, in order."""
    seen: dict[str, Person] = {}
    for change in changes:
        for fc in change.fields:
            for value in fc.after if isinstance(fc.after, (list, tuple)) else [fc.after]:
                if isinstance(value, Person) and value.identity:
                    seen.setdefault(value.identity, value)
        for note in change.notes if mentions else ():
            if note.mention is not None and note.mention.identity:
                seen.setdefault(note.mention.identity, note.mention)
    return list(seen.values())


CHANGED_SINCE_READ = "changed by a person since it was read; left for the next run"


def synced_fields(change: RecordChange) -> list[FieldChange]:
    """The change's synced values (not the verdict trackerbridge owns outright): the fields a person
    may also edit, so they are re-read right before they are written."""
    return [fc for fc in change.fields if fc.reason.startswith("sync:")]


def changed_since_read(watched: Sequence[FieldChange], now: Mapping[str, object]) -> str | None:
    """The conflict message when a synced field no longer holds the value it was read with, else None.
    Values compare as the planner's `same` does: people by identity, empty is empty."""
    moved = [fc.name or fc.field for fc in watched if not _same(fc.before, now.get(fc.field))]
    return f"{', '.join(moved)}: {CHANGED_SINCE_READ}" if moved else None


def _same(a: object, b: object) -> bool:
    if a in (None, "", []) and b in (None, "", []):
        return True
    if isinstance(a, Person) or isinstance(b, Person):
        return isinstance(a, Person) and isinstance(b, Person) and a.identity == b.identity
    return a == b


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unique(people: Iterable[Person]) -> list[Person]:
    """One person per identity; people without any identity cannot be looked up."""
    out: dict[str, Person] = {}
    for p in people:
        if p.identity:
            out.setdefault(p.identity, p)
    return list(out.values())


def no_account(person: Person, system: str, why: str | None, what: str) -> WriteError:
    """The message for a person who cannot be written into a field or mentioned."""
    who = person.email or person.name or person.ref or "?"
    reason = f": {why}" if why else ""
    return WriteError(f"{what}: no {system} account found for {who}{reason}")


def as_date(fi: FieldInfo, value: Any) -> date:
    """A canonical value as a date for a date field; WriteError names the field otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise WriteError(f"{fi.name}: {value!r} is not a date") from None


def as_utc(fi: FieldInfo, value: Any) -> datetime:
    """A canonical value as an aware UTC datetime (naive ones are UTC), for a datetime field."""
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError:
            raise WriteError(f"{fi.name}: {value!r} is not a date and time") from None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
