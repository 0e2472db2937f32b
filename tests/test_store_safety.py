"""The state store is checked before use and every failure of it is a message and a documented exit code:
damaged, truncated or garbage files, a newer schema, missing tables, paths that are directories, an
unreachable database, a disk that fills in the middle of the writes. Also: `finished_at`, and files
created private (0600/0700)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import event

from test_reliability import sync_process
from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox
from trackerbridge.state.store import SCHEMA_VERSION, StateStore, StoreUnusable, Write

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
SECRET = "hunter2-Pa55w0rd-q7"


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(main, args, env=env or {})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def state_file(project: Path) -> Path:
    return project / ".trackerbridge" / "state.db"


def filled_store(path: Path, rows: int = 3000) -> None:
    """A healthy store with enough rows to span many pages."""
    with StateStore.open(f"sqlite:///{path}") as store:
        run = store.begin_run("sync", T0)
        store.record_writes(
            Write(run, "sandbox-jira", f"OPS-{n}", "customfield_1", None, "Red" * 20, "ok", at=T0) for n in range(rows)
        )
        store.finish_run(run, T0, "ok", {})


def sync_exit(project: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = invoke(["sync", "--project", str(project)], env)
    return result.exit_code, result.stderr


# --- damaged stores are refused on open ---------------------------------------------------------


def test_a_garbage_file_is_refused_with_exit_2_and_how_to_recover(project: Path) -> None:
    db = state_file(project)
    db.parent.mkdir()
    db.write_bytes(os.urandom(8192))
    code, err = sync_exit(project)
    assert code == 2, err
    assert "damaged" in err and "--full" in err and "new store" in err and str(db) in err
    assert "Traceback" not in err


def test_a_truncated_store_is_refused(project: Path) -> None:
    db = state_file(project)
    db.parent.mkdir()
    filled_store(db)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    code, err = sync_exit(project)
    assert code == 2, err
    assert "damaged" in err and "--full" in err


def test_a_store_corrupted_in_the_middle_is_refused_by_quick_check(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    filled_store(db)
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    pages = db.stat().st_size // page
    assert pages > 20
    with db.open("r+b") as fh:  # scribble over a run of b-tree pages in the middle (not the header page)
        fh.seek(page * (pages // 2))
        fh.write(b"\xa5" * page * 3)
    with pytest.raises(StoreUnusable, match=r"damaged .*--full"):
        StateStore.open(f"sqlite:///{db}")


def test_a_newer_schema_is_refused_and_says_so(project: Path) -> None:
    db = state_file(project)
    db.parent.mkdir()
    StateStore.open(f"sqlite:///{db}").close()
    con = sqlite3.connect(db)
    con.execute("UPDATE tb_meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    code, err = sync_exit(project)
    assert code == 2, err
    assert f"schema version {SCHEMA_VERSION + 1}" in err and "newer trackerbridge" in err and "--full" in err


def test_a_missing_table_is_refused(project: Path) -> None:
    db = state_file(project)
    db.parent.mkdir()
    StateStore.open(f"sqlite:///{db}").close()
    con = sqlite3.connect(db)
    con.execute("DROP TABLE tb_watermarks")
    con.commit()
    con.close()
    code, err = sync_exit(project)
    assert code == 2, err
    assert "tb_watermarks" in err and "--full" in err


def test_a_state_path_that_is_a_directory_is_exit_2(project: Path) -> None:
    state_file(project).mkdir(parents=True)
    code, err = sync_exit(project)
    assert code == 2, err
    assert "is a directory" in err


def test_a_lock_path_that_is_a_directory_is_exit_2(project: Path) -> None:
    lock = state_file(project).with_name("state.db.lock")
    lock.mkdir(parents=True)
    code, err = sync_exit(project)
    assert code == 2, err
    assert "lock path" in err and "is a directory" in err and "Traceback" not in err


def test_an_unreachable_postgresql_is_exit_3_and_its_password_never_shown(project: Path) -> None:
    url = f"postgresql+psycopg://tb:{SECRET}@127.0.0.1:1/tb?sslmode=disable&password={SECRET}&connect_timeout=2"
    code, err = sync_exit(project, {"TRACKERBRIDGE_STATE_URL": url})
    assert code == 3, err
    assert "cannot reach the state store" in err and "127.0.0.1:1" in err
    assert SECRET not in err and "***" in err
    code, err = invoke(["report", "--project", str(project), "--state", url]).exit_code, ""
    assert code in (2, 3)


# --- a read-only store still gives its report ---------------------------------------------------


def _read_only(directory: Path) -> list[str]:
    """A command prefix under which `directory` cannot be written. Root ignores file modes, so for root the
    child gets its own mount namespace with `directory` bind-mounted read-only (the interpreter may live
    under a home an unprivileged user cannot enter, so switching users is not an option there)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("unshare") is None:
        pytest.fail("root needs util-linux's unshare to make a directory read-only for a child process")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(directory)]


