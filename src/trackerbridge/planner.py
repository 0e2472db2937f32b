"""The sync planner: desired values vs what the tracker holds vs what trackerbridge last wrote.

Pure. It emits the minimal change set: nothing when nothing changed; only owned fields; owned
labels by add/remove (never a replace); synced values from the source of truth, unless both sides
changed since the last run (a conflict, left for a person); a "turned red" note once per turn,
with a marker derived from the previous state so a crashed run and its re-run agree on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from trackerbridge.changes import Conflict, FieldChange, Note, RecordChange, SyncHeld
from trackerbridge.health import CONFLICT, Flag, Health, health_labels
from trackerbridge.model import Initiative, Person
from trackerbridge.records import FieldInfo
from trackerbridge.rules.base import Index, SyncBinding

DEFAULT_HEALTH_VALUES = {Flag.GREEN: "Green", Flag.AMBER: "Amber", Flag.RED: "Red"}


@dataclass(frozen=True)
class WriteSpec:
    """What one connector's records show of the verdict (from its mapping's write_back)."""

    connector: str
    mapping: str
    health_field: FieldInfo | None = None
    health_values: Mapping[Flag, str] = field(default_factory=lambda: dict(DEFAULT_HEALTH_VALUES))
    reasons_field: FieldInfo | None = None
    reasons_limit: int = 255
    label_prefix: str | None = None
    owned_labels: frozenset[str] = frozenset()  # exact labels the connector owns beyond the health vocabulary
    owned_label_prefixes: tuple[str, ...] = ()  # opt-in: every label with one of these prefixes is owned
    notify_on_red: bool = False
    sync_fields: Mapping[str, FieldInfo] = field(default_factory=dict)  # "sync:<mapping>:<attr>" -> field
    stamp: bool = False  # carry the activity stamp with each write (Jira's entity property)
    activity_field: FieldInfo | None = None  # an owned DateTime field holding the activity time (Salesforce)

    @property
    def vocabulary(self) -> frozenset[str]:
        """The labels trackerbridge can produce here: its health words and the conflict flag."""
        return health_labels(self.label_prefix)

    def owns_label(self, label: str) -> bool:
        return (
            label in self.vocabulary
            or label in self.owned_labels
            or any(label.startswith(p) for p in self.owned_label_prefixes)
        )

    def shown_flag(self, i: Initiative) -> Flag | None:
        """The health the record shows now (its health field, else its health label): the tracker's
        own memory of the last verdict, which any instance reads alike. None: it shows none."""
        if self.health_field is not None:
            shown = i.current.get(self.health_field.id)
            if shown in (None, ""):
                return None
            text = str(shown).casefold()
            return next((f for f, v in self.health_values.items() if v.casefold() == text), None)
        if self.label_prefix:
            flags = {f for f in Flag if f"{self.label_prefix}{f.value}" in i.labels}
            return flags.pop() if len(flags) == 1 else None
        return None

    @property
    def shows_health(self) -> bool:
        return self.health_field is not None or bool(self.label_prefix)


@dataclass(frozen=True)
class PeopleMatch:
    """What the trackers said about the people a sync would write (looked up by `trackerbridge.people`;
    plain data here, so the planner stays pure)."""

    same: frozenset[frozenset[str]] = frozenset()  # pairs of Person.identity known to be one person
    unmatched: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (target connector, identity) -> why

    def alike(self, a: Any, b: Any) -> bool:
        """`same`, or two mentions of one person the trackers' accounts tie together."""
        if same(a, b):
            return True
        return isinstance(a, Person) and isinstance(b, Person) and frozenset((a.identity, b.identity)) in self.same


@dataclass
class PlanState:
    """What the state store remembers, as the planner needs it."""

    written: Mapping[tuple[str, str, str], Any] = field(default_factory=dict)  # (connector, key, slot) -> value
    health: Mapping[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)  # -> (flag, since)
    # (connector, key) -> markers of notes a run intended and never saw posted: it died between a record's
    # write and its note (a Salesforce Task is a call of its own), so the record already shows red
    pending_notes: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    changes: list[RecordChange] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    held: list[SyncHeld] = field(default_factory=list)  # synced values not written: unreadable or unmapped
    remember: list[tuple[str, str, str, Any]] = field(default_factory=list)  # (connector, key, slot, value)
    # (connector, key, field id, value): a synced person the target shows under another identity (e-mail
    # hidden there): already right, so judged as holding the source's value
    matched: list[tuple[str, str, str, Any]] = field(default_factory=list)
    health: list[tuple[str, str, str, datetime]] = field(default_factory=list)  # (connector, key, flag, since)
    # (target connector, target key) -> the source's `seen:` slots its synced values came from: not
    # remembered when the target's write fails, so a person's edit meanwhile is a conflict next run.
    fed_by: dict[tuple[str, str], set[tuple[str, str, str]]] = field(default_factory=dict)

    def for_connector(self, connector: str) -> list[RecordChange]:
        return [c for c in self.changes if c.connector == connector]


