"""Errors in the user's files, said the way a person can act on: file, line, key, what would be valid.

A `ConfigError` never carries a traceback to the user: the CLI prints `str(error)` and exits with
`exit_code`. Several problems found in one pass travel together as `ConfigErrors`, so a user fixes
a whole file (or project) in one edit instead of one error per run.

The second half turns pydantic's `ValidationError` into ConfigErrors: pydantic's locations follow
the model (with discriminated-union tags in them) while people think in YAML keys and lines.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from trackerbridge.config.models import AttributeSpec, MappingFile
from trackerbridge.model import CANONICAL_ATTRIBUTES, Size, Stage
from trackerbridge.redact import looks_secret

KeyPath = tuple[Hashable, ...]
"""Keys and list indexes from the top of a YAML document down to one node."""

LineIndex = dict[KeyPath, tuple[int, int]]
"""KeyPath -> (line, column), both 1-based, of the key (or list item) that starts that node."""


class ConfigError(Exception):
    """One problem in one file; `str()` is what the user sees."""

    exit_code = 2  # a scheduler can tell "fix your config" from a failed run (1)

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
        column: int | None = None,
        root: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = Path(file) if file is not None else None
        self.line = line
        self.key = key or None
        self.hint = hint
        self.column = column
        self.root = root

    @property
    def errors(self) -> list[ConfigError]:
        """All the problems this exception stands for, so callers can collect uniformly."""
        return [self]

    @property
    def display_file(self) -> str | None:
        """The file relative to the project root when it lies inside it: shorter, and what users type."""
        if self.file is None:
            return None
        if self.root is not None:
            try:
                return str(self.file.relative_to(self.root))
            except ValueError:
                pass
        return str(self.file)

    def headline(self) -> str:
        place = ""
        if self.file is not None:
            place = self.display_file or ""
            if self.line is not None:
                place += f":{self.line}"
                if self.column is not None:
                    place += f":{self.column}"
            place += ": "
        key = f"{self.key}: " if self.key else ""
        return f"{place}{key}{self.message}"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.display_file or "", self.line or 0, self.column or 0, self.key or "", self.message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.headline()}\n  hint: {self.hint}"
        return self.headline()

    def __repr__(self) -> str:
        return f"ConfigError({self.headline()!r})"


class ConfigErrors(ConfigError):
    """Several problems, reported together in file and line order.

    A subclass of ConfigError so that `except ConfigError` catches both; `errors` lists them."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        flat: dict[tuple[Any, ...], ConfigError] = {}
        for error in errors:
            for one in error.errors:
                flat.setdefault((*one.sort_key(), one.hint), one)
        if not flat:
            raise ValueError("ConfigErrors needs at least one error")
        self._errors = sorted(flat.values(), key=ConfigError.sort_key)
        first = self._errors[0]
        super().__init__(
            first.message, file=first.file, line=first.line, key=first.key, hint=first.hint, root=first.root
        )
        self.column = first.column

    @property
    def errors(self) -> list[ConfigError]:
        return list(self._errors)

    def __iter__(self) -> Iterator[ConfigError]:
        return iter(self._errors)

    def __len__(self) -> int:
        return len(self._errors)

    def __str__(self) -> str:
        # A hint shared by consecutive errors (five unset variables, say) is said once, after the last.
        lines = []
        for error, after in zip(self._errors, [*self._errors[1:], None], strict=True):
            if error.hint and (after is None or after.hint != error.hint):
                lines.append(str(error))
            else:
                lines.append(error.headline())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ConfigErrors({len(self._errors)} errors, first: {self._errors[0].headline()!r})"


def did_you_mean(word: object, choices: Iterable[object]) -> str | None:
    """A 'did you mean' hint for a near miss, or None; matching ignores case."""
    options = [str(choice) for choice in choices]
    by_folded = {option.casefold(): option for option in options}
    matches = difflib.get_close_matches(str(word).casefold(), list(by_folded), n=1, cutoff=0.6)
    return f"did you mean {by_folded[matches[0]]!r}?" if matches else None


