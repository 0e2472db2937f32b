"""Where a connector's incremental read starts, and where its watermark goes next: one value per
connector per run, so the arithmetic lives here and nowhere else. Pure: no clock, no I/O.

Three margins meet in a watermark, each for its own reason:

- `overlap` (the connector's, `Connector.overlap`): how far before the watermark a read starts.
  Jira's JQL compares to the minute in the signed-in user's time zone, so its reads start two minutes
  early and re-read what they already had (harmless: the newest copy of a key wins). Salesforce's
  `SystemModstamp >= since` is exact to the millisecond, so its overlap is zero.
- `floor` (the run's, `sync.WATERMARK_MARGIN`): the wall clock at the start of a live run, less a margin
  for the trackers' clocks differing from ours. It lets the watermark move past trackerbridge's own
  writes once they were re-read, so an idle run reads nothing. An `--as-of` run has none.
- `high_water`: the newest modification stamp the run read, so a watermark never passes a record the
  run did not see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Cursor:
    """One connector's read window for one run."""

    watermark: datetime | None = None  # what the last complete run stored; None: read everything
    overlap: timedelta = timedelta(0)  # the connector's: how far before the watermark its reads start
    floor: datetime | None = None  # the run's: the watermark may advance at least to here
    high_water: datetime | None = None  # the newest modification stamp read so far

    @property
    def full(self) -> bool:
        """A read of every record in scope (no watermark): its snapshot replaces the stored one."""
        return self.watermark is None

    @property
    def start(self) -> datetime | None:
        """Where the next read starts: the watermark less the connector's overlap; None: from the beginning."""
        return None if self.watermark is None else self.watermark - self.overlap

    def seen(self, stamps: Iterable[datetime | None]) -> Cursor:
        """This cursor with `high_water` advanced past the modification stamps read (None: a record without one)."""
        newest = max((s for s in (self.high_water, *stamps) if s is not None), default=None)
        return self if newest == self.high_water else replace(self, high_water=newest)

    @property
    def next_watermark(self) -> datetime | None:
        """The watermark a run that finished its writes stores: the newest of what it read and its floor;
        None (the stored one stays) when it has neither."""
        return max((m for m in (self.high_water, self.floor) if m is not None), default=None)
