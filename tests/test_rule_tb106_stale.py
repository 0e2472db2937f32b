from datetime import timedelta

from rulekit import NOW, days_ago, make, messages, run
from trackerbridge.model import Stage


def test_not_updated_for_long_is_stale() -> None:
    assert messages(run("TB106", [make(updated=days_ago(45))])) == ["not updated for 45 days"]


def test_recently_updated_passes() -> None:
    assert run("TB106", [make(updated=days_ago(29))]) == []


def test_exactly_at_the_threshold_is_not_stale() -> None:
    assert run("TB106", [make(updated=NOW - timedelta(days=30))]) == []
    assert len(run("TB106", [make(updated=NOW - timedelta(days=30, seconds=1))])) == 1


def test_finished_and_undated_initiatives_pass() -> None:
    old = days_ago(400)
    assert run("TB106", [make(updated=old, stage=Stage.DONE), make(updated=old, stage=Stage.CANCELLED)]) == []
    assert run("TB106", [make(updated=None)]) == []


def test_days_parameter_overrides_the_default() -> None:
    assert messages(run("TB106", [make(updated=days_ago(10))], params={"days": 7})) == ["not updated for 10 days"]


def test_waiver_applies() -> None:
    (finding,) = run("TB106", [make(updated=days_ago(90), labels=frozenset({"tb-waive-tb106-until-2027-01-31"}))])
    assert finding.waived_by == "tb-waive-tb106-until-2027-01-31"
