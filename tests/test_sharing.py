"""Large runs share equal values between records (label sets, verdicts) instead of keeping a copy each."""

from __future__ import annotations

from rulekit import make
from trackerbridge.converters import _labels
from trackerbridge.health import Flag, health_by_record
from trackerbridge.rules.base import Finding, Severity


def test_label_sets_are_shared_and_read_as_before() -> None:
    assert _labels(None) == _labels([]) == _labels("") == frozenset()
    assert _labels(None) is _labels([])
    assert _labels(["b", "a"]) == frozenset({"a", "b"}) == _labels("a  b")
    assert _labels(["a", "b"]) is _labels(["a", "b"])
    assert _labels([1, "x"]) == frozenset({"1", "x"})


def _finding(key: str, code: str, severity: Severity) -> Finding:
    return Finding(code, "owner-missing", severity, "jira-ops", key, f"https://example.test/{key}", key, "no owner")


def test_equal_verdicts_are_one_object_with_the_same_text() -> None:
    records = [make() for _ in range(4)]
    refs = [r.ref for r in records]
    findings = [_finding(r.key, "TB101", Severity.ERROR) for r in records[:3]]
    health = health_by_record(findings, refs)
    red = health[refs[0]]
    assert red.flag is Flag.RED and red.reasons == ("TB101 owner missing",)
    assert health[refs[1]] is red and health[refs[2]] is red
    assert health[refs[3]].flag is Flag.GREEN and health[refs[3]].reasons == ()
