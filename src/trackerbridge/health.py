"""Green / amber / red per initiative, from its findings, with reasons short enough for a field.

Deterministic: findings are ordered by severity, then code, then detail, so the same findings
always give the same flag and the same text (no flapping between runs). Reasons name the rule
("TB105 past end date") rather than quote its message ("7 days past end date"), so the text written
into trackers changes when the verdict changes, not every day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

from trackerbridge.rules.base import Finding, Severity


class Flag(str, Enum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def rank(self) -> int:
        return {"green": 0, "amber": 1, "red": 2}[self.value]


CONFLICT = "sync-conflict"  # the label word for a record with a sync conflict


def health_labels(prefix: str | None) -> frozenset[str]:
    """The labels trackerbridge can produce with `prefix`: its health words and the conflict flag.
    Exactly these are its own; a person's `health-insurance` is not."""
    if not prefix:
        return frozenset()
    return frozenset(f"{prefix}{word}" for word in (*(f.value for f in Flag), CONFLICT))


@dataclass(frozen=True)
class Rollup:
    """A parent is at least `then` when a child (found `via` links or an attribute) is `when` (and `size`)."""

    when: Flag = Flag.RED
    then: Flag = Flag.RED
    size: str | None = None
    via: str = "links"  # "links" | "attribute"
    attribute: str = "parent"
    systems: frozenset[str] = frozenset()  # parent systems; empty: any
    stages: frozenset[str] = frozenset()  # parent stages; empty: any


@dataclass(frozen=True)
class HealthPolicy:
    """Which severities make a record red, and which amber; and how children's health rolls up."""

    red: frozenset[Severity] = frozenset({Severity.ERROR})
    amber: frozenset[Severity] = frozenset({Severity.WARNING})
    max_reasons_chars: int = 255  # fits a Jira text field and a Salesforce text(255)
    rollup: tuple[Rollup, ...] = ()


@dataclass(frozen=True, slots=True)
class Health:
    flag: Flag
    reasons: tuple[str, ...] = field(default=())

    def text(self, limit: int = 255) -> str:
        """The reasons as one line, cut at a reason boundary with a count of the rest."""
        out = ""
        for n, reason in enumerate(self.reasons):
            piece = reason if not out else f"; {reason}"
            rest = len(self.reasons) - n
            if len(out) + len(piece) > limit - (len(f" (+{rest} more)") if rest > 1 else 0):
                return f"{out} (+{rest} more)" if out else reason[: limit - 1] + "…"
            out += piece
        return out


def health_of(findings: Iterable[Finding], policy: HealthPolicy = HealthPolicy()) -> Health:
    live = sorted((f for f in findings if f.waived_by is None), key=lambda f: (-f.severity.rank, f.code, f.detail))
    if any(f.severity in policy.red for f in live):
        flag = Flag.RED
    elif any(f.severity in policy.amber for f in live):
        flag = Flag.AMBER
    else:
        flag = Flag.GREEN
    counted = [f for f in live if f.severity in policy.red | policy.amber]
    return Health(flag, tuple(dict.fromkeys(_reason(f.code, f.rule) for f in counted)))


@lru_cache(maxsize=1024)
def _reason(code: str, rule: str) -> str:
    """The rule's name, not its message: messages count days and would rewrite the field every day.
    Cached: every record a rule finds shows the same text, and it need not be one string each."""
    return f"{code} {rule.replace('-', ' ')}"


def health_by_record(
    findings: Sequence[Finding], refs: Iterable[str], policy: HealthPolicy = HealthPolicy()
) -> dict[str, Health]:
    """Every record gets a health, green when it has no findings."""
    grouped: dict[str, list[Finding]] = {}
    for f in findings:
        grouped.setdefault(f.ref, []).append(f)
    green = health_of((), policy)
    shared: dict[Health, Health] = {}  # equal verdicts as one object: a large run has only a few hundred distinct ones
    out: dict[str, Health] = {}
    for ref in refs:
        found = grouped.get(ref)
        health = health_of(found, policy) if found else green
        out[ref] = shared.setdefault(health, health)
    return out
