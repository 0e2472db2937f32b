"""Compiling a mapping file against a live field catalog, and turning records into initiatives.

Compilation resolves every field name to the tracker's id once and builds one small converter
per attribute, so mapping a record is a loop of plain function calls (the hot path of every run).
Problems are collected, each with the YAML path it concerns, so the loader can point at lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trackerbridge.activity import SYSTEM_STAMPS
from trackerbridge.config.models import AttributeSpec, MappingFile, Owns, SyncSpec
from trackerbridge.connectors import base as f
from trackerbridge.connectors.base import Catalog, FieldInfo, RawRecord
from trackerbridge.health import health_labels
from trackerbridge.model import CANONICAL_ATTRIBUTES, Change, Initiative, Link, Person, Size, Stage

Converter = Callable[[Any], Any]

# Which field types can feed each attribute kind without an explicit transform.
ACCEPTS: dict[str, set[str]] = {
    "text": {f.TEXT, f.OPTION, f.NUMBER, f.REFERENCE, f.USER, f.DATE, f.DATETIME, f.BOOLEAN},
    "person": {f.USER, f.TEXT},
    "stage": {f.OPTION, f.TEXT},
    "size": {f.OPTION, f.TEXT, f.NUMBER},
    "date": {f.DATE, f.DATETIME, f.TEXT},
    "datetime": {f.DATETIME, f.DATE, f.TEXT},
    "boolean": {f.BOOLEAN, f.OPTION, f.TEXT},
    "integer": {f.NUMBER, f.TEXT},
    "labels": {f.LABELS, f.TEXT, f.OPTION},
    "comments": {f.COMMENTS},  # an extra attribute only: the record's comments, for TB117's reasons
}


@dataclass(frozen=True)
class Problem:
    """Something wrong with a mapping against the live catalog; `path` is the YAML path."""

    path: tuple[str | int, ...]
    message: str
    hint: str | None = None


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
    links: list[tuple[str, FieldInfo]]
    write_fields: dict[str, FieldInfo]  # role ("health", "reasons") -> field
    spec: MappingFile
    problems: list[Problem] = field(default_factory=list)
    history_fields: dict[str, Resolved] = field(default_factory=dict)  # field id -> attribute, when history

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
                errors.append(f"{r.attribute}: cannot read {r.field.name!r} value {_show(value)}: {exc}")
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
                recorded = _safe(_ACTIVITY, values.get(activity.id))
            if recorded is not None:
                initiative.updated = recorded
        if initiative.created is None and "created" not in initiative.unread:
            initiative.created = raw.created  # the record's own creation date when the mapping names none
        if self.extra:
            initiative.extra = {r.attribute: _safe(r.convert, values.get(r.field.id)) for r in self.extra}
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
                before = _safe(r.convert, _history_value(item, "from", r.field.type))
                after = _safe(r.convert, _history_value(item, "to", r.field.type))
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
        path = ("write_back", f"{role}_field")
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
            problems.append(
                Problem(path, f"field {fi.name!r} ({fi.id}) holds several values; a sync writes one value")
            )
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
    compiled = CompiledMapping(name, spec.system, attributes, extra, links, write_fields, spec, problems)
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
        kind = CANONICAL_ATTRIBUTES.get(attribute, "text") if canonical else _kind_of(spec, fi)
        try:
            convert = _converter(kind, spec, fi, path, problems)
        except ValueError as exc:
            problems.append(Problem(path, str(exc)))
            continue
        if fi.multiple and kind != "labels":
            convert = _taking(convert, spec.take, kind, canonical, (*path, "take"), problems)
        out.append(Resolved(attribute, fi, convert))
    return out


def _taking(
    convert: Converter, take: str, kind: str, canonical: bool, path: tuple[str | int, ...], problems: list[Problem]
) -> Converter:
    """How many of a multi-valued field's values an attribute takes: a list is never read as one value."""
    if take == "all":
        if kind == "text":

            def joined(value: Any) -> Any:
                items = value if isinstance(value, list) else [value]
                texts = [t for t in (convert(v) for v in items if v is not None) if t]
                return ", ".join(texts) if texts else None

            return joined
        if canonical:
            problems.append(
                Problem(
                    path,
                    f"take: all needs an attribute that holds several values; {path[-2]} holds one {kind}",
                    "use take: first, or one (more than one value is a TB116 finding)",
                )
            )

        def every(value: Any) -> Any:
            items = value if isinstance(value, list) else [value]
            found = [x for x in (convert(v) for v in items if v is not None) if x is not None]
            return found or None

        return every

    def single(value: Any) -> Any:
        if not isinstance(value, list):
            return convert(value)
        if not value:
            return convert(None)
        if take == "one" and len(value) > 1:
            shown = ", ".join(_text(v) or "?" for v in value[:4]) + (", ..." if len(value) > 4 else "")
            raise ValueError(f"holds {len(value)} values ({shown}); the mapping takes one (set take: first or all)")
        return convert(value[0])

    return single


