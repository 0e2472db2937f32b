"""`locked_sync`: what a scheduled run holds around `run_sync` (the run lock, the store, the pacing), what it
cleans up first (runs a dead process left "running"), the watermark floor it gives a live run, and the daily
retention after it. `run_sync` is replaced by a spy that looks at the world while it runs; the run itself is
tested against the sandbox in test_sync.py and test_reliability.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import trackerbridge.sync as sync_module
from trackerbridge.config.project import Project
from trackerbridge.connectors import http
from trackerbridge.state.lock import Locked, lock_path_for, run_lock
from trackerbridge.state.store import StateStore
from trackerbridge.sync import WATERMARK_MARGIN, locked_sync

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def url_of(project: Path) -> str:
    return f"sqlite:///{project / '.trackerbridge' / 'state.db'}"


class Spy:
    """Stands in for `run_sync`: records its arguments and what holds while it runs."""

    def __init__(self, lock_file: Path) -> None:
        self.lock_file = lock_file
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self, project: Project, names: list[str], now: datetime, store: StateStore, env: Any, **options: Any
    ) -> str:
        with pytest.raises(Locked), run_lock(self.lock_file):  # the run lock is held during the run
            pass
        self.calls.append(
            {
                "names": names,
                "now": now,
                "statuses": [r.status for r in store.runs()],
                "pacing": [p.share for p in http._PACING],
                **options,
            }
        )
        return "result"


@pytest.fixture
def spy(project: Path, monkeypatch: pytest.MonkeyPatch) -> Spy:
    (project / ".trackerbridge").mkdir(exist_ok=True)
    spy = Spy(lock_path_for(url_of(project), project / ".trackerbridge"))
    monkeypatch.setattr(sync_module, "run_sync", spy)
    return spy


def test_a_live_run_holds_the_lock_and_the_pacing_and_its_watermark_floor_trails_its_start(
    project: Path, spy: Spy
) -> None:
    moments = iter([T0, T0 + timedelta(seconds=40)])

    def clock() -> datetime:
        return next(moments)

    result = locked_sync(Project.load(project), ("sandbox-jira",), url_of(project), {}, dry_run=True, clock=clock)

    assert result == "result"
    [call] = spy.calls
    assert call["names"] == ["sandbox-jira"]
    assert call["now"] == T0  # judged as of the start
    assert call["watermark_floor"] == T0 - WATERMARK_MARGIN == T0 - timedelta(minutes=2)
    assert call["clock"] is clock  # the trackers' time: connectors may read relative to it
    assert call["dry_run"] is True and call["full"] is False
    assert call["pacing"] == [0.5]  # quota.share's default
    assert http._PACING == []  # ... and only during the run
    with run_lock(spy.lock_file):  # released afterwards
        pass


def test_an_as_of_run_has_no_floor_and_no_trackers_clock(project: Path, spy: Spy) -> None:
    def clock() -> datetime:
        return T0

    locked_sync(Project.load(project), (), url_of(project), {}, as_of=T0 - timedelta(days=3), dry_run=True, clock=clock)

    [call] = spy.calls
    assert call["now"] == T0 - timedelta(days=3)
    assert call["watermark_floor"] is None and call["clock"] is None


def test_runs_a_dead_process_left_running_are_marked_crashed_before_the_run(project: Path, spy: Spy) -> None:
    with StateStore.open(url_of(project)) as store:
        finished = store.begin_run("sync", T0 - timedelta(hours=2))
        store.finish_run(finished, T0 - timedelta(hours=2), "ok", {})
        store.begin_run("sync", T0 - timedelta(hours=1))  # killed: never finished

    locked_sync(Project.load(project), (), url_of(project), {}, as_of=T0, dry_run=True)

    assert spy.calls[0]["statuses"] == ["crashed", "ok"]


def test_a_run_that_holds_the_lock_elsewhere_stops_this_one_before_anything_runs(project: Path, spy: Spy) -> None:
    with run_lock(spy.lock_file), pytest.raises(Locked):
        locked_sync(Project.load(project), (), url_of(project), {}, as_of=T0)
    assert spy.calls == []


def test_a_writing_run_prunes_once_a_day_and_a_dry_run_never(project: Path, spy: Spy) -> None:
    config = Project.load(project)
    url = url_of(project)
    now = datetime.now(timezone.utc)

    locked_sync(config, (), url, {}, as_of=T0, dry_run=True)
    with StateStore.open(url) as store:
        assert store.pruned_at() is None

    locked_sync(config, (), url, {}, as_of=T0, clock=lambda: now)
    with StateStore.open(url) as store:
        first = store.pruned_at()
    assert first is not None

    locked_sync(config, (), url, {}, as_of=T0, clock=lambda: now + timedelta(hours=23))
    with StateStore.open(url) as store:
        assert store.pruned_at() == first  # not again within the day

    locked_sync(config, (), url, {}, as_of=T0, clock=lambda: now + timedelta(days=1, minutes=1))
    with StateStore.open(url) as store:
        again = store.pruned_at()
    assert again is not None and again > first


def test_every_writer_holds_the_store_the_same_way_and_waits_for_none(project: Path) -> None:
    """`conflicts` and `state prune` take the store as `sync` does (state.held): while a run holds the lock,
    both exit 75 before touching the store; once it is released, prune runs, and a held store always has a
    recovery file beside the lock (SQLite's own, or one by the lock file for a server database)."""
    from click.testing import CliRunner

    from trackerbridge.cli import main
    from trackerbridge.state.held import held_store

    (project / ".trackerbridge").mkdir(exist_ok=True)
    lock_file = lock_path_for(url_of(project), project / ".trackerbridge")
    runner = CliRunner()
    prune = ["state", "prune", "--project", str(project)]
    with run_lock(lock_file):
        assert runner.invoke(main, prune).exit_code == 75
        assert runner.invoke(main, ["conflicts", "--project", str(project)]).exit_code == 75
    done = runner.invoke(main, prune)
    assert done.exit_code == 0, done.output
    with held_store(url_of(project), project) as store:
        assert store.recovery_path is not None and store.recovery_path.parent == lock_file.parent
        with pytest.raises(Locked), run_lock(lock_file):
            pass
