from rulekit import ADA, make, messages, run
from trackerbridge.model import Size, Stage


def test_major_without_integrator_is_reported() -> None:
    assert messages(run("TB103", [make(size=Size.MAJOR)])) == ["major initiative without an integrator"]


def test_major_with_integrator_passes() -> None:
    assert run("TB103", [make(size=Size.MAJOR, integrator=ADA)]) == []


def test_minor_or_unsized_needs_no_integrator() -> None:
    assert run("TB103", [make(size=Size.MINOR), make(size=None)]) == []


def test_finished_major_is_not_checked() -> None:
    assert run("TB103", [make(size=Size.MAJOR, stage=Stage.DONE), make(size=Size.MAJOR, stage=Stage.CANCELLED)]) == []


def test_unknown_stage_counts_as_active() -> None:
    assert len(run("TB103", [make(size=Size.MAJOR, stage=None)])) == 1


def test_valid_waiver_waives_and_expired_one_does_not() -> None:
    valid = make(key="OPS-1", size=Size.MAJOR, labels=frozenset({"tb-waive-TB103-until-2026-10-15"}))
    expired = make(key="OPS-2", size=Size.MAJOR, labels=frozenset({"tb-waive-TB103-until-2026-10-14"}))
    open_ended = make(key="OPS-3", size=Size.MAJOR, labels=frozenset({"tb-waive-TB103"}))
    waived = {f.key: f.waived_by for f in run("TB103", [valid, expired, open_ended])}
    assert waived == {"OPS-1": "tb-waive-TB103-until-2026-10-15", "OPS-2": None, "OPS-3": None}


def test_waiver_for_another_code_does_not_apply() -> None:
    (finding,) = run("TB103", [make(size=Size.MAJOR, labels=frozenset({"tb-waive-TB102-until-2027-01-01"}))])
    assert finding.waived_by is None
