"""The run lock: a second run is turned away at once with exit code 75; a dead holder frees it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from trackerbridge.state.lock import EXIT_LOCKED, Locked, lock_path_for, run_lock

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="flock and SIGKILL")

HOLDER = """
import sys, time
from pathlib import Path
from trackerbridge.state.lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def test_second_acquire_is_refused_at_once_with_exit_code_75(tmp_path: Path) -> None:
    path = tmp_path / "state" / "trackerbridge.db.lock"
    with run_lock(path, now=T0) as info:
        assert info.pid == os.getpid()
        started = time.monotonic()
        with pytest.raises(Locked) as caught, run_lock(path):
            pytest.fail("the second run got the lock")
        assert time.monotonic() - started < 1.0
    err = caught.value
    assert err.exit_code == EXIT_LOCKED == 75
    assert str(err) == err.message
    assert err.message.startswith(
        f"another trackerbridge sync is running (pid {os.getpid()}, since 2026-11-25T09:00:00Z); "
        "this run exits without writing"
    )
    assert err.holder is not None and err.holder.pid == os.getpid() and err.holder.since == T0


def test_lock_file_says_who_holds_it_and_is_cleared_after(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    with run_lock(path, now=T0):
        data = json.loads(path.read_text())
        assert data["pid"] == os.getpid()
        assert datetime.fromisoformat(data["since"]) == T0
    assert path.exists() and path.read_text() == ""


def test_released_after_the_body_even_on_error(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    with pytest.raises(ValueError), run_lock(path):
        raise ValueError("sync failed")
    with run_lock(path) as info:  # would raise Locked if the failure had kept it
        assert info.pid == os.getpid()


@posix_only
def test_holder_without_details_yet_still_gives_a_message(tmp_path: Path) -> None:
    import fcntl

    path = tmp_path / "run.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(Locked, match=r"\(unknown pid, since unknown time\)"), run_lock(path):
            pass
    finally:
        os.close(fd)


@posix_only
def test_lock_is_freed_when_the_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held", holder.stderr.read() if holder.stderr else ""
        since = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
        with pytest.raises(Locked, match=rf"\(pid {holder.pid}, since {since}\)"), run_lock(path):
            pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        assert holder.returncode == -signal.SIGKILL
        with run_lock(path) as info:  # no cleanup ran in the holder: the OS released its lock
            assert info.pid == os.getpid()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        for stream in (holder.stdout, holder.stderr):
            if stream is not None:
                stream.close()


def test_lock_path_sits_next_to_a_sqlite_file(tmp_path: Path) -> None:
    assert lock_path_for(f"sqlite:///{tmp_path}/s/state.db", tmp_path / "x") == tmp_path / "s" / "state.db.lock"
    assert lock_path_for("sqlite:///state.db", tmp_path) == Path("state.db.lock")
    fallback = lock_path_for("postgresql+psycopg://tb@db.internal/tb", tmp_path)
    assert fallback == tmp_path / "trackerbridge.lock"
    assert lock_path_for("sqlite://", tmp_path) == tmp_path / "trackerbridge.lock"


def test_a_lock_directory_another_run_made_meanwhile_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs started together both find `.trackerbridge/` missing; the second one's mkdir must not fail."""
    path = tmp_path / ".trackerbridge" / "state.db.lock"
    path.parent.mkdir()
    seen = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if self == path.parent else seen(self))
    with run_lock(path):
        assert seen(path)