def plan(
    initiatives: Sequence[Initiative],
    health: Mapping[str, Health],
    specs: Mapping[str, WriteSpec],
    syncs: Sequence[SyncBinding],
    state: PlanState,
    now: datetime,
    *,
    fixes: Mapping[str, str] | None = None,
    people: PeopleMatch | None = None,
) -> Plan:
    """`fixes`: rule code -> the rule's fix text, so a "turned red" note says what to do; `people`: which
    people a sync writes are one person on both systems, and which have no account on the target (data,
    not lookups: the planner stays pure)."""
    out = Plan()
    changes: dict[tuple[str, str], RecordChange] = {}

    def change_for(i: Initiative) -> RecordChange:
        key = (i.source, i.key)
        if key not in changes:
            changes[key] = RecordChange(i.source, i.key, i.url)
        return changes[key]

    conflicted = _plan_syncs(initiatives, specs, syncs, state, out, change_for, people or PeopleMatch())
    for i in initiatives:
        spec = specs.get(i.source)
        verdict = health.get(i.ref)
        if spec is None or verdict is None or i.held:  # held: the record as read cannot be judged
            continue
        _plan_health(i, verdict, spec, state, now, out, change_for, conflicted.get(i.ref, []), fixes or {})
    by_ref = {i.ref: i for i in initiatives}
    for c in changes.values():
        spec = specs.get(c.connector)
        read = by_ref.get(f"{c.connector}:{c.key}")
        if c.empty or spec is None or read is None:
            continue
        _stamp(c, read, spec)
    ordered = sorted(changes.values(), key=lambda c: (c.connector, c.key))
    return replace(out, changes=[c for c in ordered if not c.empty])


def _stamp(change: RecordChange, i: Initiative, spec: WriteSpec) -> None:
    """Every write says it is trackerbridge's and carries the person-activity time it judged on,
    so the next reader (any instance, any store) does not take the write for activity. Only a
    write that happens anyway carries it: the stamp alone is never a reason to write."""
    change.stamp, change.activity = spec.stamp, i.updated
    fi = spec.activity_field
    if fi is not None and i.updated is not None and not same(i.current.get(fi.id), i.updated):
        change.fields.append(FieldChange(fi.id, fi.name, i.current.get(fi.id), i.updated, "activity"))


