from datetime import timedelta

from rulekit import GRACE, NOW, days_ago, make, messages, run
from trackerbridge.model import Initiative, Stage


def stuck(**attrs: object) -> Initiative:
    values = {"stage": Stage.DECIDE, "decision_owner": None, "stage_entered": days_ago(12)}
    values.update(attrs)
    return make(**values)


def test_in_decide_too_long_without_decision_owner() -> None:
    assert messages(run("TB104", [stuck()])) == ["in decide 12 days without a decision owner"]


def test_decision_owner_clears_it() -> None:
    assert run("TB104", [stuck(decision_owner=GRACE)]) == []


def test_other_stages_are_not_checked() -> None:
    assert run("TB104", [stuck(stage=s) for s in Stage if s is not Stage.DECIDE] + [stuck(stage=None)]) == []


def test_exactly_at_the_threshold_is_not_yet_stuck() -> None:
    assert run("TB104", [stuck(stage_entered=NOW - timedelta(days=7))]) == []


def test_one_second_past_the_threshold_is_stuck() -> None:
    findings = run("TB104", [stuck(stage_entered=NOW - timedelta(days=7, seconds=1))])
    assert messages(findings) == ["in decide 7 days without a decision owner"]


def test_falls_back_to_created_when_stage_entry_is_unknown() -> None:
    assert messages(run("TB104", [stuck(stage_entered=None, created=days_ago(30))])) == [
        "in decide 30 days without a decision owner"
    ]
    assert run("TB104", [stuck(stage_entered=None, created=days_ago(3))]) == []


def test_stage_entry_wins_over_created() -> None:
    assert run("TB104", [stuck(stage_entered=days_ago(2), created=days_ago(90))]) == []


def test_no_dates_at_all_reports_nothing() -> None:
    assert run("TB104", [stuck(stage_entered=None, created=None)]) == []


def test_days_parameter_overrides_the_default() -> None:
    record = stuck(stage_entered=days_ago(4))
    assert run("TB104", [record]) == []
    assert messages(run("TB104", [record], params={"days": 3})) == ["in decide 4 days without a decision owner"]


def test_identity_stays_while_the_day_count_grows() -> None:
    record = stuck()
    (today,) = run("TB104", [record])
    (tomorrow,) = run("TB104", [record], now=NOW + timedelta(days=1))
    assert today.message != tomorrow.message
    assert today.identity == tomorrow.identity


def test_waiver_applies() -> None:
    (finding,) = run("TB104", [stuck(labels=frozenset({"tb-waive-TB104-until-2026-11-01"}))])
    assert finding.waived_by == "tb-waive-TB104-until-2026-11-01"
