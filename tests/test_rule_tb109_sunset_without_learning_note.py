import pytest

from rulekit import make, messages, run
from trackerbridge.model import Stage


@pytest.mark.parametrize("note", [None, "", "   \n"])
def test_cancelled_without_a_note_is_reported(note: str | None) -> None:
    assert messages(run("TB109", [make(stage=Stage.CANCELLED, learning_note=note)])) == [
        "cancelled without a learning note"
    ]


def test_cancelled_with_a_note_passes() -> None:
    assert run("TB109", [make(stage=Stage.CANCELLED, learning_note="Customers wanted exports, not dashboards.")]) == []


def test_other_stages_need_no_note() -> None:
    assert run("TB109", [make(stage=s) for s in Stage if s is not Stage.CANCELLED] + [make(stage=None)]) == []


def test_severity_is_warning() -> None:
    (finding,) = run("TB109", [make(stage=Stage.CANCELLED)])
    assert finding.severity.value == "warning"


def test_waiver_applies() -> None:
    (finding,) = run("TB109", [make(stage=Stage.CANCELLED, labels=frozenset({"tb-waive-TB109-until-2026-10-31"}))])
    assert finding.waived_by == "tb-waive-TB109-until-2026-10-31"
