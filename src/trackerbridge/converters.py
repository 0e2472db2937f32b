"""How a tracker field's values become an attribute's: the converter `compile_mapping` picks for each
attribute (by kind, transform, value map, time zone, and how many of a multi-valued field's values it
takes), and the `Problem`s it finds choosing one. Pure: plain values in, plain values out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trackerbridge import records as f
from trackerbridge.config.models import AttributeSpec
from trackerbridge.model import Person, Size, Stage
from trackerbridge.records import FieldInfo

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


def taking(
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
            listed = ", ".join(_text(v) or "?" for v in value[:4]) + (", ..." if len(value) > 4 else "")
            raise ValueError(f"holds {len(value)} values ({listed}); the mapping takes one (set take: first or all)")
        return convert(value[0])

    return single


def kind_of(spec: AttributeSpec, fi: FieldInfo) -> str:
    if spec.transform:
        return "text" if spec.transform == "text" else spec.transform.replace("number", "integer")
    kinds = {f.USER: "person", f.DATE: "date", f.DATETIME: "datetime", f.BOOLEAN: "boolean", f.LABELS: "labels"}
    return kinds.get(fi.type, "comments" if fi.type == f.COMMENTS else "text")


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


def converter_for(
    kind: str, spec: AttributeSpec, fi: FieldInfo, path: tuple[str | int, ...], problems: list[Problem]
) -> Converter:
    """One function from a normalised tracker value to the attribute's value."""
    if spec.values is not None:
        return _value_map(kind, spec, fi, path, problems)
    if spec.at_least is not None:
        return _bands(kind, spec, fi, path, problems)
    transform = spec.transform
    # A multi-valued field is checked by its items: take (see taking) hands them over one at a time.
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
    wrap: Converter = {"stage": Stage, "size": Size}.get(kind, lambda x: x)
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


def history_value(item: dict[str, Any], side: str, field_type: str) -> Any:
    """Jira puts ids in from/to and display text in fromString/toString: dates and numbers read
    best from the raw side, everything else (statuses, options, users) from the text."""
    first, second = (side, f"{side}String") if field_type in (f.DATE, f.DATETIME, f.NUMBER) else (f"{side}String", side)
    value = item.get(first)
    return value if value not in (None, "") else item.get(second)


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def safe_convert(convert: Converter, value: Any) -> Any:
    try:
        return convert(value)
    except (ValueError, TypeError):
        return None


def _bands(
    kind: str, spec: AttributeSpec, fi: FieldInfo, path: tuple[str | int, ...], problems: list[Problem]
) -> Converter:
    if fi.type not in (f.NUMBER, f.TEXT):
        problems.append(Problem((*path, "at_least"), f"at_least needs a number field; {fi.name!r} is {fi.type}"))
    wrap: Converter = {"stage": Stage, "size": Size}.get(kind, lambda x: x)
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


ACTIVITY = _datetime_converter(timezone.utc, None)