def suggest(word: object, choices: Iterable[object], what: str = "valid values") -> str | None:
    """did_you_mean, else the full list of choices (so a hint always says what would be valid)."""
    options = [str(choice) for choice in choices]
    return did_you_mean(word, options) or (f"{what}: {', '.join(options)}" if options else None)


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_key(path: Sequence[Hashable]) -> str:
    """('attributes', 'stage', 'values', 'In Progress') -> attributes.stage.values["In Progress"]."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _SIMPLE_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{_show_key(part)}]"
    return out


def _show_key(part: Hashable) -> str:
    if isinstance(part, str):
        return '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return show(part)


def show(value: Any) -> str:
    """A value as a YAML user would recognise it, short."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return f"the date {value.isoformat()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return repr(value)


def nearest(lines: LineIndex, path: Sequence[Hashable]) -> tuple[KeyPath, tuple[int, int] | None]:
    """The position of `path`, or of its closest ancestor in the file (a missing key has none)."""
    probe = tuple(path)
    while True:
        if probe in lines:
            return probe, lines[probe]
        if not probe:
            return probe, None
        probe = probe[:-1]


# --- pydantic ValidationError -> ConfigErrors -----------------------------------------------------


class _Where:
    """What walking a pydantic `loc` through the model types learned about the error's position."""

    def __init__(self) -> None:
        self.path: list[Hashable] = []
        self.parent_model: type[BaseModel] | None = None  # the model whose field (or extra key) is last
        self.leaf: Any = Any  # the type expected at the position
        self.discriminator: str | None = None  # set when the position is a tagged union


def _unwrap(tp: Any, discriminator: str | None = None) -> tuple[Any, str | None]:
    """Strip Annotated and Optional, keeping a discriminator wherever it was declared."""
    while True:
        if get_origin(tp) is Annotated:
            base, *meta = get_args(tp)
            for item in meta:
                if isinstance(item, FieldInfo) and isinstance(item.discriminator, str):
                    discriminator = item.discriminator
            tp = base
            continue
        if _is_union(tp):
            members = [member for member in get_args(tp) if member is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp, discriminator


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _tags(union: Any, discriminator: str) -> dict[str, type[BaseModel]]:
    """Tag value -> member model of a discriminated union."""
    out: dict[str, type[BaseModel]] = {}
    for member in get_args(union):
        member, _ = _unwrap(member)
        if _is_model(member) and discriminator in member.model_fields:
            for tag in _choices(member.model_fields[discriminator].annotation) or []:
                out[str(tag)] = member
    return out


def _choices(tp: Any) -> list[Any] | None:
    """The allowed values of a Literal or Enum type (None for other types)."""
    tp, _ = _unwrap(tp)
    if get_origin(tp) is Literal:
        return list(get_args(tp))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return [member.value for member in tp]
    return None


def _walk(root_type: Any, loc: Sequence[Any], data: Any) -> _Where:
    """Follow pydantic's loc through the types (dropping union tags) and the data (recovering keys)."""
    where = _Where()
    tp, disc = _unwrap(root_type)
    node = data
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        if disc and _is_union(tp):
            member = _tags(tp, disc).get(str(part))
            if member is None:
                break
            tp, disc = member, None
            i += 1
            continue
        if part == "[key]":  # the error is about the key itself; its type was chosen one step earlier
            i += 1
            continue
        key = _actual_key(node, part)
        where.path.append(key)
        node = node.get(key) if isinstance(node, Mapping) else _index(node, key)
        if _is_model(tp):
            where.parent_model = tp
            field = tp.model_fields.get(str(part))
            if field is None:
                tp, disc = Any, None
            else:
                tp, disc = _unwrap(
                    field.annotation, field.discriminator if isinstance(field.discriminator, str) else None
                )
        elif get_origin(tp) in (dict, Mapping) and get_args(tp):
            key_type, value_type = get_args(tp)
            where.parent_model = None
            if i + 1 < len(parts) and parts[i + 1] == "[key]":
                tp, disc = _unwrap(key_type)
            else:
                tp, disc = _unwrap(value_type)
        elif get_origin(tp) in (list, Sequence, tuple) and get_args(tp):
            where.parent_model = None
            tp, disc = _unwrap(get_args(tp)[0])
        else:
            where.parent_model = None
            tp, disc = Any, None
        i += 1
    where.leaf = tp
    where.discriminator = disc if _is_union(tp) else None
    return where


def _actual_key(node: Any, part: Any) -> Hashable:
    """pydantic reports the key True as 1; the user wrote `yes`, so find the key they wrote."""
    if isinstance(node, Mapping):
        for key in node:
            if key == part and type(key) is type(part):
                return key
        for key in node:
            if key == part or str(key) == str(part):
                return key
    return part


def _index(node: Any, part: Any) -> Any:
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


_EXPECTED = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "datetime_type": "a date and time",
    "datetime_parsing": "a date and time",
    "none_required": "an empty value",
}

_BOUNDS = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}
_BOUND_WORDS = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}


def _is_env_field(where: _Where) -> bool:
    last = where.path[-1] if where.path else None
    return isinstance(last, str) and last.endswith("_env")


