"""`trackerbridge check`: connect to each connector and prove its mapping resolves."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from trackerbridge.config.errors import ConfigError
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import ConnectorError, ServerInfo
from trackerbridge.health import health_labels
from trackerbridge.mapping import CompiledMapping
from trackerbridge.sources import Source, open_source


@dataclass
class CheckResult:
    name: str
    server: ServerInfo | None = None
    mapping: CompiledMapping | None = None
    errors: list[ConfigError] = field(default_factory=list)
    failure: ConnectorError | None = None
    warnings: list[str] = field(default_factory=list)  # ready, but something a person should know

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
            result.warnings = warnings_of(source)
            source.connector.close()
        results.append(result)
    return results


def warnings_of(source: Source) -> list[str]:
    """What makes a ready connector less trustworthy than it could be."""
    out = []
    owns, mapping = source.owns, source.mapping
    if owns is not None and owns.label_prefixes:
        vocabulary = ", ".join(sorted(health_labels(mapping.spec.write_back.label_prefix)))
        out.append(
            f"owns.label_prefixes {owns.label_prefixes}: trackerbridge may remove every label with these prefixes, "
            f"people's own included (such as {owns.label_prefixes[0]}insurance); to own only what it writes, list "
            f"the labels in owns.labels instead" + (f": [{vocabulary}]" if vocabulary else "")
        )
    writes = any(r in mapping.write_fields for r in ("health", "reasons"))
    if source.server.system == "salesforce" and writes and "activity" not in mapping.write_fields:
        out.append(
            "no write_back.activity_field: each write trackerbridge makes moves LastModifiedDate, so the records it "
            "writes look freshly updated (TB106 stops seeing them as stale); add an owned date-time field "
            "(trackerbridge setup salesforce prints it)"
        )
    return out