def test_report_works_on_a_read_only_store_and_sync_says_why_it_cannot(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    # pytest's own temporary directories are private to root: the unprivileged child needs a way in
    outside = Path(tempfile.mkdtemp(prefix="tb-readonly-"))
    outside.chmod(0o755)
    shutil.copytree(project, outside / "project")
    project = outside / "project"
    try:
        _report_on_a_read_only_store(sandbox_factory, project)
    finally:
        for p in [project, *project.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(outside)


def _report_on_a_read_only_store(sandbox_factory: Callable[..., Sandbox], project: Path) -> None:
    sb = sandbox_factory(size=40)
    env = sb.info.as_env()
    result = invoke(["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat()], env)
    assert result.exit_code == 0, result.stderr
    store_dir = state_file(project).parent
    for p in [project, *project.rglob("*")]:  # the project readable by the unprivileged child, nothing writable
        p.chmod(0o555 if p.is_dir() else 0o444)
    if True:
        child_env = {**os.environ, **env, "HOME": str(project)}
        report = subprocess.run(
            [
                *_read_only(project),
                sys.executable,
                "-m",
                "trackerbridge",
                "report",
                "--project",
                str(project),
                "--format",
                "json",
            ],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert report.returncode == 0, report.stderr[-2000:]
        assert '"trackerbridge.report/v1"' in report.stdout
        sync = subprocess.run(
            [*_read_only(project), sys.executable, "-m", "trackerbridge", "sync", "--project", str(project)],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sync.returncode == 2, sync.stderr[-2000:]
        assert "Traceback" not in sync.stderr and ("not writable" in sync.stderr or "cannot create" in sync.stderr)
    assert store_dir.exists()


# --- a disk that fills in the middle of the writes ----------------------------------------------


def test_a_disk_full_mid_write_is_exit_5_and_every_tracker_write_is_kept(
    sandbox_factory: Callable[..., Sandbox], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's own SQLITE_FULL, from `max_page_count`: once the first write's outcome is recorded, the
    file may not grow any more, so a later outcome cannot be written. Every write that reached the
    tracker is then in the audit log (as done, or as intended for writes in flight) or in the recovery
    file next to it."""
    sb = sandbox_factory(size=60)
    opened = StateStore.open
    outcomes = [0]

    def open_full(url: str, **kw: Any) -> StateStore:
        store = opened(url, **kw)

        @event.listens_for(store._engine, "before_cursor_execute")
        def _fill(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            if statement.startswith("INSERT INTO tb_audit_log") and "'ok'" in repr(params):
                outcomes[0] += 1
                if outcomes[0] == 2:  # from the second outcome on: the disk is full
                    pages = cursor.execute("PRAGMA page_count").fetchone()[0]
                    cursor.execute(f"PRAGMA max_page_count = {pages}")

        return store

    monkeypatch.setattr(StateStore, "open", staticmethod(open_full))
    sb.accounting.reset()
    result = invoke(["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat()], sb.info.as_env())
    assert result.exit_code == 5, result.stderr[-2000:]
    recovery = state_file(project).with_name("state.db.recovery.jsonl")
    assert "full" in result.stderr and str(recovery) in result.stderr
    monkeypatch.undo()
    written = {
        r.path.split("/")[5]
        for r in sb.accounting.records()
        if r.service == "jira" and r.method == "PUT" and "/issue/" in r.path and 200 <= r.status < 300
    }
    bulk = [t for t in sb.jira.bulk.tasks.values() if t.kind == "bulk"]  # Jira Cloud bulk edits (issue 15)
    written |= {i.key for t in bulk for n in t.processed if (i := sb.jira_data.issue(str(n)))}
    assert written
    with StateStore.open(f"sqlite:///{state_file(project)}") as store:
        logged = {e.key for e in store.log() if e.outcome == "ok"}
        intended = {e.key for e in store.log() if e.outcome == "planned"}
    import json

    recovered = {json.loads(line)["key"] for line in recovery.read_text().splitlines()}
    assert recovered, "nothing reached the recovery file"
    # Outcomes the store refused are in the recovery file; writes still in flight when it failed (the
    # connector writes several records at once) have their intent in the audit log, as after a crash.
    assert written <= logged | recovered | intended, sorted(written - logged - recovered - intended)[:5]
    assert recovered - logged and not recovered & logged
    assert stat.S_IMODE(recovery.stat().st_mode) == 0o600


# --- finished_at, and private files -------------------------------------------------------------


def test_a_run_records_when_it_finished_and_its_files_are_private(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    sb = sandbox_factory(size=60)
    as_of = sb.clock.now()
    older = state_file(project)  # a store an older trackerbridge left readable to everyone
    older.parent.mkdir(mode=0o700)
    StateStore.open(f"sqlite:///{older}").close()
    older.chmod(0o644)
    result = invoke(["sync", "--project", str(project), "--as-of", as_of.isoformat()], sb.info.as_env())
    assert result.exit_code == 0, result.stderr
    with StateStore.open(f"sqlite:///{state_file(project)}") as store:
        (run,) = store.runs()
    assert run.status == "ok" and run.started_at == as_of
    assert run.finished_at is not None and as_of < run.finished_at < as_of + timedelta(minutes=5)
    directory = state_file(project).parent
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    private = [p for p in directory.iterdir() if p.name.startswith("state.db")]
    assert {p.name for p in private} >= {"state.db", "state.db.lock"}
    for p in private:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    out = project / "audit.json"
    code = invoke(
        ["audit", "--project", str(project), "--format", "json", "--output", str(out), "--as-of", as_of.isoformat()],
        sb.info.as_env(),
    ).exit_code
    assert code in (0, 1) and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_the_sandbox_data_dir_is_private(sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> None:
    data = tmp_path / "sandbox-data"
    sb = sandbox_factory(size=20, data_dir=data)
    sb.save()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for p in data.iterdir():
        assert not stat.S_IMODE(p.stat().st_mode) & 0o077 or p.suffix == ".pem", p


# --- SIGTERM and SIGINT end a run cleanly ---------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_write_ends_the_run_cleanly(
    sandbox_factory: Callable[..., Sandbox], project: Path, sig: signal.Signals, code: int
) -> None:
    """A real `trackerbridge sync` process is signalled once the sandbox has taken some of its writes:
    it stops, records what it wrote, marks the run interrupted, frees the lock and says so in one line."""
    sb = sandbox_factory(size=120, latency_ms=30)
    process = sync_process(sb, project, text=True)
    record = sb.accounting.record
    writes = [0]

    def counting(entry: Any) -> None:
        record(entry)
        if entry.method in ("PUT", "PATCH") and "/_sandbox/" not in entry.path:
            writes[0] += 1
            if writes[0] == 5:
                process.send_signal(sig)

    sb.accounting.record = counting  # type: ignore[method-assign]
    try:
        _, err = process.communicate(timeout=120)
    finally:
        sb.accounting.record = record  # type: ignore[method-assign]
    assert process.returncode == code, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith(f"trackerbridge sync: stopped by {sig.name}"), err[-2000:]
    assert "Traceback" not in err
    with StateStore.open(f"sqlite:///{state_file(project)}") as store:
        (run,) = store.runs()
        assert run.status == "interrupted" and run.finished_at is not None
        done = {e.key for e in store.log(run_id=run.id) if e.outcome in ("ok", "planned")}
    written = {
        r.path.split("/")[5]
        for r in sb.accounting.records()
        if r.service == "jira" and r.method == "PUT" and "/issue/" in r.path and 200 <= r.status < 300
    }
    bulk = [t for t in sb.jira.bulk.tasks.values() if t.kind == "bulk"]  # Jira Cloud bulk edits (issue 15)
    written |= {i.key for t in bulk for n in t.processed if (i := sb.jira_data.issue(str(n)))}
    assert written and written <= done
    assert writes[0] < 60, "the run went on writing after the signal"
    from trackerbridge.state.lock import run_lock

    with run_lock(state_file(project).with_name("state.db.lock")):  # released: taken at once
        pass
    again = invoke(["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat()], sb.info.as_env())
    assert again.exit_code == 0, again.stderr[-2000:]
