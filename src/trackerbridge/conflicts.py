"""Conflict review: the synced fields both sides changed since the last sync, and their resolution.

A conflict is what the planner leaves for a person (`Plan.conflicts`): the source of truth and the target both
moved away from the value trackerbridge last synced (the base). Listing one is a dry run of `sync`. Resolving one
goes through the same planner: taking the source's value, the target's edit is acknowledged as the new base in
the state store (with an audit row), and a sync of just the two records then writes the source's value onto the
target and takes the conflict flag and reason off both; nothing else is written. The other way round would mean
writing the source of truth's own field, which trackerbridge does not own, so it says what to change by hand.
A conflict that people settle themselves (both sides equal again) is no conflict for the planner: it closes by
itself on the next sync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trackerbridge.changes import Conflict
from trackerbridge.config.project import Project
from trackerbridge.model import Initiative, Person
from trackerbridge.planner import canonical, same
from trackerbridge.state.store import StateStore, Write
from trackerbridge.sync import Log, SyncResult, run_sync


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


def _shown(value: Any) -> Any:
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
        out.append(ConflictView(
            c.attribute, _shown(c.last_written),
            Side(source.system, source.source, source.key, source.url, c.attribute, _shown(c.source_value), s_by,
                 s_at),
            Side(target.system, target.source, target.key, target.url, c.field or c.attribute,
                 _shown(c.target_value), t_by, t_at),
            c,
        ))
    return sorted(out, key=lambda v: (v.source.connector, v.source.key, v.attribute, v.target.key))


def find(found: Sequence[ConflictView], key: str, field: str) -> ConflictView:
    """The one conflict on record `key` (either side) and `field` (the attribute, or the target's field by name
    or id)."""
    wanted = field.casefold()
    matches = [v for v in found if key in (v.source.key, v.target.key)
               and wanted in (v.attribute.casefold(), v.target.field.casefold(), v.conflict.field_id.casefold())]
    if not matches:
        open_ = ", ".join(f"{v.source.key}/{v.target.key} {v.attribute}" for v in found) or "none"
        raise ConflictError(f"no open conflict on {key} {field} (open conflicts: {open_})")
    if len(matches) > 1:
        raise ConflictError(f"{key} {field} names {len(matches)} conflicts: give the other side's key")
    return matches[0]


def review(project: Project, names: Sequence[str], now: datetime, store: StateStore, env: Mapping[str, str],
           log: Log | None = None) -> list[ConflictView]:
    """The open conflicts, from a dry run (nothing is written)."""
    return views(run_sync(project, names, now, store, env, dry_run=True, log=log))


def resolve(
    project: Project,
    names: Sequence[str],
    now: datetime,
    store: StateStore,
    env: Mapping[str, str],
    key: str,
    field: str,
    *,
    take: str | None = None,
    value: str | None = None,
    log: Log | None = None,
) -> tuple[ConflictView, SyncResult]:
    """Resolve one conflict through the planner; see the module docstring. `take` is a system ("jira" or
    "salesforce"); `value` a value to settle on, which must be one side's (as shown by `views`)."""
    view = find(review(project, names, now, store, env, log), key, field)
    if (take is None) == (value is None):
        raise ConflictError("give --take jira|salesforce or --value, not both")
    if take is not None:
        if take not in (view.source.system, view.target.system):
            raise ConflictError(f"--take {take}: this conflict is between {view.source.system} and "
                                f"{view.target.system}")
        source_wins = take == view.source.system
    else:
        if same(value, view.source.value) or same(value, _shown(view.conflict.desired)):
            source_wins = True
        elif same(value, view.target.value):
            source_wins = False
        else:
            raise ConflictError(
                f"--value {value!r} is neither side's value ({view.source.value!r} on {view.source.key}, "
                f"{view.target.value!r} on {view.target.key}): trackerbridge writes only the target's synced "
                f"field from the source of truth, so set {view.attribute} on {view.source.key} and it follows")
    if not source_wins:
        raise ConflictError(
            f"{view.source.system} is the source of truth for {view.attribute} and trackerbridge does not own "
            f"{view.source.key}'s {view.attribute}: set it to {view.target.value!r} there by hand (the sync then "
            f"agrees and the conflict closes by itself), or take {view.source.system}")
    c = view.conflict
    target_connector, target_key = c.target.split(":", 1)
    run_id = store.begin_run("resolve", now)
    store.record_writes([Write(run_id, target_connector, target_key, f"resolve:{c.attribute}", c.target_value,
                               c.desired, "ok", None, now)])
    # the person's edit on the target is acknowledged as the base: the planner then writes the source's value
    store.remember(target_connector, target_key, c.field_id, c.target_value)
    store.finish_run(run_id, now, "ok", {"resolved": 1})
    result = run_sync(project, names, now, store, env, log=log, only={c.source, c.target})
    return view, result
