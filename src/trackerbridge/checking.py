"""`trackerbridge check`: connect to each connector and prove its mapping resolves."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from trackerbridge.config.errors import ConfigError
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import ConnectorError, ServerInfo
from trackerbridge.mapping import CompiledMapping
from trackerbridge.sources import open_source


@dataclass
class CheckResult:
    name: str
    server: ServerInfo | None = None
    mapping: CompiledMapping | None = None
    errors: list[ConfigError] = field(default_factory=list)
    failure: ConnectorError | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.failure is None


def check(project: Project, names: list[str], env: Mapping[str, str] = os.environ) -> list[CheckResult]:
    """One result per connector; problems are collected, not raised, so every connector is checked."""
    results = []
    for name in project.select(names):
        result = CheckResult(name)
        source = None
        try:
            connection = project.connection(name, env)
            if connection.insecure_http:
                result.warnings.append(
                    f"{connection.url} is plain http to another machine (allow_insecure_http: true): "
                    "credentials and every record travel unencrypted; use https://"
                )
        except ConfigError:
            pass  # open_source reports it below, with everything else
        try:
            source = open_source(project, name, env)
        except ConfigError as exc:
            result.errors = exc.errors
        except ConnectorError as exc:
            result.failure = exc
        if source is not None:
            result.server, result.mapping = source.server, source.mapping
            source.connector.close()
        results.append(result)
    return results
