"""The run lock: two overlapping cron runs never write at once.

An OS lock (flock on POSIX, msvcrt on Windows) on a file next to the state store, not a row in the
database: the OS drops it when the holder dies, however it dies (SIGKILL, OOM, a lost node), so a
crashed run never leaves a stale lock that blocks every later run. The file's contents (pid and
start time) only serve the message of the run that is turned away.

The lock is local to one machine. Runners on several machines sharing a PostgreSQL store need a
lock in that database as well (an advisory lock); this module does not provide one.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["EXIT_LOCKED", "LockInfo", "LockUnusable", "Locked", "lock_path_for", "run_lock"]

EXIT_LOCKED = 75  # EX_TEMPFAIL: "try again later", which schedulers understand as not a failure of the job


@dataclass(frozen=True)
class LockInfo:
    """Who holds the lock, as written into the lock file."""

    pid: int | None
    since: datetime | None
    host: str | None = None


class Locked(RuntimeError):
    """Another run holds the lock. The CLI prints the message and exits with `exit_code`."""

    exit_code = EXIT_LOCKED

    def __init__(self, message: str, holder: LockInfo | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.holder = holder


class LockUnusable(RuntimeError):
    """The lock file cannot be made (its path is a directory, its directory is read-only): exit 2."""

    exit_code = 2


def lock_path_for(url: str, fallback_dir: Path) -> Path:
    """The lock file for a state store URL: next to a SQLite file (state.db -> state.db.lock), else
    in `fallback_dir` (a server database has no file of its own to sit next to)."""
    parsed = make_url(url)
    db = parsed.database
    if parsed.get_backend_name() == "sqlite" and db and db != ":memory:" and not db.startswith("file:"):
        p = Path(db).expanduser()
        return p.with_name(p.name + ".lock")
    return fallback_dir / "trackerbridge.lock"


def _fmt(t: datetime | None) -> str:
    return "unknown time" if t is None else t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_holder(fd: int) -> LockInfo:
    """Best effort: the holder may not have written its details yet."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096)
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        since = datetime.fromisoformat(data["since"]) if data.get("since") else None
        return LockInfo(data.get("pid"), since, data.get("host"))
    except (OSError, ValueError, TypeError, AttributeError):
        return LockInfo(None, None)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _WIN_OFFSET = 1 << 20  # lock a byte far past the contents, so others can still read who holds it

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def run_lock(path: Path, *, now: datetime | None = None) -> Iterator[LockInfo]:
    """Hold the run lock for the body, or raise `Locked` at once (never wait: the next cron run
    will come). The file stays after release (unlinking a lock file races with a new holder)."""
    path = Path(path)
    if path.is_dir():
        raise LockUnusable(f"the lock path {path} is a directory; remove it, or point `state.url` elsewhere")
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # two runs may start at once
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by child processes (PEP 446)
    except OSError as exc:
        raise LockUnusable(
            f"cannot create the lock file {path}: {exc.strerror or exc}; make its directory writable"
        ) from None
    try:
        if not _try_lock(fd):
            holder = _read_holder(fd)
            pid = "unknown pid" if holder.pid is None else f"pid {holder.pid}"
            where = f" on {holder.host}" if holder.host and holder.host != socket.gethostname() else ""
            raise Locked(
                f"another trackerbridge sync is running ({pid}{where}, since {_fmt(holder.since)}); "
                f"this run exits without writing (lock: {path})",
                holder,
            )
        info = LockInfo(os.getpid(), (now or datetime.now(timezone.utc)).astimezone(timezone.utc), socket.gethostname())
        data = {"pid": info.pid, "since": info.since.isoformat() if info.since else None, "host": info.host}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(data) + "\n").encode("utf-8"))
        try:
            yield info
        finally:
            try:
                os.ftruncate(fd, 0)  # nobody holds it now: leave no stale pid behind
            finally:
                _unlock(fd)
    finally:
        os.close(fd)
