"""Opening a project's connectors: connect, read the live catalog, compile the mapping, and read
initiatives. The one place that joins config, connectors and mappings."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from trackerbridge.config.errors import ConfigError, ConfigErrors
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import Connector, ServerInfo
from trackerbridge.mapping import CompiledMapping, IncomingSync, MappingError, compile_mapping
from trackerbridge.model import Initiative
from trackerbridge.plugins import connector_types
from trackerbridge.rules.base import SyncBinding


@dataclass
class Source:
    """An open connector with its compiled mapping."""

    name: str
    connector: Connector
    server: ServerInfo
    mapping: CompiledMapping

    def __post_init__(self) -> None:
        self.high_water: datetime | None = None  # newest tracker modification stamp read so far

    def read(self, since: datetime | None = None) -> Iterator[Initiative]:
        """Initiatives in scope (changed at or after `since`), advancing `high_water` as they come."""
        mapping = self.mapping
        for raw in self.connector.pull(mapping.fields, since=since, history=mapping.needs_history):
            if raw.updated is not None and (self.high_water is None or raw.updated > self.high_water):
                self.high_water = raw.updated
            yield mapping.to_initiative(raw, self.name)


def incoming_syncs(project: Project, mapping_name: str) -> list[IncomingSync]:
    """The sync specs of other mappings that write into `mapping_name`."""
    return [
        IncomingSync(source, n, spec)
        for source, m in sorted(project.mappings.items())
        for n, spec in enumerate(m.sync)
        if spec.to == mapping_name
    ]


def connect(project: Project, name: str, env: Mapping[str, str] = os.environ) -> Connector:
    """A connector for `name`, not yet talking to its tracker."""
    connection = project.connection(name, env)
    types = connector_types()
    cls = types.get(connection.type)
    if cls is None:
        where = project.where("connector", name, ("type",))
        raise where.error(f"no connector type {connection.type!r} is installed", f"installed: {', '.join(types)}")
    return cls(connection)


def open_source(project: Project, name: str, env: Mapping[str, str] = os.environ) -> Source:
    """Connect, read the catalog and compile the mapping; mapping problems point at their lines."""
    connector = connect(project, name, env)
    server = connector.server()
    catalog = connector.catalog()
    file = project.connectors[name]
    try:
        compiled = compile_mapping(
            file.mapping, project.mappings[file.mapping], catalog, file.owns, incoming_syncs(project, file.mapping)
        )
    except MappingError as exc:
        raise ConfigErrors(_located(project, file.mapping, exc)) from None
    return Source(name, connector, server, compiled)


def _located(project: Project, mapping: str, exc: MappingError) -> list[ConfigError]:
    errors = []
    for p in exc.problems:
        if p.path and p.path[0] == "@sync":  # a problem of another mapping's sync spec
            _, source, index, key = p.path
            errors.append(project.where("mapping", str(source), ("sync", index, key)).error(p.message, p.hint))
        else:
            errors.append(project.where("mapping", mapping, p.path).error(p.message, p.hint))
    return errors


def sync_bindings(project: Project, sources: Sequence[Source]) -> list[SyncBinding]:
    """Sync specs whose both sides are open, with the target field resolved to its id."""
    by_mapping = {s.mapping.name: s for s in sources}
    bindings = []
    for source in sources:
        for spec in project.mappings[source.mapping.name].sync:
            target = by_mapping.get(spec.to)
            if target is None:
                continue
            fi = target.mapping.write_fields.get(f"sync:{source.mapping.name}:{spec.attribute}")
            if fi is None:
                continue
            bindings.append(
                SyncBinding(source.mapping.name, spec.to, spec.attribute, fi.id, fi.name, spec.values,
                            spec.quality_owner)
            )
    return bindings
