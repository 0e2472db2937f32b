"""Read a YAML file into plain data plus the line of every key, so errors can point at lines.

`yaml.safe_load` forgets where things were and silently keeps the last of two equal keys (a
classic source of "my setting is ignored"), so we compose the node tree ourselves (C parser when
built, pure Python otherwise), build the data from it, and record each key's position.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from trackerbridge.config.errors import ConfigError, ConfigErrors, KeyPath, LineIndex, format_key, show

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
MAX_ALIAS_NODES = 5000
"""How many nodes aliases may expand to in one file: generous for `<<: *defaults`, and a bound on
"billion laughs" (a 2 KB file of nested aliases that would expand to billions of nodes)."""


class _TooManyAliases(Exception):
    """Raised inside the builder to stop at once; turned into a ConfigError naming file and line."""

    def __init__(self, line: int, key: str) -> None:
        self.line = line
        self.key = key


def load_yaml(file: Path, *, root: Path | None = None) -> tuple[dict[Any, Any], LineIndex]:
    """The top-level mapping of `file` and its line index; ConfigError(s) for anything else.

    Line and column numbers are 1-based, as editors show them."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte {exc.start} cannot be decoded)", file=file, root=root, hint="save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", file=file, root=root) from None
    return parse_yaml(text, file, root=root)


def parse_yaml(text: str, file: Path, *, root: Path | None = None) -> tuple[dict[Any, Any], LineIndex]:
    """As load_yaml, for text already read (`file` only names it in errors)."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file, root) from None
    except yaml.YAMLError as exc:  # unmarked: rare (reader errors on control characters)
        raise ConfigError(f"invalid YAML: {exc}", file=file, root=root) from None
    if node is None:
        raise ConfigError("the file is empty; expected a mapping of keys and values", file=file, line=1, root=root)
    builder = _Builder(file, root)
    try:
        data = builder.build(node, ())
    except _TooManyAliases as exc:
        raise ConfigError(
            f"aliases expand to more than {MAX_ALIAS_NODES} values; refused (a YAML alias bomb?)",
            file=file,
            line=exc.line,
            key=exc.key or None,
            root=root,
            hint="write the values out, or use fewer nested aliases (*name)",
        ) from None
    if builder.errors:
        raise ConfigErrors(builder.errors)
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping of keys and values at the top of the file, got {show(data)}",
            file=file,
            line=node.start_mark.line + 1,
            root=root,
            hint="a trackerbridge file is a set of `key: value` lines, starting at the left margin",
        )
    return data, builder.lines


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: Path, root: Path | None) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    problem = exc.problem or exc.context or "cannot parse"
    if problem == "but found another document":
        problem = "a second document starts here (---); a trackerbridge file holds exactly one"
    hints = []
    if mark is not None:
        source_line = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
        if "\t" in source_line[: mark.column + 1]:
            hints.append("indent with spaces: YAML does not allow tabs")
    start = exc.context_mark
    if (
        exc.context
        and start is not None
        and exc.problem
        and (mark is None or (start.line, start.column) != (mark.line, mark.column))
        and exc.context != "expected a single document in the stream"
    ):
        hints.append(f"{exc.context} at line {start.line + 1}, column {start.column + 1}")
    if not hints and "mapping values are not allowed" in problem:
        hints.append("a value containing ': ' must be quoted")
    return ConfigError(
        f"invalid YAML: {problem}", file=file, line=line, column=column, root=root, hint="; ".join(hints) or None
    )


class _Builder:
    """Turns composed nodes into dicts, lists and scalars, recording positions and duplicates."""

    def __init__(self, file: Path, root: Path | None) -> None:
        self.file = file
        self.root = root
        self.lines: LineIndex = {}
        self.errors: list[ConfigError] = []
        self.constructor = SafeConstructor()
        self.active: set[int] = set()  # nodes being built: an alias to one of them is a cycle
        self.built: set[int] = set()  # nodes built once: building one again is an alias being expanded
        self.expanded = 0  # nodes built through aliases so far (bounded by MAX_ALIAS_NODES)
        self.expansion: KeyPath | None = None  # where the alias being expanded now stands

    def error(self, node: Node, message: str, path: KeyPath, hint: str | None = None) -> None:
        self.errors.append(
            ConfigError(
                message,
                file=self.file,
                line=node.start_mark.line + 1,
                key=format_key(path),
                hint=hint,
                root=self.root,
            )
        )

    def mark(self, path: KeyPath, node: Node) -> None:
        self.lines.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))

    def build(self, node: Node, path: KeyPath) -> Any:
        self.mark(path, node)
        if id(node) in self.active:
            self.error(node, "an alias refers to a node that contains it", path)
            return None
        outermost = False
        if id(node) in self.built:
            self.expanded += 1
            if self.expansion is None:
                self.expansion, outermost = path, True
            if self.expanded > MAX_ALIAS_NODES:
                raise _TooManyAliases(self._alias_line(self.expansion), format_key(self.expansion))
        self.built.add(id(node))
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    self.error(node, f"the tag {node.tag} is not supported here", path)
                return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
            return self.scalar(node, path)
        finally:
            self.active.discard(id(node))
            if outermost:
                self.expansion = None

    def _alias_line(self, path: KeyPath) -> int:
        """The line of the key whose value is the alias: composing forgets where an alias stood (it
        becomes the anchored node itself), but keys are marked where they are written."""
        for n in range(len(path), 0, -1):
            if isinstance(path[n - 1], str) and path[:n] in self.lines:
                return self.lines[path[:n]][0]
        return 1

    def scalar(self, node: Node, path: KeyPath) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.error(node, f"invalid value: {problem}", path)
            return None

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[Any, Any]:
        if node.tag != _MAP:
            self.error(node, f"the tag {node.tag} is not supported here", path)
        out: dict[Any, Any] = {}
        seen: dict[Hashable, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)  # after the explicit keys, so their positions win
                continue
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "a key must be a plain value, not a list or mapping", path)
                continue
            key = self.scalar(key_node, path)
            try:
                first = seen.get(key)
            except TypeError:
                self.error(key_node, f"{show(key)} cannot be used as a key", path)
                continue
            here = key_node.start_mark.line + 1
            if first is not None:
                self.error(
                    key_node,
                    f"duplicate key {show(key)} (first at line {first})",
                    (*path, key),
                    hint="YAML would silently keep only the last one; remove or merge them",
                )
                self.build(value_node, (*path, key))  # for the errors inside it; its value is dropped
                continue
            seen[key] = here
            self.mark((*path, key), key_node)
            out[key] = self.build(value_node, (*path, key))
        for value_node in merges:  # `<<: *base` fills in what the mapping does not say itself
            self.merge(value_node, path, out)
        return out

    def merge(self, value_node: Node, path: KeyPath, out: dict[Any, Any]) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.error(source, "<< merges only mappings (an alias such as *defaults)", path)
                continue
            # Positions of merged keys point at the anchored mapping they come from.
            value = self.build(source, path)
            if isinstance(value, dict):
                for key, item in value.items():
                    out.setdefault(key, item)
