"""Compiling a mapping file against a live field catalog, and turning records into initiatives.

Compilation resolves every field name to the tracker's id once and builds one small converter
per attribute, so mapping a record is a loop of plain function calls (the hot path of every run).
Problems are collected, each with the YAML path it concerns, so the loader can point at lines.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from trackerbridge import records as f
from trackerbridge.activity import SYSTEM_STAMPS
from trackerbridge.config.models import AttributeSpec, IssueLinkSpec, MappingFile, Owns, SyncSpec
from trackerbridge.converters import (
    ACTIVITY,
    Converter,
    Problem,
    converter_for,
    history_value,
    kind_of,
    safe_convert,
    shown,
    taking,
)
from trackerbridge.health import health_labels
from trackerbridge.model import CANONICAL_ATTRIBUTES, Change, Initiative, Link
from trackerbridge.records import Catalog, FieldInfo, RawRecord


class MappingError(Exception):
    def __init__(self, mapping: str, problems: list[Problem]) -> None:
        super().__init__(f"mapping {mapping!r}: " + "; ".join(p.message for p in problems))
        self.mapping = mapping
        self.problems = problems


@dataclass(frozen=True)
class Resolved:
    attribute: str
    field: FieldInfo
    convert: Converter


@dataclass
class CompiledMapping:
    name: str
    system: str
    attributes: list[Resolved]
    extra: list[Resolved]
    links: Sequence[tuple[str, FieldInfo]]
    write_fields: dict[str, FieldInfo]  # role ("health", "reasons") -> field
    spec: MappingFile
    problems: list[Problem] = field(default_factory=list)
    history_fields: dict[str, Resolved] = field(default_factory=dict)  # field id -> attribute, when history
    issue_links: list[tuple[str, IssueLinkSpec]] = field(default_factory=list)  # attribute -> type, direction
    links_field: FieldInfo | None = None  # Jira's issuelinks, when issue_links are mapped

    @property
    def needs_history(self) -> bool:
        return bool(self.history_fields)

    @property
    def fields(self) -> list[FieldInfo]:
        """Every field a pull must request, once each."""
        seen: dict[str, FieldInfo] = {}
        for r in [*self.attributes, *self.extra]:
            seen.setdefault(r.field.id, r.field)
        for _, fi in self.links:
            seen.setdefault(fi.id, fi)
        for fi in self.write_fields.values():
            seen.setdefault(fi.id, fi)
        if self.links_field is not None:
            seen.setdefault(self.links_field.id, self.links_field)
        return list(seen.values())

    def to_initiative(self, raw: RawRecord, source: str) -> Initiative:
        """Map one record. A value that cannot be read becomes None plus a data error on the
        initiative, so one odd record never stops a run."""
        values = raw.values
        attrs: dict[str, Any] = {}
        errors: list[str] = []
        unread: list[str] = []
        absent = raw.absent
        if raw.unreadable is not None:
            errors.append(f"record cannot be read: {raw.unreadable}; nothing is judged or written for it")
        for r in self.attributes:
            if raw.unreadable is not None:
                attrs[r.attribute] = None
                unread.append(r.attribute)
                continue
            if absent and r.field.id in absent:
                attrs[r.attribute] = None
                unread.append(r.attribute)
                errors.append(
                    f"{r.attribute}: field {r.field.name!r} ({r.field.id}) is absent from the tracker's answer "
                    "(hidden by a field configuration or not on the screen?); the record is not written"
                )
                continue
            value = values.get(r.field.id)
            try:
                attrs[r.attribute] = r.convert(value)
            except (ValueError, TypeError) as exc:
                attrs[r.attribute] = None
                unread.append(r.attribute)
                errors.append(f"{r.attribute}: cannot read {r.field.name!r} value {shown(value)}: {exc}")
        initiative = Initiative(source=source, system=self.system, key=raw.key, url=raw.url, **attrs)
        if errors:
            initiative.data_errors = errors
            initiative.unread = frozenset(unread)
        if raw.unreadable is not None or absent:
            if not errors:  # only unmapped-attribute fields (links, write-back) are absent
                names = ", ".join(sorted(absent))
                initiative.data_errors = [f"fields {names} are absent from the tracker's answer; not written"]
            initiative.held = True
        if initiative.title is None:
            initiative.title = ""
        if initiative.labels is None:
            initiative.labels = frozenset()
        if initiative.updated is None:
            initiative.updated = raw.updated
        if raw.ours and self._stamps_activity:
            # trackerbridge's own write was the last change: the activity is what it recorded then
            recorded = raw.stamp
            activity = self.write_fields.get("activity")
            if recorded is None and activity is not None:
                recorded = safe_convert(ACTIVITY, values.get(activity.id))
            if recorded is not None:
                initiative.updated = recorded
        if initiative.created is None and "created" not in initiative.unread:
            initiative.created = raw.created  # the record's own creation date when the mapping names none
        if self.extra:
            initiative.extra = {r.attribute: safe_convert(r.convert, values.get(r.field.id)) for r in self.extra}
        if self.links_field is not None:
            entries = values.get(self.links_field.id)
            initiative.extra = {
                **initiative.extra,
                **{name: linked_keys(entries, spec) for name, spec in self.issue_links},
            }
        links = [Link(system, str(values[fi.id])) for system, fi in self.links if values.get(fi.id)]
        if links:
            initiative.links = tuple(links)
        if self.write_fields:
            initiative.current = {fi.id: values.get(fi.id) for fi in self.write_fields.values()}
        if self.history_fields and raw.history:
            initiative.history = tuple(self._changes(raw))
            if initiative.stage_entered is None and "stage_entered" not in self._mapped:
                # Data Center has no "status category changed" date: the last stage change in the history.
                moves = [c.at for c in initiative.history if c.attribute == "stage" and c.after != c.before]
                initiative.stage_entered = moves[-1] if moves else None
        return initiative

    @cached_property
    def _stamps_activity(self) -> bool:
        """Whether `updated` is the tracker's modification stamp (or unmapped): then the activity
        clock stands in for it. A mapped field of the mapping's own choosing is left as it reads."""
        fed = next((r for r in self.attributes if r.attribute == "updated"), None)
        return fed is None or fed.field.id in SYSTEM_STAMPS

    @cached_property
    def _mapped(self) -> frozenset[str]:
        return frozenset(r.attribute for r in self.attributes)

    @cached_property
    def _history_by_name(self) -> dict[str, Resolved]:
        """History fields by case-folded name (changelogs name custom fields as people see them)."""
        return {r.field.name.casefold(): r for r in self.history_fields.values()}

    def _changes(self, raw: RawRecord) -> Iterator[Change]:
        """Changelog items of mapped fields, converted like the attribute (unreadable ones skipped)."""
        by_name = self._history_by_name
        for entry in raw.history:
            for item in entry.get("items", ()):
                r = (
                    self.history_fields.get(str(item.get("fieldId") or ""))
                    or self.history_fields.get(str(item.get("field") or ""))
                    or by_name.get(str(item.get("field") or "").casefold())
                )
                if r is None:
                    continue
                before = safe_convert(r.convert, history_value(item, "from", r.field.type))
                after = safe_convert(r.convert, history_value(item, "to", r.field.type))
                yield Change(entry["created"], r.attribute, before, after, entry.get("author"))


