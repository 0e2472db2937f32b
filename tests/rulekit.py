"""A small kit for rule tests: healthy initiatives by default, and one rule run through the real engine.

`make()` gives a record that no built-in rule flags, so each test changes only what it is about.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import Any

from trackerbridge.model import Initiative, Person, Size, Stage
from trackerbridge.rules.base import Finding, Rule, SyncBinding
from trackerbridge.rules.engine import RuleSettings, Selection, evaluate
from trackerbridge.rules.registry import load_rules

NOW = datetime(2026, 10, 15, 12, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
ADA = Person(email="ada@example.com", name="Ada Lovelace", ref="u-ada")
GRACE = Person(email="grace@example.com", name="Grace Hopper", ref="u-grace")

_keys = itertools.count(1)


def make(**attrs: Any) -> Initiative:
    """A healthy Jira initiative in build; keyword arguments override any attribute."""
    system = attrs.get("system", "jira")
    number = next(_keys)
    key = attrs.pop("key", f"OPS-{number}" if system == "jira" else f"006{number:012d}")
    values: dict[str, Any] = {
        "source": "jira-ops" if system == "jira" else "sfdc",
        "system": system,
        "key": key,
        "url": f"https://example.test/{key}",
        "title": f"Initiative {key}",
        "kind": "Initiative",
        "owner": ADA,
        "integrator": None,
        "decision_owner": GRACE,
        "team": "Platform",
        "stage": Stage.BUILD,
        "stage_entered": NOW - timedelta(days=20),
        "size": Size.MINOR,
        "start": TODAY - timedelta(days=20),
        "end": TODAY + timedelta(days=30),
        "created": NOW - timedelta(days=40),
        "updated": NOW - timedelta(days=1),
    }
    values.update(attrs)
    return Initiative(**values)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def day(text: str) -> date:
    return date.fromisoformat(text)


@cache
def rules() -> dict[str, Rule]:
    return load_rules()


def run(
    rule_code: str,
    initiatives: Iterable[Initiative],
    now: datetime = NOW,
    params: Mapping[str, object] | None = None,
    syncs: Sequence[SyncBinding] = (),
    mappings: Mapping[str, str] | None = None,
    waiver_prefix: str = "tb-waive-",
) -> list[Finding]:
    """Findings of one rule alone (waived ones included, marked), through `evaluate`."""
    settings = RuleSettings(
        selection=Selection(select=(rule_code,)),
        params={rule_code: dict(params or {})},
        waiver_prefix=waiver_prefix,
    )
    return evaluate(list(initiatives), rules(), settings, now, syncs, mappings=mappings)


def messages(findings: Iterable[Finding]) -> list[str]:
    return [f.message for f in findings]


def keys(findings: Iterable[Finding]) -> list[str]:
    return [f.key for f in findings]
