"""The state store as a run holds it, in the one order every writer takes: the run's file lock next to the store
(`Locked`, exit 75, while another run holds it), the store, then its shared lock (PostgreSQL's advisory lock, for
runners on several machines). `sync`, `conflicts` and `state prune` all hold it so; none races another."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trackerbridge.state.lock import lock_path_for, run_lock
from trackerbridge.state.store import StateStore


@contextmanager
def held_store(url: str, project_root: Path) -> Iterator[StateStore]:
    """The store at `url`, locked for this process. A server database's recovery file sits by the lock file."""
    lock_file = lock_path_for(url, project_root / ".trackerbridge")
    with run_lock(lock_file), StateStore.open(url) as store, store.shared_lock():
        if store.recovery_path is None:
            store.recovery_path = lock_file.with_name("recovery.jsonl")
        yield store
