"""The audit: read every connector, run the rules, derive health. `assess` is the pure part."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from trackerbridge.config.project import Project
from trackerbridge.connectors.base import ServerInfo
from trackerbridge.health import Flag, Health, HealthPolicy, health_by_record
from trackerbridge.longlived import long_lived
from trackerbridge.model import Initiative
from trackerbridge.rollup import roll_up
from trackerbridge.rules.base import Finding, Rule, SyncBinding
from trackerbridge.rules.engine import (
    RULE_CRASHED,
    RuleSettings,
    active_rules,
    crashed_refs,
    effective_params,
    evaluate,
)
from trackerbridge.rules.registry import load_rules
from trackerbridge.rules.settings import health_policy, rule_settings
from trackerbridge.sources import Source, open_source, sync_bindings


@dataclass(frozen=True)
class SourceSummary:
    name: str
    server: ServerInfo
    records: int
    api_calls: int


@dataclass
class AuditResult:
    now: datetime
    initiatives: list[Initiative]
    findings: list[Finding]
    health: dict[str, Health]  # by initiative ref
    rules: dict[str, Rule]  # the rules that ran, by code
    sources: list[SourceSummary] = field(default_factory=list)
    settings: RuleSettings = field(default_factory=RuleSettings)  # as evaluated: reports need params and scope

    def params(self, code: str) -> dict[str, object]:
        """The parameters rule `code` ran with: its defaults overlaid with the project's values."""
        return effective_params(self.rules[code], self.settings)

    @property
    def live(self) -> list[Finding]:
        """Findings not covered by a waiver."""
        return [f for f in self.findings if f.waived_by is None]

    def counts_by_rule(self) -> dict[str, int]:
        counts = Counter(f.code for f in self.live)
        return {code: counts[code] for code in self.rules if counts[code]}

    def flag_counts(self) -> dict[Flag, int]:
        counts = Counter(h.flag for h in self.health.values())
        return {flag: counts[flag] for flag in Flag}

    def worst(self) -> Flag:
        return max((h.flag for h in self.health.values()), key=lambda f: f.rank, default=Flag.GREEN)


def assess(
    initiatives: Sequence[Initiative],
    rules: Mapping[str, Rule],
    settings: RuleSettings,
    policy: HealthPolicy,
    now: datetime,
    syncs: Sequence[SyncBinding] = (),
    mappings: Mapping[str, str] | None = None,
) -> AuditResult:
    findings = evaluate(initiatives, rules, settings, now, syncs, mappings or {})
    health = health_by_record(findings, (i.ref for i in initiatives), policy)
    if policy.rollup:
        health = roll_up(initiatives, health, policy.rollup)
    ran = {r.code: r for r in active_rules(rules, settings)}
    if crashed_refs(findings):  # reports and SARIF describe the TB000 findings like any rule's
        ran = {RULE_CRASHED.code: RULE_CRASHED, **ran}
    return AuditResult(now, list(initiatives), findings, health, ran, settings=settings)


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