@dataclass(frozen=True)
class IncomingSync:
    """A sync spec of another mapping that writes into this one: where its problems are reported."""

    source_mapping: str
    index: int  # position in the source mapping's sync list
    spec: SyncSpec


def compile_mapping(
    name: str,
    spec: MappingFile,
    catalog: Catalog,
    owns: Owns | None = None,
    incoming: list[IncomingSync] | None = None,
) -> CompiledMapping:
    """Resolve a mapping against a catalog. Raises MappingError listing every problem.

    `incoming` are the other side's sync specs whose target field lives in this catalog: their
    fields are read (to compare) and written (to sync), so they must resolve, be updateable and owned."""
    problems: list[Problem] = []
    attributes = _resolve_all(spec.attributes, "attributes", catalog, problems, canonical=True)
    extra = _resolve_all(spec.extra, "extra", catalog, problems, canonical=False)
    links = []
    for i, link in enumerate(spec.links):
        fi = _find(catalog, link.field, ("links", i, "field"), problems)
        if fi is not None:
            links.append((link.system, fi))
    write_fields: dict[str, FieldInfo] = {}
    wb = spec.write_back
    owned = {o.casefold() for o in (owns.fields if owns else [])}
    for role, ref in (("health", wb.health_field), ("reasons", wb.reasons_field), ("activity", wb.activity_field)):
        if ref is None:
            continue
        path: tuple[str | int, ...] = ("write_back", f"{role}_field")
        fi = _find(catalog, ref, path, problems)
        if fi is None:
            continue
        if not fi.updateable:
            problems.append(
                Problem(path, f"field {fi.name!r} ({fi.id}) is not updateable, so it cannot take the {role}")
            )
        elif owns is not None and fi.id.casefold() not in owned and fi.name.casefold() not in owned:
            problems.append(
                Problem(
                    path,
                    f"field {fi.name!r} is not listed in the connector's owns.fields",
                    "add it there: trackerbridge writes only what a connector says it owns",
                )
            )
        if role == "activity" and fi.type != f.DATETIME:
            problems.append(
                Problem(path, f"field {fi.name!r} is {fi.type}; the activity field must hold a date and time")
            )
        if role == "health" and fi.type == f.OPTION and fi.options:
            wanted = (wb.health_values or {"green": "Green", "amber": "Amber", "red": "Red"}).values()
            missing = [v for v in wanted if v not in fi.options]
            if missing:
                problems.append(
                    Problem(
                        path,
                        f"field {fi.name!r} has no option {missing[0]!r}",
                        f"its options are {', '.join(fi.options)}; set write_back.health_values",
                    )
                )
        write_fields[role] = fi
    for sync in incoming or []:
        path = ("@sync", sync.source_mapping, sync.index, "field")
        fi = _find(catalog, sync.spec.field, path, problems)
        if fi is None:
            continue
        if not fi.updateable:
            problems.append(Problem(path, f"field {fi.name!r} ({fi.id}) is not updateable, so it cannot be synced"))
        elif fi.multiple:
            problems.append(Problem(path, f"field {fi.name!r} ({fi.id}) holds several values; a sync writes one value"))
        elif owns is not None and fi.id.casefold() not in owned and fi.name.casefold() not in owned:
            problems.append(
                Problem(
                    path,
                    f"field {fi.name!r} is not listed in {name!r}'s connector owns.fields",
                    "add it there: trackerbridge writes only what a connector says it owns",
                )
            )
        write_fields[f"sync:{sync.source_mapping}:{sync.spec.attribute}"] = fi
    if wb.label_prefix and owns is not None:
        exact = {x.casefold() for x in owns.labels}
        uncovered = sorted(
            label
            for label in health_labels(wb.label_prefix)
            if label.casefold() not in exact and not any(label.startswith(p) for p in owns.label_prefixes)
        )
        if uncovered:
            problems.append(
                Problem(
                    ("write_back", "label_prefix"),
                    f"the connector does not own the health labels {', '.join(uncovered)}",
                    f"list them in the connector's owns.labels: [{', '.join(sorted(health_labels(wb.label_prefix)))}]",
                )
            )
    links_field = None
    if spec.issue_links:
        links_field = catalog.find("issuelinks")
        if links_field is None:
            problems.append(
                Problem(
                    ("issue_links",),
                    "this Jira has no issuelinks field",
                    "issue linking may be turned off (Jira administration, Issue linking)",
                )
            )
    compiled = CompiledMapping(name, spec.system, attributes, extra, links, write_fields, spec, problems)
    compiled.issue_links = list(spec.issue_links.items())
    compiled.links_field = links_field
    # extras too: a slip's reason is often a custom field whose changelog says when it was given (TB117)
    compiled.history_fields = {r.field.id: r for r in [*extra, *attributes]} if spec.history else {}
    if problems:
        raise MappingError(name, problems)
    return compiled


