"""The sandbox's clock: real time by default, pinned or shifted when a test needs a known `now`."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


class Clock:
    """Thread-safe clock. `set(t)` pins time; `advance(d)` moves a pinned or shifted clock forward."""

    def __init__(self, pinned: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._pinned = pinned
        self._offset = timedelta(0)

    def now(self) -> datetime:
        with self._lock:
            if self._pinned is not None:
                return self._pinned
            return datetime.now(timezone.utc) + self._offset

    def set(self, when: datetime | None) -> None:
        if when is not None and when.tzinfo is None:
            raise ValueError("clock times must carry a time zone")
        with self._lock:
            self._pinned = when
            self._offset = timedelta(0)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            if self._pinned is not None:
                self._pinned += delta
            else:
                self._offset += delta
