"""The state store on a real PostgreSQL that the test starts (and restarts): the run lock fences the writes,
the exit-75 message masks the URL's secrets, and the store's checks hold there too.

The cluster is made with Debian's binaries (`apt-get install postgresql`; `.ci/run` installs them). Without
them the tests are skipped with that hint, except under CI (`CI` set), where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from test_reliability import sync_process
from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox
from trackerbridge.state.store import SCHEMA_VERSION, StateStore, StoreUnusable

SECRET = "pgS3cret-Pa55-4u7x"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Postgres:
    bin: Path
    data: Path
    port: int
    as_user: list[str]

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-s", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.ctl("-o", opts, "-l", str(self.data / "log"), "start")

    def restart(self) -> None:
        self.ctl("-m", "fast", "-l", str(self.data / "log"), "restart")  # -l: the server must not hold our pipes

    def url(self, db: str, *, query: str = "") -> str:
        return f"postgresql+psycopg://tb@127.0.0.1:{self.port}/{db}{query}"

    def new_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=tb dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    binaries = _binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries (initdb, pg_ctl) not found: .ci/run installs Debian's postgresql")
        pytest.skip("PostgreSQL binaries not found: apt-get install -y postgresql (or run .ci/run)")
    pytest.importorskip("psycopg", reason="pip install -e '.[test]' installs psycopg")
    root = Path(tempfile.mkdtemp(prefix="tb-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    data = root / "data"
    subprocess.run(
        [*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "tb", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pg = Postgres(binaries, data, _free_port(), as_user)
    pg.start()
    try:
        yield pg
    finally:
        subprocess.run(
            [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-s", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def jira_puts(sb: Sandbox) -> list[Any]:
    return [
        r
        for r in sb.accounting.records()
        if r.service == "jira" and r.method == "PUT" and "/issue/" in r.path and 200 <= r.status < 300
    ]


def test_a_postgresql_restart_mid_run_stops_the_runs_writes_at_once(
    postgres: Postgres, sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    """The restart drops the advisory lock while the pool's connections reconnect: the run must notice
    before its next write batch, stop writing, record why and exit 6, so a second runner can take over."""
    url = postgres.new_database("restart")
    sb = sandbox_factory(size=200, latency_ms=20)
    env = {**os.environ, **sb.info.as_env(), "TRACKERBRIDGE_STATE_URL": url}
    args = [sys.executable, "-m", "trackerbridge", "sync", "--project", str(project)]
    process = subprocess.Popen(
        [*args, "--as-of", sb.clock.now().isoformat()], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    record = sb.accounting.record
    seen = {"puts": 0, "at_restart": -1}

    def counting(entry: Any) -> None:
        record(entry)
        if entry.service == "jira" and entry.method == "PUT":
            seen["puts"] += 1
            if seen["puts"] == 6:  # mid-run: the database restarts while this write is being answered
                postgres.restart()
                seen["at_restart"] = len(jira_puts(sb))

    sb.accounting.record = counting  # type: ignore[method-assign]
    try:
        _, err_bytes = process.communicate(timeout=180)
    finally:
        sb.accounting.record = record  # type: ignore[method-assign]
    err = err_bytes.decode()
    assert seen["at_restart"] >= 0, (process.returncode, err[-3000:])
    assert process.returncode == 6, err[-3000:]
    assert "lost its lock" in err and "Traceback" not in err
    after_restart = len(jira_puts(sb)) - seen["at_restart"]
    assert after_restart <= 4, f"{after_restart} writes after the lock was lost"  # at most the batch in flight
    with StateStore.open(url) as store:
        (run,) = store.runs()
    assert run.status == "lock-lost" and run.finished_at is not None

    second = subprocess.run(
        [*args, "--as-of", sb.clock.now().isoformat()], env=env, capture_output=True, text=True, timeout=180
    )
    assert second.returncode == 0, second.stderr[-3000:]
    third = CliRunner().invoke(
        main, ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat(), "--dry-run"], env=env
    )
    assert third.exit_code == 0 and "0 records to change" in third.stdout, third.stdout[-2000:]


def test_the_exit_75_message_masks_the_state_urls_secrets(postgres: Postgres, project: Path, sandbox: Sandbox) -> None:
    url = postgres.new_database("locked") + f"?application_name=tb&password={SECRET}"
    with StateStore.open(url) as holder, holder.shared_lock():
        result = CliRunner().invoke(
            main, ["sync", "--project", str(project)], env={**sandbox.info.as_env(), "TRACKERBRIDGE_STATE_URL": url}
        )
    assert result.exit_code == 75, result.stderr
    assert "another trackerbridge sync is running against" in result.stderr
    assert SECRET not in result.stdout + result.stderr and "password=***" in result.stderr


def test_a_newer_schema_on_postgresql_is_refused(postgres: Postgres) -> None:
    url = postgres.new_database("newer")
    StateStore.open(url).close()
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=tb dbname=newer", autocommit=True) as conn:
        conn.execute("UPDATE tb_meta SET value = %s WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreUnusable, match="newer trackerbridge"):
        StateStore.open(url)


def test_an_interrupted_run_on_postgresql_releases_the_lock(
    postgres: Postgres, sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    url = postgres.new_database("interrupted")
    sb = sandbox_factory(size=120, latency_ms=20)
    process = sync_process(sb, project, env={"TRACKERBRIDGE_STATE_URL": url})
    deadline = time.monotonic() + 120
    while not jira_puts(sb) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err.decode()[-2000:]
    with StateStore.open(url) as store, store.shared_lock():  # free again
        assert store.runs()[0].status == "interrupted"


def test_prune_on_postgresql_keeps_the_last_writes_and_the_log_append_only(postgres: Postgres) -> None:
    import psycopg

    from trackerbridge.state.store import Write

    url = postgres.new_database("prune")
    now = datetime.now(timezone.utc)
    with StateStore.open(url) as store:
        for age, value in ((120, "old"), (5, "new")):
            at = now - timedelta(days=age)
            run = store.begin_run("sync", at)
            store.record_writes([Write(run, "jira", "OPS-1", "health", None, value, "ok", at=at)])
            store.record_writes([Write(run, "jira", f"OPS-{age}", "health", None, value, "ok", at=at)])
            store.finish_run(run, at, "ok", {})
        assert store.prune(now - timedelta(days=90)) == (1, 1)
        assert sorted((e.key, e.after) for e in store.log()) == [("OPS-1", "new"), ("OPS-120", "old"), ("OPS-5", "new")]
    with (
        psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=tb dbname=prune") as conn,
        pytest.raises(psycopg.errors.RaiseException, match="append-only"),
    ):
        conn.execute("DELETE FROM tb_audit_log")