def _kind_of(spec: AttributeSpec, fi: FieldInfo) -> str:
    if spec.transform:
        return "text" if spec.transform == "text" else spec.transform.replace("number", "integer")
    kinds = {f.USER: "person", f.DATE: "date", f.DATETIME: "datetime", f.BOOLEAN: "boolean", f.LABELS: "labels"}
    return kinds.get(fi.type, "comments" if fi.type == f.COMMENTS else "text")


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


def _zone(spec: AttributeSpec, path: tuple[str | int, ...], problems: list[Problem]) -> tzinfo:
    if not spec.timezone:
        return timezone.utc
    try:
        return ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(
                (*path, "timezone"), f"unknown time zone {spec.timezone!r}", "use an IANA name such as Europe/Berlin"
            )
        )
        return timezone.utc


def _converter(
    kind: str, spec: AttributeSpec, fi: FieldInfo, path: tuple[str | int, ...], problems: list[Problem]
) -> Converter:
    """One function from a normalised tracker value to the attribute's value."""
    if spec.values is not None:
        return _value_map(kind, spec, fi, path, problems)
    if spec.at_least is not None:
        return _bands(kind, spec, fi, path, problems)
    transform = spec.transform
    # A multi-valued field is checked by its items: take (see _taking) hands them over one at a time.
    item_type = f.OPTION if fi.multiple and fi.type == f.LABELS and kind != "labels" else fi.type
    if transform is None and item_type not in ACCEPTS.get(kind, {fi.type}):
        native = f" ({fi.native_type})" if fi.native_type else ""
        message = f"field {fi.name!r} is {fi.type}{native}; {path[-1]} needs {kind}"
        problems.append(Problem((*path, "field"), message, "pick another field, or set transform"))
    zone = _zone(spec, path, problems)
    if kind == "person":
        return _person
    if kind == "date":
        return _date_converter(zone, spec.format)
    if kind == "datetime":
        return _datetime_converter(zone, spec.format)
    if kind == "integer":
        return _integer
    if kind == "boolean":
        return _boolean
    if kind == "labels":
        return _labels
    if kind == "comments":
        return lambda v: tuple(v) or None if isinstance(v, (list, tuple)) else None
    if kind == "stage":
        if fi.type == f.OPTION and fi.options and not {o.casefold() for o in fi.options} <= set(Stage):
            problems.append(
                Problem(
                    path,
                    f"stage needs a value map: {fi.name!r} holds {', '.join(fi.options[:4])}",
                    "add values: {<tracker value>: decide|build|launch|done|cancelled}",
                )
            )
        return lambda v: None if v is None else Stage(str(v).casefold())
    if kind == "size":
        return lambda v: None if v is None else Size(str(v).casefold())
    return _text