def _plan_health(
    i: Initiative,
    verdict: Health,
    spec: WriteSpec,
    state: PlanState,
    now: datetime,
    out: Plan,
    change_for: Any,
    conflicts: list[str],
    fixes: Mapping[str, str],
) -> None:
    flag = verdict.flag
    if spec.health_field is not None:
        desired = spec.health_values.get(flag, DEFAULT_HEALTH_VALUES[flag])
        _set(i, spec.health_field, desired, "health", change_for)
    if spec.reasons_field is not None:
        reasons = verdict
        if conflicts:
            reasons = Health(flag, (*verdict.reasons, *(f"sync conflict on {c}" for c in conflicts)))
        _set(i, spec.reasons_field, reasons.text(spec.reasons_limit) or None, "reasons", change_for)
    wanted: set[str] = set()
    if spec.label_prefix:
        prefix = spec.label_prefix
        wanted = {f"{prefix}{flag.value}"} | ({f"{prefix}{CONFLICT}"} if conflicts else set())
    owned = {label for label in i.labels if spec.owns_label(label)}  # exactly what trackerbridge can produce
    add, remove = sorted(wanted - i.labels), sorted(owned - wanted)
    if add or remove:
        c = change_for(i)
        c.add_labels.extend(add)
        c.remove_labels.extend(remove)
    previous = state.health.get((i.source, i.key))
    since = previous[1] if previous and previous[0] == flag.value else now
    if previous is None or previous[0] != flag.value:
        out.health.append((i.source, i.key, flag.value, since))
    # A turn to red is a change from a known other flag; the first sight of a record is its baseline.
    # What the record shows is the truth (any instance reads it alike); the store only stands in
    # where the verdict is not visible on the record at all.
    if spec.shows_health:
        shown = spec.shown_flag(i)
        before = shown.value if shown is not None else None
    else:
        before = previous[0] if previous is not None else None
    if spec.notify_on_red and flag is Flag.RED and before is not None and before != Flag.RED.value:
        activity = i.updated.isoformat() if i.updated is not None else ""
        marker = hashlib.sha256(f"{i.source}:{i.key}:red:{before}:{activity}".encode()).hexdigest()[:12]
        title, text = red_note(verdict, before, fixes)
        change_for(i).notes.append(Note("turned-red", marker, text, i.owner, title=title))
    elif spec.notify_on_red and flag is Flag.RED and (pending := state.pending_notes.get((i.source, i.key))):
        # The record already shows red because a run wrote it and died before its note: the note is still
        # owed. The connector looks for each marker on the record before posting (`maybe_posted`).
        title, text = red_note(verdict, previous[0] if previous is not None else "not red", fixes)
        for marker in pending:
            change_for(i).notes.append(Note("turned-red", marker, text, i.owner, title=title))


NOTE_REASONS = 12  # reasons listed in a note; the rest are counted


def red_note(verdict: Health, before: str, fixes: Mapping[str, str]) -> tuple[str, str]:
    """A "turned red" note's one-line title and its text: the title, then each reason with what to do
    about it (the rule's fix text; a rolled-up child's reason names the record to look at)."""
    title = f"Execution health turned red: {verdict.text(160)}" if verdict.reasons else "Execution health turned red"
    lines = [title, "", f"It showed {before} before. What to do:" if verdict.reasons else f"It showed {before} before."]
    for reason in verdict.reasons[:NOTE_REASONS]:
        code = reason.split(" ", 1)[0]
        fix = fixes.get(code)
        if fix:
            lines.append(f"- {reason}: {fix}")
        elif code != reason and ":" in reason:  # a roll-up: "DEL-33 red: TB101"
            lines.append(f"- {reason}: see {code} for what to do there.")
        else:
            lines.append(f"- {reason}")
    if len(verdict.reasons) > NOTE_REASONS:
        lines.append(f"- and {len(verdict.reasons) - NOTE_REASONS} more (see the health reasons field)")
    return title, "\n".join(lines)


def _set(i: Initiative, fi: FieldInfo, desired: Any, reason: str, change_for: Any) -> None:
    current = i.current.get(fi.id)
    if not same(current, desired):
        change_for(i).fields.append(FieldChange(fi.id, fi.name, current, desired, reason))


