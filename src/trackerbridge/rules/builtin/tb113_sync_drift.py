"""TB113 sync-drift: fields that map between systems agree within the sync window.

For each sync binding, every record of the binding's source mapping is compared with its linked
counterparts of the target mapping: the target field's current value against what the source
attribute says (through the binding's value map, if any). People compare by identity (e-mail, else
the tracker id). A disagreement counts only once both records have been left alone for
`window_hours`: a sync in flight is not drift. A value the source holds but the value map does
not know, and a target record whose field value was not read, are skipped: we cannot say what
the target should hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from trackerbridge.model import CANONICAL_ATTRIBUTES, Initiative, Person
from trackerbridge.rules.base import Context, Hit, Index, Param, Rule, Severity, SyncBinding


def _plain(value: Any) -> Any:
    """The comparable form: people by identity, enums by value, dates as ISO text, empty text as None."""
    if isinstance(value, Person):
        return value.identity or None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, frozenset | set | list | tuple):
        return tuple(sorted(map(str, value)))
    return value


def _shown(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, Person):
        return f"'{value.label}'"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return f"'{value}'"


def _value(initiative: Initiative, attribute: str) -> Any:
    if attribute in CANONICAL_ATTRIBUTES:
        return getattr(initiative, attribute, None)
    return initiative.extra.get(attribute)


def _settled(initiative: Initiative, before: datetime) -> bool:
    return initiative.updated is None or initiative.updated < before


def _drift(binding: SyncBinding, index: Index, ctx: Context, before: datetime) -> Iterator[Hit]:
    def mapping_of(i: Initiative) -> str:
        return ctx.mappings.get(i.source, i.source)  # a connector named like its mapping needs no entry

    label = binding.attribute.replace("_", " ")
    for source in index.all:
        if mapping_of(source) != binding.source_mapping:
            continue
        raw = _value(source, binding.attribute)
        if binding.values is not None:
            key = _plain(raw)
            if str(key) not in binding.values:
                continue
            expected_shown = binding.values[str(key)]
            expected = _plain(expected_shown)
        else:
            expected_shown, expected = raw, _plain(raw)
        for target in index.counterparts(source):
            if mapping_of(target) != binding.target_mapping or binding.target_field not in target.current:
                continue
            actual_raw = target.current[binding.target_field]
            if _plain(actual_raw) == expected or not (_settled(source, before) and _settled(target, before)):
                continue
            whose = f"the {(source.kind or source.system).lower()}'s"
            message = f"{binding.target_name} is {_shown(actual_raw)} but {whose} {label} says {_shown(expected_shown)}"
            yield Hit(target, message, detail=binding.attribute)


def check(index: Index, ctx: Context) -> Iterator[Hit]:
    before = ctx.now - timedelta(hours=ctx.params["window_hours"])
    seen: set[tuple[str, str]] = set()
    for binding in ctx.syncs:
        for hit in _drift(binding, index, ctx, before):
            mark = (hit.initiative.ref, hit.detail)
            if mark not in seen:  # two sources disagreeing with one target: one finding
                seen.add(mark)
                yield hit


RULE = Rule(
    code="TB113",
    name="sync-drift",
    severity=Severity.WARNING,
    summary="Synced field disagrees with its source of truth",
    what=(
        "A field synced between systems holds a different value on the target record than the source record's "
        "attribute says, and neither record changed within `window_hours`."
    ),
    why="Two systems that disagree make people pick whichever they saw last; the one of record must win.",
    fix="Correct the value in the source of truth (the sync then writes it); ask the field's data-quality owner.",
    check=check,
    params={"window_hours": Param(24, "hours a disagreement may last while a sync catches up")},
    scope="set",
)
