"""Optional persistence of the sandbox's data to its data dir, so it survives a restart.

A snapshot is one pickle written atomically (temp file + rename). Writes mark the data dirty and
a background thread saves at most once per interval, so a stream of writes costs one save.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

SNAPSHOT = "sandbox-state.pickle"
FORMAT = 2  # 2: Jira issues carry entity properties


def load_snapshot(directory: Path) -> dict[str, Any] | None:
    path = directory / SNAPSHOT
    if not path.exists():
        return None
    with path.open("rb") as fh:
        state = pickle.load(fh)  # our own file, written by save_snapshot below
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not a sandbox snapshot of format {FORMAT}; delete it to start afresh")
    return state


def save_snapshot(directory: Path, state: dict[str, Any]) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: keys and the demo data
    fd, tmp = tempfile.mkstemp(prefix=".snapshot-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump({"format": FORMAT, **state}, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / SNAPSHOT)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Saver:
    """Debounced background saving; `flush()` saves now if anything changed."""

    def __init__(self, save: Callable[[], None], interval: float = 1.0) -> None:
        self._save = save
        self._interval = interval
        self._lock = threading.Lock()
        self._dirty = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-saver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def mark(self) -> None:
        self._dirty = True
        self._wake.set()

    def flush(self) -> None:
        with self._lock:
            if self._dirty:
                self._dirty = False
                self._save()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.wait(self._interval):
                return
            self.flush()