class ErrorContext:
    """Where the data came from, so every translated error can name its file and lines."""

    def __init__(self, file: Path, data: Any, lines: LineIndex, root: Path | None = None) -> None:
        self.file = file
        self.data = data
        self.lines = lines
        self.root = root

    def at(self, path: Sequence[Hashable], message: str, hint: str | None = None) -> ConfigError:
        """An error on the key at `path` (or on the nearest ancestor the file has)."""
        _, position = nearest(self.lines, path)
        return ConfigError(
            message,
            file=self.file,
            line=position[0] if position else None,
            key=format_key(path),
            hint=hint,
            root=self.root,
        )

    def value(self, path: Sequence[Hashable]) -> Any:
        node = self.data
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else _index(node, part)
        return node


def translate(exc: ValidationError, root_type: Any, ctx: ErrorContext) -> list[ConfigError]:
    """pydantic's errors for one file, worded for people and placed on YAML lines."""
    out: list[ConfigError] = []
    for error in exc.errors(include_url=False):
        out.extend(_translate_one(error, root_type, ctx))
    if root_type is MappingFile:
        out.extend(mapping_checks(ctx))
    unique: dict[tuple[Any, ...], ConfigError] = {}
    for found in out:
        unique.setdefault((*found.sort_key(), found.hint), found)
    return sorted(unique.values(), key=ConfigError.sort_key)


def _translate_one(error: Mapping[str, Any], root_type: Any, ctx: ErrorContext) -> list[ConfigError]:
    kind: str = error["type"]
    where = _walk(root_type, error["loc"], ctx.data)
    path = tuple(where.path)
    value = error.get("input")
    details: Mapping[str, Any] = error.get("ctx") or {}

    if kind == "missing":
        name = path[-1] if path else "?"
        return [ctx.at(path, f"missing required key {name!r}", _field_hint(where.parent_model, name))]

    if kind == "extra_forbidden":
        name = path[-1] if path else "?"
        fields = list(where.parent_model.model_fields) if where.parent_model else []
        return [ctx.at(path, f"unknown key {show(name)}", suggest(name, fields, "valid keys"))]

    if kind in ("union_tag_invalid", "union_tag_not_found") and where.discriminator:
        tags = list(_tags(where.leaf, where.discriminator))
        tag_path = (*path, where.discriminator)
        if kind == "union_tag_not_found":
            return [
                ctx.at(tag_path, f"missing required key {where.discriminator!r}; expected one of {', '.join(tags)}")
            ]
        tag = details.get("tag", ctx.value(tag_path))
        message = f"{show(tag)} is not valid; expected one of {', '.join(tags)}"
        return [ctx.at(tag_path, message, did_you_mean(tag, tags))]

    if kind in ("literal_error", "enum"):
        choices = _choices(where.leaf) or _parse_expected(str(details.get("expected", "")))
        shown = [str(choice) for choice in choices]
        message = f"{show(value)} is not valid; expected one of {', '.join(shown)}"
        return [ctx.at(path, message, did_you_mean(value, shown) if isinstance(value, str) else None)]

    if kind in ("value_error", "assertion_error"):
        return _model_message(error, where, ctx)

    if kind == "string_pattern_mismatch":
        if _is_env_field(where):
            # Never echo it: people paste the secret itself where its variable's name belongs.
            if isinstance(value, str) and looks_secret(value):
                return [
                    ctx.at(
                        path,
                        "this looks like a secret, not a variable name",
                        "put the secret in an environment variable and give that variable's name here; "
                        "then replace the secret, since it has been in a file",
                    )
                ]
            return [
                ctx.at(
                    path,
                    "expected the name of an environment variable (letters, digits and _, not starting with a digit)",
                    "give the variable's name, e.g. TB_JIRA_TOKEN, not its value and without $",
                )
            ]
        return [ctx.at(path, f"{show(value)} does not match the pattern {details.get('pattern')}")]

    if kind in _BOUNDS:
        bound = _BOUNDS[kind]
        limit = details.get(bound)
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return [ctx.at(path, f"expected a number {_BOUND_WORDS[bound]} {limit}, got {show(value)}")]

    if kind in ("model_type", "model_attributes_type") and where.leaf is AttributeSpec:
        message = f"expected a field name or a mapping with field:, got {show(value)}"
        return [ctx.at(path, message, "e.g. owner: Assignee, or owner: {field: Assignee}")]

    if kind in _EXPECTED:
        return [ctx.at(path, f"expected {_EXPECTED[kind]}, got {show(value)}", _type_hint(kind, value, where))]

    message = str(error.get("msg", "invalid value"))
    return [ctx.at(path, message[:1].lower() + message[1:])]


