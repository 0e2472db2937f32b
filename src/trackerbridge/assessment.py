"""What an audit found: the findings and health of a set of initiatives (`AuditResult`), and `assess`,
the pure function that makes one. Every emitter and report reads an `AuditResult`; this module reads no
tracker, store or clock, so importing it loads none of their libraries (`trackerbridge.audit` reads the
trackers and calls `assess`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from trackerbridge.health import Flag, Health, HealthPolicy, health_by_record
from trackerbridge.model import Initiative
from trackerbridge.records import ServerInfo
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