def _resolve_all(
    specs: dict[str, AttributeSpec], section: str, catalog: Catalog, problems: list[Problem], *, canonical: bool
) -> list[Resolved]:
    out = []
    for attribute, spec in specs.items():
        path: tuple[str | int, ...] = (section, attribute)
        fi = _find(catalog, spec.field, (*path, "field"), problems)
        if fi is None:
            continue
        kind = CANONICAL_ATTRIBUTES.get(attribute, "text") if canonical else kind_of(spec, fi)
        try:
            convert = converter_for(kind, spec, fi, path, problems)
        except ValueError as exc:
            problems.append(Problem(path, str(exc)))
            continue
        if fi.multiple and kind != "labels":
            convert = taking(convert, spec.take, kind, canonical, (*path, "take"), problems)
        out.append(Resolved(attribute, fi, convert))
    return out


def _find(catalog: Catalog, ref: str, path: tuple[str | int, ...], problems: list[Problem]) -> FieldInfo | None:
    fi = catalog.find(ref)
    if fi is not None:
        return fi
    twins = catalog.ambiguous(ref)
    if twins:
        ids = ", ".join(t.id for t in twins)
        problems.append(Problem(path, f"{ref!r} names {len(twins)} fields ({ids})", "use the field id instead"))
        return None
    suggestion = catalog.suggest(ref)
    problems.append(
        Problem(path, f"no field {ref!r} in the live catalog", f"did you mean {suggestion!r}?" if suggestion else None)
    )
    return None


def linked_keys(entries: Any, spec: IssueLinkSpec) -> list[str]:
    """The keys an issue's links of `spec`'s type (name or id, any case) and direction point at, in Jira's order.
    `entries` is the connector's plain form (`connectors.jira.links.issue_links`)."""
    wanted = spec.type.casefold()
    return (
        list(
            dict.fromkeys(
                e["key"]
                for e in entries
                if isinstance(e, dict)
                and e.get("direction") == spec.direction
                and wanted in (str(e.get("type", "")).casefold(), str(e.get("type_id", "")).casefold())
            )
        )
        if isinstance(entries, list)
        else []
    )
