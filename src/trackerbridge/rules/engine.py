"""Running the selected rules over a set of initiatives: selection, parameters, severities,
per-connector scope and waivers, in one pure function."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Finding, Hit, Index, Rule, Severity, SyncBinding
from trackerbridge.rules.waivers import waivers_of

UNREADABLE = "TB116"  # the one record rule that judges a held record (see Initiative.held)


@dataclass(frozen=True)
class Selection:
    """Codes or prefixes, as in ruff: the longest matching entry decides; on a tie, ignore wins."""

    select: tuple[str, ...] = ("TB",)
    ignore: tuple[str, ...] = ()

    def includes(self, code: str) -> bool:
        best_select = max((len(s) for s in self.select if code.startswith(s.upper())), default=-1)
        best_ignore = max((len(s) for s in self.ignore if code.startswith(s.upper())), default=-1)
        return best_select > best_ignore


@dataclass(frozen=True)
class RuleSettings:
    selection: Selection = Selection()
    severity: Mapping[str, Severity] = field(default_factory=dict)  # code -> override
    params: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # code -> values
    scope: Mapping[str, Selection] = field(default_factory=dict)  # connector -> selection within the global one
    waiver_prefix: str = "tb-waive-"


def active_rules(rules: Mapping[str, Rule], settings: RuleSettings) -> list[Rule]:
    return [r for code, r in rules.items() if settings.selection.includes(code)]


def effective_params(rule: Rule, settings: RuleSettings) -> dict[str, object]:
    """Defaults overlaid with configured values (validated when the config loads)."""
    values = rule.defaults()
    for name, value in settings.params.get(rule.code, {}).items():
        values[name] = rule.params[name].coerce(value)
    return values


def evaluate(
    initiatives: Sequence[Initiative],
    rules: Mapping[str, Rule],
    settings: RuleSettings,
    now: datetime,
    syncs: Sequence[SyncBinding] = (),
    mappings: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every finding, waived ones included (marked), ordered by record then code: deterministic.

    `mappings` names each connector's mapping (connector -> mapping), for rules that follow sync bindings.
    """
    index = Index(initiatives)
    today = now.date()
    mapping_of = dict(mappings or {})
    findings: list[Finding] = []
    for rule in active_rules(rules, settings):
        ctx = Context(
            now=now,
            params=effective_params(rule, settings),
            index=index,
            syncs=tuple(syncs),
            mappings=mapping_of,
            waiver_prefix=settings.waiver_prefix,
        )
        severity = settings.severity.get(rule.code, rule.severity)
        for hit in _hits(rule, initiatives, index, ctx):
            source = hit.initiative.source
            scoped = settings.scope.get(source)
            if scoped is not None and not scoped.includes(rule.code):
                continue
            findings.append(_finding(rule, severity, hit, settings.waiver_prefix, today))
    findings.sort(key=lambda f: (f.source, f.key, f.code, f.detail))
    return findings


def _hits(rule: Rule, initiatives: Sequence[Initiative], index: Index, ctx: Context) -> Iterable[Hit]:
    if rule.scope == "set":
        yield from (h for h in rule.check(index, ctx) if not h.initiative.held)  # type: ignore[arg-type]
        return
    systems = rule.systems
    judges_unreadable = rule.code == UNREADABLE
    for initiative in initiatives:
        # A record read without some mapped fields is judged only as unreadable: absent is not empty.
        if initiative.system in systems and (judges_unreadable or not initiative.held):
            yield from rule.check(initiative, ctx)  # type: ignore[arg-type]


def _finding(rule: Rule, severity: Severity, hit: Hit, prefix: str, today: object) -> Finding:
    i = hit.initiative
    waived_by = None
    for waiver in waivers_of(i, prefix):
        if waiver.code == rule.code and waiver.honoured_on(today):  # type: ignore[arg-type]
            waived_by = waiver.origin
            break
    return Finding(
        code=rule.code,
        rule=rule.name,
        severity=severity,
        source=i.source,
        key=i.key,
        url=i.url,
        title=i.title,
        message=hit.message,
        detail=hit.detail,
        waived_by=waived_by,
    )