def _field_hint(model: type[BaseModel] | None, name: Hashable) -> str | None:
    if model is None or not isinstance(name, str) or name not in model.model_fields:
        return None
    description = model.model_fields[name].description
    return f"{name}: {description}" if description else None


def _type_hint(kind: str, value: Any, where: _Where) -> str | None:
    """YAML turns unquoted yes/no/on/off/numbers/dates into non-text; say so where text was expected."""
    if kind == "string_type" and (isinstance(value, (bool, int, float, dt.date)) or value is None):
        return "quote it ('...') if you meant text: YAML reads bare yes/no/true/false, numbers and dates as such"
    if kind in ("model_type", "model_attributes_type"):
        if where.discriminator:
            tags = ", ".join(_tags(where.leaf, where.discriminator))
            return f"start it with {where.discriminator}: (one of {tags}) on its own indented line"
        if _is_model(where.leaf):
            return f"valid keys: {', '.join(where.leaf.model_fields)}"
    return None


def _parse_expected(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


_UNKNOWN_ATTRIBUTE = re.compile(r"^unknown attribute '(?P<name>[^']*)'")
_MAPS_TO = re.compile(r"^(?P<attribute>\w+) maps to ")
_ONE_OF = re.compile(r"^give (?:exactly one of |at most one of )?(?P<a>\w+) or (?P<b>\w+)")


def _model_message(error: Mapping[str, Any], where: _Where, ctx: ErrorContext) -> list[ConfigError]:
    """The models' own ValueErrors: keep their words, point at the offending key, suggest."""
    cause = (error.get("ctx") or {}).get("error")
    message = str(cause) if cause is not None else str(error.get("msg", "")).removeprefix("Value error, ")
    path = tuple(where.path)
    here = ctx.value(path)

    if _UNKNOWN_ATTRIBUTE.match(message) and isinstance(here, Mapping):
        found = _unknown_attributes(ctx, path, here)
        if found:
            return found

    if _MAPS_TO.match(message) and isinstance(here, Mapping):
        found = _unmapped_values(ctx, path, here)
        if found:
            return found

    one_of = _ONE_OF.match(message)
    if one_of and isinstance(here, Mapping):
        present = [name for name in (one_of["a"], one_of["b"]) if here.get(name) is not None]
        if present:
            return [ctx.at((*path, present[-1]), message)]
        return [ctx.at(path, message)]

    return [ctx.at(path, message)]


def _unknown_attributes(ctx: ErrorContext, path: KeyPath, attributes: Mapping[Any, Any]) -> list[ConfigError]:
    """Every non-canonical attribute (the model names only the first; people want all at once)."""
    canonical = list(CANONICAL_ATTRIBUTES)
    out = []
    for name in attributes:
        if name not in CANONICAL_ATTRIBUTES:
            hint = did_you_mean(name, canonical) or (
                f"canonical attributes: {', '.join(canonical)}; put others under extra:"
            )
            out.append(ctx.at((*path, name), f"unknown attribute {show(name)}", hint))
    return out


def _unmapped_values(ctx: ErrorContext, path: KeyPath, attributes: Mapping[Any, Any]) -> list[ConfigError]:
    """Value-map entries of stage and size that name no stage or size, each on its own line."""
    out = []
    for attribute, kind in (("stage", Stage), ("size", Size)):
        spec = attributes.get(attribute)
        if not isinstance(spec, Mapping):
            continue
        allowed = sorted(member.value for member in kind)
        places: list[tuple[KeyPath, Any]] = []
        for table in ("values", "at_least"):
            entries = spec.get(table)
            if isinstance(entries, Mapping):
                places += [((*path, attribute, table, source), mapped) for source, mapped in entries.items()]
        places.append(((*path, attribute, "default"), spec.get("default")))
        for place, mapped in places:
            if mapped is not None and mapped not in allowed:
                text = f"{attribute} maps to {show(mapped)}; expected one of {', '.join(allowed)}"
                out.append(ctx.at(place, text, did_you_mean(mapped, allowed)))
    return out


def mapping_checks(ctx: ErrorContext) -> list[ConfigError]:
    """The mapping model's own attribute checks, run on the raw data.

    pydantic runs them only once every attribute spec is valid; running them anyway lets one pass
    report a file's unknown attributes and bad stage values together with its other errors."""
    attributes = ctx.value(("attributes",))
    if not isinstance(attributes, Mapping):
        return []
    return _unknown_attributes(ctx, ("attributes",), attributes) + _unmapped_values(ctx, ("attributes",), attributes)
