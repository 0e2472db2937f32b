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
from datetime import datetime

from trackerbridge.config.project import Project
from trackerbridge.conflict_views import ConflictError, ConflictView, Side, find, shown, views
from trackerbridge.planner import same
from trackerbridge.state.store import StateStore, Write
from trackerbridge.sync import Log, SyncResult, run_sync

__all__ = ["ConflictError", "ConflictView", "Side", "find", "resolve", "review", "views"]


def review(
    project: Project,
    names: Sequence[str],
    now: datetime,
    store: StateStore,
    env: Mapping[str, str],
    log: Log | None = None,
) -> list[ConflictView]:
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
            raise ConflictError(
                f"--take {take}: this conflict is between {view.source.system} and {view.target.system}"
            )
        source_wins = take == view.source.system
    else:
        if same(value, view.source.value) or same(value, shown(view.conflict.desired)):
            source_wins = True
        elif same(value, view.target.value):
            source_wins = False
        else:
            raise ConflictError(
                f"--value {value!r} is neither side's value ({view.source.value!r} on {view.source.key}, "
                f"{view.target.value!r} on {view.target.key}): trackerbridge writes only the target's synced "
                f"field from the source of truth, so set {view.attribute} on {view.source.key} and it follows"
            )
    if not source_wins:
        raise ConflictError(
            f"{view.source.system} is the source of truth for {view.attribute} and trackerbridge does not own "
            f"{view.source.key}'s {view.attribute}: set it to {view.target.value!r} there by hand (the sync then "
            f"agrees and the conflict closes by itself), or take {view.source.system}"
        )
    c = view.conflict
    target_connector, target_key = c.target.split(":", 1)
    run_id = store.begin_run("resolve", now)
    store.record_writes(
        [
            Write(
                run_id,
                target_connector,
                target_key,
                f"resolve:{c.attribute}",
                c.target_value,
                c.desired,
                "ok",
                None,
                now,
            )
        ]
    )
    # the person's edit on the target is acknowledged as the base: the planner then writes the source's value
    store.remember(target_connector, target_key, c.field_id, c.target_value)
    store.finish_run(run_id, now, "ok", {"resolved": 1})
    result = run_sync(project, names, now, store, env, log=log, only={c.source, c.target})
    return view, result
