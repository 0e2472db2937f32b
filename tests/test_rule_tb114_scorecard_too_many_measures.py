from rulekit import make, messages, run
from trackerbridge.model import Stage


def test_more_than_ten_measures_is_reported() -> None:
    findings = run("TB114", [make(scorecard_measures=12)])
    assert messages(findings) == ["12 scorecard measures (max 10)"]
    assert findings[0].severity.value == "warning"


def test_ten_or_fewer_or_unknown_passes() -> None:
    assert run("TB114", [make(scorecard_measures=10), make(scorecard_measures=0), make(scorecard_measures=None)]) == []


def test_applies_in_every_stage() -> None:
    assert len(run("TB114", [make(scorecard_measures=11, stage=s) for s in Stage])) == len(Stage)


def test_max_parameter() -> None:
    assert messages(run("TB114", [make(scorecard_measures=6)], params={"max": 5})) == ["6 scorecard measures (max 5)"]


def test_waiver_applies() -> None:
    (finding,) = run("TB114", [make(scorecard_measures=14, labels=frozenset({"tb-waive-TB114-until-2027-06-30"}))])
    assert finding.waived_by == "tb-waive-TB114-until-2027-06-30"
