"""Retention: the run history and the audit log keep `state.retention_days` (90 by default) of runs, and
always the last write of each record and field; `trackerbridge state prune`, and `sync` once a day."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import SQLAlchemyError

from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.sandbox import Sandbox
from trackerbridge.state.store import StateStore, Write

NOW = datetime.now(timezone.utc)


def seed(store: StateStore) -> dict[str, int]:
    """Three runs: 120 and 100 days ago, and 10 days ago; OPS-1's field written in all three, OPS-2's only
    in the oldest, OPS-3's last write failed after an old success."""
    runs = {}
    for name, age in (("oldest", 120), ("old", 100), ("recent", 10)):
        at = NOW - timedelta(days=age)
        run = store.begin_run("sync", at)
        writes = [Write(run, "jira", "OPS-1", "health", None, f"{name}", "planned", at=at)]
        writes.append(Write(run, "jira", "OPS-1", "health", None, f"{name}", "ok", at=at))
        if name == "oldest":
            writes.append(Write(run, "jira", "OPS-2", "health", None, "Red", "ok", at=at))
            writes.append(Write(run, "jira", "OPS-3", "health", None, "Amber", "ok", at=at))
        if name == "old":
            writes.append(Write(run, "jira", "OPS-3", "health", None, "Red", "failed", "409", at=at))
        store.record_writes(writes)
        store.finish_run(run, at + timedelta(minutes=1), "ok", {})
        runs[name] = run
    return runs


def test_prune_keeps_recent_runs_and_the_last_write_of_every_field(tmp_path: Path) -> None:
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        runs = seed(store)
        before = len(store.log())
        assert store.prune(NOW - timedelta(days=90), dry_run=True) == (2, 4)
        assert len(store.log()) == before
        assert store.prune(NOW - timedelta(days=90)) == (2, 4)
        assert [r.id for r in store.runs()] == [runs["recent"]]
        kept = {(e.key, e.after, e.outcome) for e in store.log()}
        assert kept == {
            ("OPS-1", "recent", "planned"),
            ("OPS-1", "recent", "ok"),
            ("OPS-2", "Red", "ok"),  # its only write, from the oldest run
            ("OPS-3", "Amber", "ok"),  # the last success...
            ("OPS-3", "Red", "failed"),  # ...and the last attempt
        }
        assert store.written("jira")[("OPS-2", "health")] == "Red"
        assert store.pruned_at() is not None
        assert store.prune(NOW - timedelta(days=90)) == (0, 0)
    con = sqlite3.connect(tmp_path / "state.db")  # still append-only after pruning
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM tb_audit_log")
    con.close()


def test_the_newest_run_is_kept_however_old(tmp_path: Path) -> None:
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        runs = seed(store)
        assert store.prune(NOW) == (2, 4)
        assert [r.id for r in store.runs()] == [runs["recent"]]


def test_retention_days_defaults_to_90_and_is_checked(project: Path) -> None:
    assert Project.load(project).config.state.retention_days == 90
    file = project / "trackerbridge.yaml"
    file.write_text(file.read_text() + "state:\n  retention_days: 0\n")
    result = CliRunner().invoke(main, ["state", "prune", "--project", str(project)])
    assert result.exit_code == 2 and "retention_days" in result.stderr, result.stderr


def test_state_prune_command_and_sync_prune_once_a_day(sandbox_factory: Callable[..., Sandbox], project: Path) -> None:
    url = f"sqlite:///{project / '.trackerbridge' / 'state.db'}"
    with StateStore.open(url) as store:
        seed(store)
    file = project / "trackerbridge.yaml"
    file.write_text(file.read_text() + "state:\n  retention_days: 110\n")
    result = CliRunner().invoke(main, ["state", "prune", "--project", str(project), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("would remove 1 runs and ")
    result = CliRunner().invoke(main, ["state", "prune", "--project", str(project), "--older-than", "50"])
    assert result.exit_code == 0 and result.stdout.startswith("removed 2 runs and 4 audit rows"), result.output
    with StateStore.open(url) as store:
        assert len(store.runs()) == 1
        seed(store)  # old runs again; the next sync prunes them (the command's prune today is forgotten)
        con = sqlite3.connect(project / ".trackerbridge" / "state.db")
        con.execute("DELETE FROM tb_meta WHERE name = 'pruned_at'")
        con.commit()
        con.close()
    file.write_text(file.read_text().replace("retention_days: 110", "retention_days: 30"))
    sb = sandbox_factory(size=40)  # its clock (the run's `now`) is a month before the real one
    result = CliRunner().invoke(
        main,
        ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat(), "--log-format", "json"],
        env=sb.info.as_env(),
    )
    assert result.exit_code == 0, result.stderr[-2000:]
    assert '"event": "pruned"' in result.stderr
    with StateStore.open(url) as store:
        started = [r.started_at for r in store.runs()]
    assert len(started) >= 2 and min(started) >= sb.clock.now() - timedelta(days=30), started


def test_prune_against_a_store_that_cannot_be_opened_is_a_message(project: Path) -> None:
    db = project / ".trackerbridge" / "state.db"
    db.parent.mkdir()
    db.write_bytes(b"not a database" * 100)
    result = CliRunner().invoke(main, ["state", "prune", "--project", str(project)])
    assert result.exit_code == 2 and "damaged" in result.stderr
    assert not isinstance(result.exception, SQLAlchemyError)
