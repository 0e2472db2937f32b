"""SIGTERM and SIGINT as an exception, so a run that systemd or Kubernetes stops unwinds like any other
error: the in-flight batch is abandoned (its intent is in the audit log), the outcomes so far are
recorded, the run is marked "interrupted" and the locks are released by their context managers.

Why a BaseException: retry loops and connectors catch `Exception`; a stop request must get past them.
A second signal while unwinding is ignored, so the clean-up itself is not cut short. Inside a
`deferred()` block (a state-store transaction, where a driver caught mid-call would be left unusable)
the exception waits until the block ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Interrupted", "deferred", "stop_on_signals"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_state = {"depth": 0, "pending": 0}  # deferred() nesting in the main thread, and a signal that waits


class Interrupted(BaseException):
    """A stop request: exit with 128 + the signal number (143 for SIGTERM, 130 for SIGINT)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.name}")


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the body, SIGTERM and SIGINT raise `Interrupted` (once); the old handlers come back after."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    fired: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if fired:
            return
        fired.append(signum)
        if _state["depth"]:
            _state["pending"] = signum
            return
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
        _state["pending"] = 0


@contextmanager
def deferred() -> Iterator[None]:
    """A block a stop request must not cut in two; the request is raised when the outermost one ends
    (without an error of its own). Only the main thread defers: signals are delivered there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
    if not _state["depth"] and _state["pending"]:
        signum, _state["pending"] = _state["pending"], 0
        raise Interrupted(signum)
