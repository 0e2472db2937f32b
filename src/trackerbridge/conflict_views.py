"""Open conflicts as people review them (`ConflictView`: the base and both sides, who changed each and when),
from a sync's result, and finding the one a person names. Pure; `trackerbridge.conflicts` runs the dry-run
sync that lists them and resolves one (see its docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from trackerbridge.changes import Conflict
from trackerbridge.model import Initiative, Person
from trackerbridge.planner import canonical

if TYPE_CHECKING:
    from trackerbridge.sync import SyncResult


class ConflictError(Exception):
    """No such conflict, or a resolution trackerbridge may not write (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Side:
    system: str
    connector: str
    key: str
    url: str
    field: str  # the attribute (source) or the synced field (target) as people see it
    value: Any
    changed_by: str | None  # who made the latest change the tracker's history shows, where it shows one
    changed_at: datetime | None  # ... and when; else the record's last person activity


@dataclass(frozen=True)
class ConflictView:
    attribute: str
    base: Any  # the value last synced
    source: Side  # the source of truth
    target: Side
    conflict: Conflict


def _latest(i: Initiative, attribute: str) -> tuple[str | None, datetime | None]:
    changes = [c for c in i.history if c.attribute == attribute]
    if changes:
        last = max(changes, key=lambda c: c.at)
        return (last.author.label if last.author else None), last.at
    return None, i.updated


def shown(value: Any) -> Any:
    """A value as the review shows it: a person by e-mail, anything else in its canonical form."""
    if isinstance(value, Person):
        return value.email or value.label
    return canonical(value)


def views(result: SyncResult) -> list[ConflictView]:
    """The plan's conflicts with both sides' records, in a stable order."""
    by_ref = {i.ref: i for i in result.audit.initiatives}
    out = []
    for c in result.plan.conflicts:
        source, target = by_ref.get(c.source), by_ref.get(c.target)
        if source is None or target is None:
            continue
        s_by, s_at = _latest(source, c.attribute)
        t_by, t_at = _latest(target, c.field)
        out.append(
            ConflictView(
                c.attribute,
                shown(c.last_written),
                Side(
                    source.system,
                    source.source,
                    source.key,
                    source.url,
                    c.attribute,
                    shown(c.source_value),
                    s_by,
                    s_at,
                ),
                Side(
                    target.system,
                    target.source,
                    target.key,
                    target.url,
                    c.field or c.attribute,
                    shown(c.target_value),
                    t_by,
                    t_at,
                ),
                c,
            )
        )
    return sorted(out, key=lambda v: (v.source.connector, v.source.key, v.attribute, v.target.key))


def find(found: Sequence[ConflictView], key: str, field: str) -> ConflictView:
    """The one conflict on record `key` (either side) and `field` (the attribute, or the target's field by name
    or id)."""
    wanted = field.casefold()
    matches = [
        v
        for v in found
        if key in (v.source.key, v.target.key)
        and wanted in (v.attribute.casefold(), v.target.field.casefold(), v.conflict.field_id.casefold())
    ]
    if not matches:
        open_ = ", ".join(f"{v.source.key}/{v.target.key} {v.attribute}" for v in found) or "none"
        raise ConflictError(f"no open conflict on {key} {field} (open conflicts: {open_})")
    if len(matches) > 1:
        raise ConflictError(f"{key} {field} names {len(matches)} conflicts: give the other side's key")
    return matches[0]
