"""`trackerbridge check`: connect to each connector and prove its mapping resolves."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice

from trackerbridge.config.errors import ConfigError
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import ConnectorError, ServerInfo
from trackerbridge.mapping import CompiledMapping
from trackerbridge.sources import Source, open_source

SHORT_REASONS = 80  # a reasons field shorter than this shows little more than one reason
SAMPLE = 25  # records read to prove the scope query runs and mapped fields come back (one page)


@dataclass
class CheckResult:
    name: str
    server: ServerInfo | None = None
    mapping: CompiledMapping | None = None
    errors: list[ConfigError] = field(default_factory=list)
    failure: ConnectorError | None = None
    sampled: int = 0  # records of the scope read as a sample
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
            source = open_source(project, name, env)
        except ConfigError as exc:
            result.errors = exc.errors
        except ConnectorError as exc:
            result.failure = exc
        if source is not None:
            result.server, result.mapping = source.server, source.mapping
            reasons = source.mapping.write_fields.get("reasons")
            if reasons is not None and 0 < reasons.length < SHORT_REASONS:
                result.warnings.append(
                    f"write-back field {reasons.name!r} ({reasons.id}) holds at most {reasons.length} characters: "
                    "the reasons are cut to that (a long text area of 1000 or more shows them all)"
                )
            try:
                _sample(source, result)
            except ConnectorError as exc:
                result.failure = exc
            source.connector.close()
        results.append(result)
    return results


def _sample(source: Source, result: CheckResult) -> None:
    """Run the scope query once and read a few records: a scope the tracker refuses fails here, not in
    the first cron run, and a mapped field that comes back absent (hidden) is named before `audit`
    turns every record into a TB116 finding."""
    absent: Counter[str] = Counter()
    unreadable = 0
    for raw in islice(source.connector.pull(source.mapping.fields), SAMPLE):
        result.sampled += 1
        absent.update(raw.absent)
        unreadable += raw.unreadable is not None
    names = {fi.id: fi.name for fi in source.mapping.fields}
    for fid, count in sorted(absent.items()):
        result.warnings.append(
            f"field {names.get(fid, fid)!r} ({fid}) came back absent on {count} of {result.sampled} sample records "
            "(hidden by a field configuration or not on the screen?); audit reports those records as TB116 and "
            "sync does not write them"
        )
    if unreadable:
        result.warnings.append(f"{unreadable} of {result.sampled} sample records came back without fields")
