"""The read window of one connector for one run (`trackerbridge.cursor.Cursor`): where the next read
starts and where the watermark goes, in one place."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta, timezone

import pytest

from trackerbridge.connectors.base import Connector
from trackerbridge.connectors.jira import OVERLAP, JiraConnector
from trackerbridge.connectors.salesforce import SalesforceConnector
from trackerbridge.cursor import Cursor

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


def test_without_a_watermark_the_read_starts_at_the_beginning_and_is_full() -> None:
    cursor = Cursor(None, OVERLAP, floor=T0)
    assert cursor.start is None
    assert cursor.full


def test_the_read_starts_the_connectors_overlap_before_the_watermark() -> None:
    assert Cursor(T0, 2 * MINUTE).start == T0 - 2 * MINUTE
    assert Cursor(T0).start == T0  # no overlap: exactly the watermark
    assert not Cursor(T0).full


def test_connectors_state_their_overlap_as_data() -> None:
    assert JiraConnector.overlap == OVERLAP == 2 * MINUTE  # JQL compares to the minute, in the user's zone
    assert SalesforceConnector.overlap == timedelta(0)  # SystemModstamp >= since is exact to the millisecond
    assert Connector.overlap == timedelta(0)


def test_high_water_is_the_newest_stamp_seen_and_ignores_records_without_one() -> None:
    cursor = Cursor(T0, OVERLAP)
    advanced = cursor.seen([T0 - MINUTE, None, T0 + 3 * MINUTE, T0 + MINUTE])
    assert advanced.high_water == T0 + 3 * MINUTE
    assert cursor.high_water is None  # a new value: the cursor read from is unchanged
    assert advanced.seen([T0]).high_water == T0 + 3 * MINUTE  # never moves back
    assert advanced.seen([]) is advanced
    assert Cursor(T0).seen([None, None]).high_water is None


def test_the_next_watermark_is_the_newest_of_high_water_and_floor() -> None:
    assert Cursor(T0, floor=T0 + 10 * MINUTE).seen([T0 + MINUTE]).next_watermark == T0 + 10 * MINUTE
    assert Cursor(T0, floor=T0 + MINUTE).seen([T0 + 5 * MINUTE]).next_watermark == T0 + 5 * MINUTE
    # an --as-of run has no floor: the newest record read, or (nothing read) None: the stored one stays
    assert Cursor(T0).seen([T0 + 2 * MINUTE]).next_watermark == T0 + 2 * MINUTE
    assert Cursor(T0).next_watermark is None
    assert Cursor(None, floor=T0).next_watermark == T0


def test_the_next_run_starts_where_this_one_leaves_the_watermark_less_the_overlap() -> None:
    first = Cursor(None, OVERLAP, floor=T0).seen([T0 - 7 * MINUTE])
    second = Cursor(first.next_watermark, OVERLAP)
    assert second.start == T0 - OVERLAP


def test_a_cursor_is_a_value() -> None:
    cursor = Cursor(T0, OVERLAP)
    with pytest.raises(FrozenInstanceError):
        cursor.watermark = None  # type: ignore[misc]
    assert cursor == Cursor(T0, OVERLAP) and hash(cursor) == hash(Cursor(T0, OVERLAP))