def _value_map(
    kind: str, spec: AttributeSpec, fi: FieldInfo, path: tuple[str | int, ...], problems: list[Problem]
) -> Converter:
    table = spec.values or {}
    if fi.options:
        options = {o.casefold() for o in fi.options}
        for key in table:
            if key.casefold() not in options:
                problems.append(
                    Problem(
                        (*path, "values", key),
                        f"{key!r} is not a value of {fi.name!r}",
                        f"its values are {', '.join(fi.options)}",
                    )
                )
    wrap: Converter = {"stage": Stage, "size": Size}.get(kind, lambda x: x)  # type: ignore[assignment]
    folded = {str(k).casefold(): (None if v is None else wrap(v)) for k, v in table.items()}
    default = None if spec.default is None else wrap(spec.default)

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        found = folded.get(str(value).casefold(), _MISSING)
        if found is _MISSING:
            if default is None:
                raise ValueError("not in the mapping's value map, and no default")
            return default
        return found

    return convert


_MISSING = object()


def _history_value(item: dict[str, Any], side: str, field_type: str) -> Any:
    """Jira puts ids in from/to and display text in fromString/toString: dates and numbers read
    best from the raw side, everything else (statuses, options, users) from the text."""
    first, second = (side, f"{side}String") if field_type in (f.DATE, f.DATETIME, f.NUMBER) else (f"{side}String", side)
    value = item.get(first)
    return value if value not in (None, "") else item.get(second)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _safe(convert: Converter, value: Any) -> Any:
    try:
        return convert(value)
    except (ValueError, TypeError):
        return None


def _bands(
    kind: str, spec: AttributeSpec, fi: FieldInfo, path: tuple[str | int, ...], problems: list[Problem]
) -> Converter:
    if fi.type not in (f.NUMBER, f.TEXT):
        problems.append(Problem((*path, "at_least"), f"at_least needs a number field; {fi.name!r} is {fi.type}"))
    wrap: Converter = {"stage": Stage, "size": Size}.get(kind, lambda x: x)  # type: ignore[assignment]
    bands = sorted(((float(k), wrap(v)) for k, v in (spec.at_least or {}).items()), reverse=True)
    default = None if spec.default is None else wrap(spec.default)

    def convert(value: Any) -> Any:
        if value is None or value == "":
            return None
        number = float(value)
        return next((v for threshold, v in bands if number >= threshold), default)

    return convert


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Person):
        return value.label
    return str(value)


def _person(value: Any) -> Person | None:
    if value is None or isinstance(value, Person):
        return value
    text = str(value).strip()
    if not text:
        return None
    return Person(email=text) if "@" in text else Person(name=text)


def _integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(float(value))


def _boolean(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    return str(value).strip().casefold() in ("true", "yes", "y", "1")


_LABEL_SEPARATORS = re.compile(r"[\s,;]+")


def _labels(value: Any) -> frozenset[str]:
    """A set of labels: a list as the tracker's schema gives it, or text of several values (a
    Salesforce multipicklist's `a;b`, a list shown as `a, b`, words) split into them. Jira labels
    hold no spaces, so no separator is ever part of one."""
    if value is None:
        return _NO_LABELS
    if isinstance(value, str):
        value = _LABEL_SEPARATORS.split(value)
    labels = tuple(t for t in (str(v).strip() for v in value) if t)
    return _label_set(labels) if labels else _NO_LABELS


_NO_LABELS: frozenset[str] = frozenset()


@lru_cache(maxsize=4096)
def _label_set(labels: tuple[str, ...]) -> frozenset[str]:
    """Records share their label sets: most carry none, the rest one of a few common combinations,
    and a frozenset costs over 200 bytes whatever it holds."""
    return frozenset(labels)


def _date_converter(zone: tzinfo, fmt: str | None) -> Converter:
    def convert(value: Any) -> date | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=zone)
            return moment.astimezone(zone).date()
        if isinstance(value, date):
            return value
        text = str(value).strip()
        return datetime.strptime(text, fmt).date() if fmt else date.fromisoformat(text[:10])

    return convert


def _datetime_converter(zone: tzinfo, fmt: str | None) -> Converter:
    def convert(value: Any) -> datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=zone)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=zone)
        moment = datetime.strptime(str(value), fmt) if fmt else datetime.fromisoformat(str(value))
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)

    return convert


_ACTIVITY = _datetime_converter(timezone.utc, None)
