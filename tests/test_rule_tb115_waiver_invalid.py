from datetime import datetime, timezone

from rulekit import make, messages, run
from trackerbridge.model import Initiative


def labelled(*labels: str, **attrs: object) -> Initiative:
    return make(labels=frozenset(labels), **attrs)


def test_valid_waivers_and_other_labels_pass() -> None:
    assert run("TB115", [labelled("tb-waive-TB103-until-2026-12-31", "customer-commitment"), make()]) == []


def test_expired_waiver_is_reported() -> None:
    findings = run("TB115", [labelled("tb-waive-TB103-until-2026-10-14")])
    assert messages(findings) == ["waiver tb-waive-TB103-until-2026-10-14 expired on 2026-10-14"]
    assert findings[0].detail == "tb-waive-TB103-until-2026-10-14"


def test_waiver_expiring_today_is_still_valid() -> None:
    assert run("TB115", [labelled("tb-waive-TB103-until-2026-10-15")]) == []


def test_expiry_uses_the_same_day_as_the_engine() -> None:
    late = datetime(2026, 10, 15, 23, 59, tzinfo=timezone.utc)
    assert run("TB115", [labelled("tb-waive-TB103-until-2026-10-15")], now=late) == []
    assert len(run("TB115", [labelled("tb-waive-TB103-until-2026-10-15")], now=late.replace(day=16))) == 1


def test_waiver_without_expiry_is_reported() -> None:
    assert messages(run("TB115", [labelled("tb-waive-TB105")])) == [
        "waiver tb-waive-TB105 has no expiry date (add -until-YYYY-MM-DD)"
    ]


def test_unreadable_expiry_date_is_reported() -> None:
    assert messages(run("TB115", [labelled("tb-waive-TB105-until-2026-13-40")])) == [
        "waiver tb-waive-TB105-until-2026-13-40 has an unreadable expiry date"
    ]


def test_unreadable_waiver_label_is_reported() -> None:
    assert messages(run("TB115", [labelled("tb-waive-owner")])) == [
        "waiver label tb-waive-owner cannot be read (want tb-waive-TB123-until-YYYY-MM-DD)"
    ]


def test_one_finding_per_bad_waiver() -> None:
    findings = run(
        "TB115", [labelled("tb-waive-TB103", "tb-waive-TB105-until-2020-01-01", "tb-waive-TB104-until-2030-01-01")]
    )
    assert sorted(f.detail for f in findings) == ["tb-waive-TB103", "tb-waive-TB105-until-2020-01-01"]


def test_waiver_lines_in_text_are_checked() -> None:
    record = make(extra={"waivers": "TB103 until 2026-01-31: pilot\nTB105 until 2027-01-31: extension agreed\nnotes"})
    findings = run("TB115", [record])
    assert [(f.detail, f.message) for f in findings] == [
        ("TB103 until 2026-01-31: pilot", "waiver TB103 until 2026-01-31: pilot expired on 2026-01-31")
    ]


def test_configured_prefix_is_used() -> None:
    record = labelled("waive-TB103", "tb-waive-whatever")
    assert messages(run("TB115", [record], waiver_prefix="waive-")) == [
        "waiver waive-TB103 has no expiry date (add -until-YYYY-MM-DD)"
    ]


def test_expired_waiver_is_not_honoured_and_is_reported() -> None:
    record = labelled("tb-waive-TB102-until-2026-09-30", end=None)
    (missing_end,) = run("TB102", [record])
    assert missing_end.waived_by is None
    assert len(run("TB115", [record])) == 1
