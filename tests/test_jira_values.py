"""Reading Jira's JSON values: every datetime form Jira sends, and users shared between records."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from trackerbridge.connectors.base import FieldInfo
from trackerbridge.connectors.jira import DATETIME_TEXT, from_parts, normalise, person_of, to_datetime
from trackerbridge.model import Person

UTC = timezone.utc
IST = timezone(timedelta(hours=5, minutes=30))
PST = timezone(-timedelta(hours=8))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-02T09:30:00.000+0000", datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),  # Cloud and Data Center
        ("2026-11-02T09:30:00.123+0530", datetime(2026, 11, 2, 9, 30, 0, 123000, tzinfo=IST)),
        ("2026-11-02T09:30:00.000-0800", datetime(2026, 11, 2, 9, 30, tzinfo=PST)),
        ("2026-11-02T09:30:00.000+05:30", datetime(2026, 11, 2, 9, 30, tzinfo=IST)),
        ("2026-11-02T09:30:00Z", datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),
        ("2026-11-02T09:30:00.5Z", datetime(2026, 11, 2, 9, 30, 0, 500000, tzinfo=UTC)),
        ("2026-11-02T09:30:00+0000", datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),  # no milliseconds
        ("2026-11-02T09:30:00", datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),  # no zone: UTC
        ("2026-11-02 09:30", datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),  # no seconds
        ("2026-11-02T09:30:00.123456789+0000", datetime(2026, 11, 2, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2026-11-02T09:30:00,25+0000", datetime(2026, 11, 2, 9, 30, 0, 250000, tzinfo=UTC)),
        ("2026-11-02T09:30:00.000 +0000", datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),
        ("  2026-11-02T09:30:00.000+0000\n", datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),
        (datetime(2026, 11, 2, 9, 30), datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),
        (datetime(2026, 11, 2, 9, 30, tzinfo=IST), datetime(2026, 11, 2, 9, 30, tzinfo=IST)),
    ],
)
def test_every_datetime_form_jira_sends_reads_as_an_aware_datetime(text: object, expected: datetime) -> None:
    value = to_datetime(text)
    assert value == expected
    assert value is not None and value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", ["2026-11-02", "soon", "", "   ", "2026-11-02T09", "20261102T093000Z", None, 7])
def test_what_is_not_a_datetime_reads_as_none(text: object) -> None:
    assert to_datetime(text) is None


def test_the_fast_reading_agrees_with_the_pattern_on_every_form_it_accepts() -> None:
    """`to_datetime` lets fromisoformat read what it can; `from_parts` is the reading by the pattern."""
    dates = ["2026-11-02", "2024-02-29", "0001-01-01", "9999-12-31"]
    times = ["09:30", "09:30:05", "23:59:59"]
    fractions = ["", ".1", ".12", ".123", ".1234", ".123456", ".1234567", ",5"]
    zones = ["", "Z", "+0000", "-0000", "+00:00", "+0530", "+05:30", "-0800", "+2359", " +0100"]
    for day, sep, time, fraction, zone in itertools.product(dates, "T ", times, fractions, zones):
        text = f"{day}{sep}{time}{fraction if time.count(':') == 2 else ''}{zone}"
        match = DATETIME_TEXT.match(text)
        assert match, text
        by_pattern = from_parts(match)
        read = to_datetime(text)
        assert read == by_pattern and read is not None and read.utcoffset() == by_pattern.utcoffset(), text


def test_a_user_named_on_many_records_is_one_person_object() -> None:
    user = {"accountId": "a-1", "emailAddress": "ann@example.com", "displayName": "Ann Lee", "active": True}
    first, again = person_of(dict(user)), person_of(dict(user))
    assert first == Person("ann@example.com", "Ann Lee", "a-1")
    assert first is again  # shared, not one copy per record
    assert person_of({**user, "displayName": "Ann Lee-Smith"}) == Person("ann@example.com", "Ann Lee-Smith", "a-1")
    assert person_of("JIRAUSER1") == Person(ref="JIRAUSER1")
    assert person_of("") is None and person_of(None) is None


def test_option_values_read_as_their_text() -> None:
    team = FieldInfo("customfield_1", "Team", "option")
    assert normalise({"value": "Payments", "id": "1"}, team) == "Payments"
    assert normalise({"value": "Payments", "child": {"value": "Cards"}}, team) == "Payments / Cards"
    assert normalise(None, team) is None
