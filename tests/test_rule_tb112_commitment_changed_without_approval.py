from datetime import datetime

from rulekit import GRACE, day, days_ago, make, messages, run
from trackerbridge.model import Change, Initiative, Stage


def moved(before: str | None = "2026-10-01", after: str = "2026-11-15", at: datetime | None = None) -> Change:
    return Change(at or days_ago(5), "end", day(before) if before else None, day(after), GRACE)


def commitment(*history: Change, **attrs: object) -> Initiative:
    return make(commitment=True, history=history, end=day("2026-11-15"), **attrs)


def test_moved_end_date_without_approval_is_reported() -> None:
    findings = run("TB112", [commitment(moved())])
    assert messages(findings) == ["end date moved 2026-10-01 → 2026-11-15 without approval"]
    assert findings[0].detail == "end"
    assert findings[0].severity.value == "error"


def test_approval_label_clears_it() -> None:
    assert run("TB112", [commitment(moved(), labels=frozenset({"approved-change"}))]) == []
    assert run("TB112", [commitment(moved(), labels=frozenset({"Approved-Change"}))]) == []


def test_not_a_commitment_or_unknown_passes() -> None:
    assert run("TB112", [make(commitment=False, history=(moved(),)), make(commitment=None, history=(moved(),))]) == []


def test_commitment_without_changes_passes() -> None:
    assert run("TB112", [commitment()]) == []


def test_first_setting_of_a_date_is_not_a_move() -> None:
    assert run("TB112", [commitment(moved(before=None))]) == []


def test_changes_at_creation_are_not_after_it() -> None:
    created = days_ago(40)
    assert run("TB112", [commitment(moved(at=created), created=created)]) == []


def test_several_moves_show_first_and_last_value() -> None:
    history = (moved("2026-09-01", "2026-10-01", days_ago(20)), moved("2026-10-01", "2026-12-24", days_ago(2)))
    assert messages(run("TB112", [commitment(*history)])) == ["end date moved 2026-09-01 → 2026-12-24 without approval"]


def test_changes_of_other_attributes_do_not_count_by_default() -> None:
    title = Change(days_ago(3), "title", "Pilot for Acme", "Pilot for Acme and Beta", GRACE)
    assert run("TB112", [commitment(title)]) == []


def test_scope_attributes_parameter_adds_title() -> None:
    title = Change(days_ago(3), "title", "Pilot for Acme", "Pilot for Acme and Beta", GRACE)
    findings = run("TB112", [commitment(title, moved())], params={"scope_attributes": ["end", "title"]})
    assert [(f.detail, f.message) for f in findings] == [
        ("end", "end date moved 2026-10-01 → 2026-11-15 without approval"),
        ("title", "title changed Pilot for Acme → Pilot for Acme and Beta without approval"),
    ]


def test_approval_label_parameter() -> None:
    record = commitment(moved(), labels=frozenset({"approved-change"}))
    assert len(run("TB112", [record], params={"approval_label": "cfo-approved"})) == 1


def test_applies_in_any_stage() -> None:
    assert len(run("TB112", [commitment(moved(), stage=Stage.DONE)])) == 1


def test_waiver_applies() -> None:
    (finding,) = run("TB112", [commitment(moved(), labels=frozenset({"tb-waive-TB112-until-2026-10-31"}))])
    assert finding.waived_by == "tb-waive-TB112-until-2026-10-31"
