from rulekit import TODAY, make, messages, run
from trackerbridge.model import Stage


def test_active_without_end_date_is_an_error() -> None:
    findings = run("TB102", [make(key="OPS-7", end=None)])
    assert messages(findings) == ["no end date"]
    assert findings[0].severity.value == "error"
    assert findings[0].key == "OPS-7"


def test_with_end_date_passes() -> None:
    assert run("TB102", [make(end=TODAY)]) == []


def test_each_active_stage_is_checked_and_finished_ones_are_not() -> None:
    records = [make(key=f"OPS-{s.value}", end=None, stage=s) for s in Stage]
    assert sorted(f.key for f in run("TB102", records)) == ["OPS-build", "OPS-decide", "OPS-launch"]


def test_unknown_stage_counts_as_active() -> None:
    assert messages(run("TB102", [make(end=None, stage=None)])) == ["no end date"]


def test_salesforce_records_are_checked_too() -> None:
    assert len(run("TB102", [make(system="salesforce", end=None)])) == 1


def test_waiver_label_marks_the_finding_waived() -> None:
    label = "tb-waive-TB102-until-2026-12-31"
    (finding,) = run("TB102", [make(end=None, labels=frozenset({label}))])
    assert finding.waived_by == label