def _plan_syncs(
    initiatives: Sequence[Initiative],
    specs: Mapping[str, WriteSpec],
    syncs: Sequence[SyncBinding],
    state: PlanState,
    out: Plan,
    change_for: Any,
    people: PeopleMatch,
) -> dict[str, list[str]]:
    """Source-of-truth values onto their linked records. Returns record ref -> conflicting fields."""
    conflicted: dict[str, list[str]] = {}
    if not syncs:
        return conflicted
    index = Index(initiatives)
    mapping_of = {name: spec.mapping for name, spec in specs.items()}
    for binding in syncs:
        slot = f"sync:{binding.source_mapping}:{binding.attribute}"
        seen_slot = f"seen:{binding.attribute}"
        for source in initiatives:
            if mapping_of.get(source.source) != binding.source_mapping:
                continue
            value = canonical(_attribute(source, binding.attribute))
            desired = binding.values.get(str(value), value) if binding.values and value is not None else value
            last_seen = state.written.get((source.source, source.key, seen_slot))
            source_changed = last_seen is not None and not same(last_seen, value)
            stop = _unsyncable(source, binding, value)
            open_conflict = False
            for target in index.counterparts(source):
                spec = specs.get(target.source)
                if spec is None or spec.mapping != binding.target_mapping or slot not in spec.sync_fields:
                    continue
                if stop or target.held:
                    # Never blank or guess the other side's field: that record's sync of it stops, reported.
                    why = stop or f"{target.ref} could not be read, so its {spec.sync_fields[slot].name} is unknown"
                    out.held.append(SyncHeld(source.ref, target.ref, binding.attribute, why))
                    continue
                fi = spec.sync_fields[slot]
                current = target.current.get(fi.id)
                last_written = state.written.get((target.source, target.key, fi.id))
                if same(current, desired):
                    if not same(last_written, desired):
                        out.remember.append((target.source, target.key, fi.id, desired))
                    continue
                if people.alike(current, desired):  # one person, known by e-mail here and by account id there
                    out.matched.append((target.source, target.key, fi.id, desired))
                    if not same(last_written, current):  # as the target shows it: not a person's edit next run
                        out.remember.append((target.source, target.key, fi.id, current))
                    continue
                unmatched: tuple[str, Any] = (target.source, getattr(desired, "identity", None))
                if isinstance(desired, Person) and unmatched in people.unmatched:
                    # never a write that fails the whole record: the person is reported, the rest is written
                    why = people.unmatched[unmatched]
                    out.held.append(
                        SyncHeld(
                            source.ref,
                            target.ref,
                            binding.attribute,
                            (
                                f"no {target.system.capitalize()} account matches {desired.label} ({why}); "
                                f"{target.ref} keeps its {fi.name} "
                                f"{_shown(current) if current is not None else 'empty'}"
                            ),
                        )
                    )
                    continue
                if _empty(desired) and not binding.clear:
                    # an empty source of truth does not erase what a person filled in, unless the mapping says so
                    out.held.append(
                        SyncHeld(
                            source.ref,
                            target.ref,
                            binding.attribute,
                            (
                                f"{binding.attribute} of {source.ref} is empty; {target.ref} keeps its {fi.name} "
                                f"{_shown(current)} (the sync says no `clear: true`)"
                            ),
                        )
                    )
                    continue
                target_changed = last_written is not None and not same(current, last_written)
                if target_changed and source_changed:
                    out.conflicts.append(
                        Conflict(
                            source.ref,
                            target.ref,
                            binding.attribute,
                            value,
                            current,
                            last_written,
                            fi.id,
                            fi.name,
                            desired,
                        )
                    )
                    conflicted.setdefault(source.ref, []).append(binding.attribute)
                    conflicted.setdefault(target.ref, []).append(fi.name)
                    open_conflict = True
                    continue
                change_for(target).fields.append(FieldChange(fi.id, fi.name, current, desired, slot))
                out.fed_by.setdefault((target.source, target.key), set()).add((source.source, source.key, seen_slot))
            # an open conflict keeps its base: the next run sees both sides changed again, until a person
            # (or `conflicts resolve`) settles it, instead of overwriting the target's edit a run later
            if not stop and not same(last_seen, value) and not open_conflict:
                out.remember.append((source.source, source.key, seen_slot, value))
    return conflicted


def _unsyncable(source: Initiative, binding: SyncBinding, value: Any) -> str | None:
    """Why a source value must not travel: unreadable on the source, or missing from the sync's value map."""
    if source.held or binding.attribute in source.unread:
        return f"{binding.attribute} of {source.ref} could not be read (see its TB116 finding)"
    if binding.values and value is not None and str(value) not in binding.values:
        return f"{binding.attribute} value {str(value)!r} of {source.ref} is not in the sync's value map"
    return None


def _empty(value: Any) -> bool:
    return value in (None, "", []) or (isinstance(value, (list, tuple, set, frozenset)) and not value)


def _shown(value: Any) -> str:
    return repr(value.email or value.label) if isinstance(value, Person) else repr(canonical(value))


def _attribute(i: Initiative, name: str) -> Any:
    return getattr(i, name) if hasattr(i, name) and name not in ("extra", "current") else i.extra.get(name)


def canonical(value: Any) -> Any:
    """Enums travel as their value; everything else as it is."""
    return value.value if isinstance(value, Enum) else value


def same(a: Any, b: Any) -> bool:
    """Equality as a person reading the tracker sees it: people by identity, empty is empty."""
    if a in (None, "", []) and b in (None, "", []):
        return True
    if isinstance(a, Person) or isinstance(b, Person):
        return isinstance(a, Person) and isinstance(b, Person) and a.identity == b.identity
    return bool(canonical(a) == canonical(b))
