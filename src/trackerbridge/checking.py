"""`trackerbridge check`: connect to each connector and prove its mapping resolves."""

from __future__ import annotations

import difflib
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice

from trackerbridge.check_warnings import _rule_coverage, warnings_of
from trackerbridge.config.errors import ConfigError
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import ConnectorError, ServerInfo
from trackerbridge.mapping import CompiledMapping, MappingError, Problem
from trackerbridge.sources import Source, _located, open_source

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
            reasons = source.mapping.write_fields.get("reasons")
            if reasons is not None and 0 < reasons.length < SHORT_REASONS:
                result.warnings.append(
                    f"write-back field {reasons.name!r} ({reasons.id}) holds at most {reasons.length} characters: "
                    "the reasons are cut to that (a long text area of 1000 or more shows them all)"
                )
            result.warnings.extend(_rule_coverage(project, source))
            try:
                seen = _sample(source, result)
                result.errors.extend(_value_maps(project, source, seen))
                result.errors.extend(_link_types(project, source))
            except ConnectorError as exc:
                result.failure = exc
            source.connector.close()
        results.append(result)
    return results


def _value_maps(project: Project, source: Source, seen: list[str]) -> list[ConfigError]:
    """Each live value (status, priority, picklist value) a value map without `default` leaves out: audit
    would make every record holding it a TB116 finding, so `check` names them now (exit 2)."""
    spec = project.mappings[source.mapping.name]
    problems: list[Problem] = []
    for r in source.mapping.attributes:
        attribute = spec.attributes.get(r.attribute)
        if attribute is None or attribute.values is None or attribute.default is not None:
            continue
        live = source.connector.live_values(r.field, seen)
        if not live:
            continue
        keys = {str(k).casefold() for k in attribute.values}
        spare = [str(k) for k in attribute.values if str(k).casefold() not in {v.casefold() for v in live}]
        for value in live:
            if value.casefold() in keys:
                continue
            near = difflib.get_close_matches(value, spare, n=1, cutoff=0.8)  # a misspelling, not a neighbour
            hint = f"did you mean {near[0]!r}?" if near else f"add {value!r} to the value map, or set default"
            problems.append(
                Problem(
                    ("attributes", r.attribute, "values"),
                    f"{r.field.name} value {value!r} on the live instance is not in the value map",
                    hint,
                )
            )
    return _located(project, source.mapping.name, MappingError(source.mapping.name, problems)) if problems else []


def _link_types(project: Project, source: Source) -> list[ConfigError]:
    """An `issue_links` type the instance has no link type of would roll nothing up, silently: exit 2 now."""
    mapping = source.mapping
    if mapping.links_field is None or not mapping.issue_links:
        return []
    live = source.connector.live_values(mapping.links_field)
    if not live:
        return []
    known = {v.casefold() for v in live}
    names = [v for v in live if not v.isdigit()]
    problems = []
    for attribute, spec in mapping.issue_links:
        if spec.type.casefold() in known:
            continue
        near = difflib.get_close_matches(spec.type, names, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}?" if near else f"its link types are {', '.join(names)}"
        problems.append(
            Problem(("issue_links", attribute, "type"), f"no issue link type {spec.type!r} on the live instance", hint)
        )
    return _located(project, mapping.name, MappingError(mapping.name, problems)) if problems else []


def _sample(source: Source, result: CheckResult) -> list[str]:
    """Run the scope query once and read a few records: a scope the tracker refuses fails here, not in
    the first cron run, and a mapped field that comes back absent (hidden) is named before `audit`
    turns every record into a TB116 finding."""
    absent: Counter[str] = Counter()
    unreadable = 0
    keys = []
    for raw in islice(source.connector.pull(source.mapping.fields), SAMPLE):
        result.sampled += 1
        keys.append(raw.key)
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
    return keys
