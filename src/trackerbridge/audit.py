"""The audit: read every connector, run the rules, derive health. The pure part (`assess`, `AuditResult`)
lives in `trackerbridge.assessment`; its names stay importable from here."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from trackerbridge.assessment import AuditResult, SourceSummary, assess
from trackerbridge.config.project import Project
from trackerbridge.longlived import long_lived
from trackerbridge.model import Initiative
from trackerbridge.rules.registry import load_rules
from trackerbridge.rules.settings import health_policy, rule_settings
from trackerbridge.sources import Source, open_source, sync_bindings

__all__ = ["AuditResult", "SourceSummary", "assess", "run_audit"]


@long_lived()  # every initiative is held until the rules run: keep the garbage collector off them
def run_audit(
    project: Project,
    names: Sequence[str],
    now: datetime,
    env: Mapping[str, str] = os.environ,
    progress: Callable[[str, int], None] | None = None,
) -> AuditResult:
    """Read-only: open each connector, read everything in scope, assess."""
    rules = load_rules()
    settings = rule_settings(project, rules)
    sources: list[Source] = []
    initiatives: list[Initiative] = []
    summaries = []
    try:
        for name in project.select(names):
            source = open_source(project, name, env, identify=False)
            sources.append(source)
            # An issue edited during the read comes again on a later page: one record, its newest copy.
            by_key: dict[str, Initiative] = {}
            for count, initiative in enumerate(source.read(), 1):
                by_key[initiative.key] = initiative
                if progress and count % 100 == 0:
                    progress(name, count)
            initiatives.extend(by_key.values())
            summaries.append(SourceSummary(name, source.server, len(by_key), sum(source.connector.calls.values())))
        syncs = sync_bindings(project, sources)
    finally:
        for source in sources:
            source.connector.close()
    mappings = {s.name: s.mapping.name for s in sources}
    result = assess(initiatives, rules, settings, health_policy(project), now, syncs, mappings)
    result.sources = summaries
    return result
