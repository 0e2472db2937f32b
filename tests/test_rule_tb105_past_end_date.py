from datetime import datetime, timezone

import pytest

from rulekit import day, make, messages, run
from trackerbridge.model import Stage

LATE_EVENING_UTC = datetime(2026, 10, 30, 23, 30, tzinfo=timezone.utc)
EARLY_MORNING_UTC = datetime(2026, 10, 31, 5, 0, tzinfo=timezone.utc)


def test_past_end_date_gives_days_and_date() -> None:
    findings = run("TB105", [make(end=day("2026-10-12"))])
    assert messages(findings) == ["3 days past end date 2026-10-12"]
    assert findings[0].severity.value == "warning"


def test_one_day_is_singular() -> None:
    assert messages(run("TB105", [make(end=day("2026-10-14"))])) == ["1 day past end date 2026-10-14"]


def test_ending_today_or_later_passes() -> None:
    assert run("TB105", [make(end=day("2026-10-15")), make(end=day("2027-01-01"))]) == []


def test_finished_and_undated_initiatives_pass() -> None:
    old = day("2026-01-01")
    assert run("TB105", [make(end=old, stage=Stage.DONE), make(end=old, stage=Stage.CANCELLED), make(end=None)]) == []


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", []),  # 23:30 on the 30th: the end day is not over yet
        ("Europe/Berlin", ["1 day past end date 2026-10-30"]),  # already 00:30 on the 31st
        ("America/Los_Angeles", []),  # 16:30 on the 30th
        ("Pacific/Kiritimati", ["1 day past end date 2026-10-30"]),  # UTC+14: the 31st
    ],
)
def test_late_evening_utc_depends_on_the_time_zone(zone: str, expected: list[str]) -> None:
    findings = run("TB105", [make(end=day("2026-10-30"))], now=LATE_EVENING_UTC, params={"timezone": zone})
    assert messages(findings) == expected


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", ["1 day past end date 2026-10-30"]),
        ("Pacific/Honolulu", []),  # 19:00 on the 30th
        ("America/Los_Angeles", []),  # 22:00 on the 30th
    ],
)
def test_early_morning_utc_is_still_yesterday_in_the_west(zone: str, expected: list[str]) -> None:
    findings = run("TB105", [make(end=day("2026-10-30"))], now=EARLY_MORNING_UTC, params={"timezone": zone})
    assert messages(findings) == expected


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        run("TB105", [make(end=day("2026-10-01"))], params={"timezone": "Mars/Olympus"})


def test_time_zone_must_be_text() -> None:
    with pytest.raises(ValueError, match="expected str"):
        run("TB105", [make()], params={"timezone": 2})


def test_unknown_stage_counts_as_active() -> None:
    assert len(run("TB105", [make(end=day("2026-10-01"), stage=None)])) == 1


def test_valid_waiver_waives_and_expired_one_does_not() -> None:
    valid = make(key="OPS-1", end=day("2026-10-01"), labels=frozenset({"tb-waive-TB105-until-2026-12-31"}))
    expired = make(key="OPS-2", end=day("2026-10-01"), labels=frozenset({"tb-waive-TB105-until-2026-10-01"}))
    assert [(f.key, f.waived_by) for f in run("TB105", [valid, expired])] == [
        ("OPS-1", "tb-waive-TB105-until-2026-12-31"),
        ("OPS-2", None),
    ]
