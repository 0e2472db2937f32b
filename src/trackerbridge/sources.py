"""Opening a project's connectors: connect, read the live catalog, compile the mapping, and read
initiatives. The one place that joins config, connectors and mappings."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from trackerbridge.config.errors import ConfigError, ConfigErrors
from trackerbridge.config.models import Owns
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import Connector, ServerInfo
from trackerbridge.cursor import Cursor
from trackerbridge.mapping import CompiledMapping, IncomingSync, MappingError, compile_mapping
from trackerbridge.model import Initiative
from trackerbridge.plugins import connector_types
from trackerbridge.rules.base import SyncBinding
from trackerbridge.state.store import StateStore

DISCOVERY_FORMAT = 1  # bump when a connector's discovery() changes shape


@dataclass(frozen=True)
class Source:
    """An open connector with its compiled mapping."""

    name: str
    connector: Connector
    server: ServerInfo
    mapping: CompiledMapping
    owns: Owns | None = None  # the connector file's `owns`: what trackerbridge may write there

    def read(self, since: datetime | None = None, clock: Callable[[], datetime] | None = None) -> Iterator[Initiative]:
        """Initiatives in scope, lazily; with `since`, those changed at or after it (the start of the
        read as the connector takes it: `Cursor.start`, the overlap already applied)."""
        mapping = self.mapping
        for raw in self.connector.pull(mapping.fields, since=since, history=mapping.needs_history, clock=clock):
            yield mapping.to_initiative(raw, self.name)

    def read_window(
        self, cursor: Cursor, clock: Callable[[], datetime] | None = None
    ) -> tuple[list[Initiative], Cursor]:
        """The initiatives in the cursor's window (from `cursor.start`), and the cursor advanced past
        the newest modification stamp among them: the next run's watermark, if this one finishes."""
        mapping = self.mapping
        stamps: list[datetime | None] = []
        records: list[Initiative] = []
        for raw in self.connector.pull(mapping.fields, since=cursor.start, history=mapping.needs_history, clock=clock):
            stamps.append(raw.updated)
            records.append(mapping.to_initiative(raw, self.name))
        return records, cursor.seen(stamps)


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


@dataclass(frozen=True)
class DiscoveryCache:
    """Connectors' discovery (server facts, field catalog) kept in the state store between runs, so
    a run that finds nothing new costs one search instead of three or four calls."""

    store: StateStore
    now: datetime
    max_age: timedelta
    refresh: bool = False  # ask the trackers again (a full run) and keep what they say

    def load(self, name: str, fingerprint: str) -> dict[str, object] | None:
        if self.refresh or self.max_age <= timedelta(0):
            return None
        saved = self.store.discovery(name)
        if saved is None or saved.fingerprint != fingerprint:
            return None
        return saved.body if timedelta(0) <= self.now - saved.fetched_at < self.max_age else None

    def save(self, name: str, fingerprint: str, body: dict[str, object]) -> None:
        if body and self.max_age > timedelta(0):
            self.store.save_discovery(name, fingerprint, self.now, body)


def open_source(
    project: Project,
    name: str,
    env: Mapping[str, str] = os.environ,
    *,
    identify: bool = True,
    cache: DiscoveryCache | None = None,
) -> Source:
    """Connect, read the catalog and compile the mapping; mapping problems point at their lines.

    With a `cache`, an earlier run's discovery stands in for the catalog calls; if the mapping does
    not compile against it (a field added since), the tracker is asked again before anything is
    reported. `identify=False` skips asking who we are signed in as (runs do not show it)."""
    file = project.connectors[name]
    fingerprint = _fingerprint(project, name, env)
    saved = cache.load(name, fingerprint) if cache is not None else None
    while True:
        connector = connect(project, name, env)
        reused = saved is not None and connector.reuse(saved)
        try:
            server = connector.server(identify=identify)
            compiled = compile_mapping(
                file.mapping,
                project.mappings[file.mapping],
                connector.catalog(),
                file.owns,
                incoming_syncs(project, file.mapping),
            )
        except MappingError as exc:
            connector.close()
            if reused:
                saved = None
                continue
            raise ConfigErrors(_located(project, file.mapping, exc)) from None
        except BaseException:
            connector.close()
            raise
        if cache is not None and not reused:
            cache.save(name, fingerprint, connector.discovery())
        return Source(name, connector, server, compiled, file.owns)


def _fingerprint(project: Project, name: str, env: Mapping[str, str]) -> str:
    """Of the connector file and the URL it resolves to (names of secrets, never their values)."""
    file = project.connectors[name]
    url = project.connection(name, env).url
    text = json.dumps([DISCOVERY_FORMAT, url, file.model_dump(mode="json")], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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
                SyncBinding(
                    source.mapping.name,
                    spec.to,
                    spec.attribute,
                    fi.id,
                    fi.name,
                    spec.values,
                    spec.quality_owner,
                    spec.clear,
                )
            )
    return bindings
