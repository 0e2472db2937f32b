"""The state store on SQLite files: schema, runs, watermarks, written values, the audit log, the record
snapshot, health and notes, and two stores writing to one file."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from trackerbridge.health import Flag
from trackerbridge.model import Change, Initiative, Link, Person, Size, Stage
from trackerbridge.state import store as store_module
from trackerbridge.state.codec import CodecError
from trackerbridge.state.store import SCHEMA_VERSION, StateStore, StateStoreError, Write

UTC = timezone.utc
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ANA = Person("ana@example.com", "Ana", "acc-1")


def url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "trackerbridge.db"


@pytest.fixture
def store(db: Path) -> Iterator[StateStore]:
    with StateStore.open(url(db)) as s:
        yield s


def initiative(key: str, **kw: Any) -> Initiative:
    return Initiative(source="jira-main", system="jira", key=key, url=f"https://jira/{key}", **kw)


# --- schema -------------------------------------------------------------------------------------


def test_open_creates_parent_dirs_tables_and_wal(db: Path) -> None:
    assert not db.parent.exists()
    with StateStore.open(url(db)) as s:
        assert s.path == db
    assert db.is_file()
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"tb_meta", "tb_runs", "tb_watermarks", "tb_written", "tb_audit_log", "tb_records"} <= tables
    assert {"tb_health", "tb_notes", "tb_record_sets"} <= tables
    assert con.execute("SELECT value FROM tb_meta WHERE name = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    con.close()


def test_reopen_keeps_everything(db: Path) -> None:
    with StateStore.open(url(db)) as s:
        run = s.begin_run("sync", T0)
        s.set_watermark("jira-main", T0, run)
        s.record_write(run, "jira-main", "OPS-1", "customfield_1", None, "red", "ok", at=T0)
    with StateStore.open(url(db)) as s:
        assert s.watermark("jira-main") == T0
        assert s.written("jira-main") == {("OPS-1", "customfield_1"): "red"}
        assert [r.id for r in s.runs()] == [run]
        assert len(s.log()) == 1


def test_newer_schema_is_refused_with_a_clear_message(db: Path) -> None:
    StateStore.open(url(db)).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE tb_meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    newer = rf"schema version {SCHEMA_VERSION + 1}, written by a newer trackerbridge.*upgrade"
    with pytest.raises(StateStoreError, match=newer):
        StateStore.open(url(db))


def test_a_version_1_store_gains_the_discovery_table_and_keeps_its_data(db: Path) -> None:
    with StateStore.open(url(db)) as s:
        s.set_watermark("jira-main", T0, None)
    con = sqlite3.connect(db)  # as trackerbridge 0.1 left it: no tb_discovery, version 1
    con.execute("DROP TABLE tb_discovery")
    con.execute("UPDATE tb_meta SET value = '1' WHERE name = 'schema_version'")
    con.commit()
    con.close()
    with StateStore.open(url(db)) as s:
        assert s.watermark("jira-main") == T0
        s.save_discovery("jira-main", "f" * 64, T0, {"serverInfo": {"versionNumbers": [10, 0, 0]}})
        assert s.discovery("jira-main") is not None
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM tb_meta WHERE name = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    con.close()


def test_discovery_round_trips_as_json_and_can_be_forgotten(store: StateStore) -> None:
    body = {"describe": {"name": "Opportunity", "fields": [{"name": "Amount", "type": "currency"}]}, "n": [1, None]}
    assert store.discovery("sf") is None
    store.save_discovery("sf", "a" * 64, T0, body)
    store.save_discovery("sf", "b" * 64, T0 + timedelta(hours=1), body)  # the newer replaces it
    saved = store.discovery("sf")
    assert saved is not None
    assert (saved.fingerprint, saved.fetched_at, saved.body) == ("b" * 64, T0 + timedelta(hours=1), body)
    store.forget_discovery("sf")
    assert store.discovery("sf") is None


# --- runs ---------------------------------------------------------------------------------------


def test_run_lifecycle_newest_first(store: StateStore) -> None:
    a = store.begin_run("sync", T0)
    b = store.begin_run("audit", T0 + timedelta(hours=1))
    assert [(r.id, r.status, r.finished_at) for r in store.runs()] == [(b, "running", None), (a, "running", None)]
    store.finish_run(a, T0 + timedelta(minutes=5), "ok", {"written": 3, "records": 120, "by_flag": {"red": 2}})
    (rb, ra) = store.runs()
    assert ra.status == "ok" and ra.finished_at == T0 + timedelta(minutes=5)
    assert ra.metrics == {"written": 3, "records": 120, "by_flag": {"red": 2}}
    assert ra.mode == "sync" and rb.mode == "audit"
    assert ra.started_at == T0 and ra.started_at.tzinfo is not None and ra.started_at.utcoffset() == timedelta(0)


def test_runs_limit_and_since(store: StateStore) -> None:
    ids = [store.begin_run("sync", T0 + timedelta(days=n)) for n in range(5)]
    assert [r.id for r in store.runs(limit=2)] == [ids[4], ids[3]]
    assert [r.id for r in store.runs(since=T0 + timedelta(days=3))] == [ids[4], ids[3]]
    assert [r.id for r in store.runs(limit=None)] == ids[::-1]


def test_times_are_compared_as_instants_whatever_the_offset(store: StateStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    early = store.begin_run("sync", datetime(2026, 1, 1, 10, 0, tzinfo=plus2))  # 08:00 UTC
    late = store.begin_run("sync", datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    assert [r.id for r in store.runs()] == [late, early]
    assert store.runs()[1].started_at == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def test_crashed_run_stays_running_until_abandoned(store: StateStore) -> None:
    crashed = store.begin_run("sync", T0)
    done = store.begin_run("sync", T0 + timedelta(hours=1))
    store.finish_run(done, T0 + timedelta(hours=1, minutes=1), "ok", {})
    current = store.begin_run("sync", T0 + timedelta(hours=2))
    assert store.abandon_stale_runs(current) == [crashed]
    status = {r.id: r.status for r in store.runs()}
    assert status == {crashed: "crashed", done: "ok", current: "running"}
    assert store.abandon_stale_runs(current) == []
    assert store.abandon_stale_runs() == [current]


def test_finish_unknown_run_raises(store: StateStore) -> None:
    with pytest.raises(StateStoreError, match="no run 99"):
        store.finish_run(99, T0, "ok", {})


# --- watermarks ---------------------------------------------------------------------------------


def test_watermark_set_get_and_move(store: StateStore) -> None:
    assert store.watermark("jira-main") is None
    store.set_watermark("jira-main", T0, None)
    store.set_watermark("sf", T0 - timedelta(days=1), None)
    later = datetime(2026, 11, 25, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
    store.set_watermark("jira-main", later, 7)
    assert store.watermark("jira-main") == later
    assert store.watermark("jira-main").tzinfo == UTC  # type: ignore[union-attr]
    assert store.watermark("sf") == T0 - timedelta(days=1)


def test_naive_times_are_refused(store: StateStore) -> None:
    with pytest.raises(Exception, match="aware datetimes only"):
        store.set_watermark("jira-main", datetime(2026, 1, 1), None)
    assert store.watermark("jira-main") is None


# --- written values and the audit log -----------------------------------------------------------


def test_ok_write_updates_written_failed_and_planned_do_not(store: StateStore) -> None:
    run = store.begin_run("sync", T0)
    store.record_write(run, "jira-main", "OPS-1", "customfield_1", None, "amber", "ok", at=T0)
    store.record_write(run, "jira-main", "OPS-1", "customfield_1", "amber", "red", "failed", "HTTP 500", at=T0)
    store.record_write(run, "jira-main", "OPS-1", "customfield_2", None, "x", "planned", at=T0)
    assert store.written("jira-main") == {("OPS-1", "customfield_1"): "amber"}
    log = store.log(run_id=run)
    assert [(e.slot, e.before, e.after, e.outcome, e.error) for e in log] == [
        ("customfield_1", None, "amber", "ok", None),
        ("customfield_1", "amber", "red", "failed", "HTTP 500"),
        ("customfield_2", None, "x", "planned", None),
    ]
    assert all(e.at == T0 and e.run_id == run and e.connector == "jira-main" and e.key == "OPS-1" for e in log)


def test_written_values_keep_their_types(store: StateStore) -> None:
    store.record_write(1, "jira-main", "OPS-1", "owner", None, ANA, "ok")
    store.record_write(1, "jira-main", "OPS-1", "end", None, date(2026, 5, 1), "ok")
    store.record_write(1, "jira-main", "OPS-1", "labels:health-", [], ["tb-health-red"], "ok")
    store.remember("jira-main", "OPS-1", "seen:stage", Stage.BUILD)
    assert store.written("jira-main") == {
        ("OPS-1", "owner"): ANA,
        ("OPS-1", "end"): date(2026, 5, 1),
        ("OPS-1", "labels:health-"): ["tb-health-red"],
        ("OPS-1", "seen:stage"): Stage.BUILD,
    }
    assert store.log()[0].after == ANA


def test_remember_writes_no_log_row(store: StateStore) -> None:
    store.remember("sf", "006A", "seen:stage", "build")
    store.remember_many("sf", [("006A", "seen:stage", "launch"), ("006B", "seen:owner", ANA)])
    assert store.written("sf") == {("006A", "seen:stage"): "launch", ("006B", "seen:owner"): ANA}
    assert store.written("jira-main") == {}
    assert store.log() == []


def test_audit_log_rows_never_change(store: StateStore, db: Path) -> None:
    run = store.begin_run("sync", T0)
    store.record_write(run, "jira-main", "OPS-1", "f", "a", "b", "ok", at=T0)
    first = store.log()
    for n in range(3):
        store.record_write(run, "jira-main", "OPS-1", "f", "b", f"c{n}", "ok", at=T0 + timedelta(minutes=n))
        store.record_write(run, "jira-main", "OPS-1", "f", "b", "z", "failed", "boom", at=T0)
    log = store.log()
    assert log[:1] == first
    assert len(log) == 7 and [e.id for e in log] == sorted(e.id for e in log)
    assert store.written("jira-main") == {("OPS-1", "f"): "c2"}
    con = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE tb_audit_log SET after = '\"x\"'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM tb_audit_log")
    con.close()
    assert store.log() == log


def test_log_filters_and_order(store: StateStore) -> None:
    r1 = store.begin_run("sync", T0)
    r2 = store.begin_run("sync", T0)
    store.record_writes(
        [
            Write(r1, "jira-main", "OPS-2", "f", None, 1, "ok", at=T0),
            Write(r1, "sf", "006A", "f", None, 2, "ok", at=T0),
            Write(r2, "jira-main", "OPS-1", "f", None, 3, "ok", at=T0),
            Write(None, "jira-main", "OPS-2", "g", None, 4, "failed", "x", at=T0),
        ]
    )
    assert [e.after for e in store.log()] == [1, 2, 3, 4]
    assert [e.after for e in store.log(run_id=r1)] == [1, 2]
    assert [e.after for e in store.log(connector="jira-main")] == [1, 3, 4]
    assert [e.after for e in store.log(connector="jira-main", key="OPS-2")] == [1, 4]
    assert [e.after for e in store.log(run_id=r2, key="OPS-2")] == []
    assert store.log()[3].run_id is None


def test_log_and_written_move_together_or_not_at_all(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_upsert(*args: object, **kw: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(store, "_upsert", broken_upsert)
    with pytest.raises(RuntimeError, match="disk gone"):
        store.record_write(1, "jira-main", "OPS-1", "f", None, "red", "ok")
    monkeypatch.undo()
    assert store.log() == []  # the audit row was rolled back with the failed upsert
    assert store.written("jira-main") == {}


def test_bad_outcome_or_value_writes_nothing(store: StateStore) -> None:
    with pytest.raises(StateStoreError, match="outcome"):
        store.record_write(1, "jira-main", "OPS-1", "f", None, "red", "done")
    with pytest.raises(CodecError):
        store.record_writes(
            [
                Write(1, "jira-main", "OPS-1", "f", None, "red", "ok"),
                Write(1, "jira-main", "OPS-1", "g", None, datetime(2026, 1, 1), "ok"),
            ]
        )
    assert store.log() == [] and store.written("jira-main") == {}


def test_duplicate_slots_in_one_batch_keep_the_last(store: StateStore) -> None:
    store.record_writes([Write(1, "j", "K", "f", None, "a", "ok"), Write(1, "j", "K", "f", "a", "b", "ok")])
    store.remember_many("j", [("K", "seen", 1), ("K", "seen", 2)])
    assert store.written("j") == {("K", "f"): "b", ("K", "seen"): 2}
    assert len(store.log()) == 2


# --- record snapshot ----------------------------------------------------------------------------


def test_save_and_load_records_replace_semantics(store: StateStore) -> None:
    a = initiative("OPS-1", owner=ANA, stage=Stage.BUILD, labels=frozenset({"x"}))
    b = initiative("OPS-2", end=date(2026, 6, 30), size=Size.MAJOR)
    c = initiative("OPS-3", history=(Change(T0, "stage", "decide", "build"),), links=(Link("salesforce", "006"),))
    assert store.load_records("jira-main") == [] and not store.has_records("jira-main")
    store.save_records("jira-main", [c, a, b], replace=True)
    assert store.load_records("jira-main") == [a, b, c]
    assert store.has_records("jira-main")

    b2 = initiative("OPS-2", title="changed", updated=T0)
    d = initiative("OPS-4", extra={"sponsor": ANA})
    store.save_records("jira-main", [b2, d], replace=False)  # incremental: the rest stay
    assert store.load_records("jira-main") == [a, b2, c, d]
    assert store.has_records("jira-main")

    store.save_records("jira-main", [d, c], replace=True)  # full read: OPS-1 and OPS-2 are gone
    assert store.load_records("jira-main") == [c, d]
    assert store.load_records("sf") == []


def test_incremental_save_without_a_full_read_is_not_a_complete_snapshot(store: StateStore) -> None:
    store.save_records("jira-main", [initiative("OPS-1")], replace=False)
    assert store.load_records("jira-main") == [initiative("OPS-1")]
    assert not store.has_records("jira-main")
    store.save_records("jira-main", [initiative("OPS-1"), initiative("OPS-2")], replace=True)
    assert store.has_records("jira-main")


def test_snapshot_in_another_format_is_stale(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save_records("jira-main", [initiative("OPS-1"), initiative("OPS-2")], replace=True)
    monkeypatch.setattr(store_module, "RECORDS_FORMAT", "another")  # as if trackerbridge was upgraded
    assert not store.has_records("jira-main")
    assert store.load_records("jira-main") == []
    store.save_records("jira-main", [initiative("OPS-3")], replace=False)  # stale rows go, none mix
    assert store.load_records("jira-main") == [initiative("OPS-3")]
    assert not store.has_records("jira-main")


def test_duplicate_keys_in_a_save_keep_the_last(store: StateStore) -> None:
    store.save_records("jira-main", [initiative("OPS-1", title="old"), initiative("OPS-1", title="new")], replace=True)
    assert [i.title for i in store.load_records("jira-main")] == ["new"]


def test_the_snapshot_is_saved_streaming_a_batch_at_a_time(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BATCH", 3)
    pulled: list[int] = [0]
    seen: list[tuple[int, int]] = []  # (records pulled from the iterator so far, batch size) per batch written
    original = StateStore._save_record_batch

    def spying(self: StateStore, conn: Any, connector: str, batch: Any) -> int:
        seen.append((pulled[0], len(batch)))
        return original(self, conn, connector, batch)

    def records() -> Any:
        for n in range(8):
            pulled[0] += 1
            yield initiative(f"OPS-{n}", title=f"t{n}")
        yield initiative("OPS-0", title="again")  # a key from an earlier batch: the last wins

    monkeypatch.setattr(StateStore, "_save_record_batch", spying)
    assert store.save_records("jira-main", records(), replace=True) == 9
    assert seen == [(3, 3), (6, 3), (8, 3)]  # never more than a batch encoded at once
    loaded = store.load_records("jira-main")
    assert [i.key for i in loaded] == [f"OPS-{n}" for n in range(8)] and loaded[0].title == "again"
    assert store.has_records("jira-main")


def test_many_records_survive_reopen(db: Path) -> None:
    items = [initiative(f"OPS-{n:05d}", owner=ANA, updated=T0 + timedelta(seconds=n)) for n in range(5000)]
    with StateStore.open(url(db)) as s:
        assert s.save_records("jira-main", items, replace=True) == 5000
    with StateStore.open(url(db)) as s:
        assert s.load_records("jira-main") == items


# --- health and notes ---------------------------------------------------------------------------


def test_health_set_get_and_replace(store: StateStore) -> None:
    assert store.health("jira-main") == {}
    store.set_health("jira-main", [("OPS-1", Flag.RED, T0), ("OPS-2", "amber", T0 - timedelta(days=3))])
    assert store.health("jira-main") == {"OPS-1": ("red", T0), "OPS-2": ("amber", T0 - timedelta(days=3))}
    store.set_health("jira-main", [("OPS-1", "green", T0 + timedelta(days=1))])
    assert store.health("jira-main")["OPS-1"] == ("green", T0 + timedelta(days=1))
    assert "OPS-2" in store.health("jira-main")
    store.set_health("jira-main", [("OPS-3", "red", T0)], replace=True)
    assert store.health("jira-main") == {"OPS-3": ("red", T0)}
    assert store.health("sf") == {}


def test_notes_pending_then_posted(store: StateStore) -> None:
    assert store.note_status("jira-main", "OPS-1", "red:2026-11-25") is None
    store.set_note("jira-main", "OPS-1", "red:2026-11-25", "pending", 1)
    assert store.note_status("jira-main", "OPS-1", "red:2026-11-25") == "pending"
    store.set_note("jira-main", "OPS-1", "red:2026-11-25", "posted", 1)
    assert store.note_status("jira-main", "OPS-1", "red:2026-11-25") == "posted"
    assert store.note_status("jira-main", "OPS-1", "red:2026-12-01") is None
    assert store.note_status("sf", "OPS-1", "red:2026-11-25") is None
    assert store.notes("jira-main") == {("OPS-1", "red:2026-11-25"): "posted"}
    with pytest.raises(StateStoreError, match="note status"):
        store.set_note("jira-main", "OPS-1", "m", "sent", 1)


# --- two stores on one file ---------------------------------------------------------------------


def test_two_stores_writing_alternately(db: Path) -> None:
    with StateStore.open(url(db)) as a, StateStore.open(url(db)) as b:
        for n in range(20):
            s = a if n % 2 else b
            s.record_write(n, "jira-main", f"OPS-{n}", "f", None, n, "ok")
            s.set_watermark("jira-main", T0 + timedelta(minutes=n), n)
        assert a.written("jira-main") == b.written("jira-main") == {(f"OPS-{n}", "f"): n for n in range(20)}
        assert a.watermark("jira-main") == T0 + timedelta(minutes=19)
        assert [e.after for e in b.log()] == list(range(20))


def test_two_stores_writing_at_once_from_threads(db: Path) -> None:
    StateStore.open(url(db)).close()
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            with StateStore.open(url(db)) as s:
                for n in range(100):
                    s.record_write(None, name, f"K-{n}", "f", None, n, "ok")
                    s.remember(name, f"K-{n}", "seen", n)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(f"c{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with StateStore.open(url(db)) as s:
        assert len(s.log()) == 200
        assert len(s.written("c0")) == len(s.written("c1")) == 200


def hold_write_lock(db: Path, seconds: float, sql: str | None = None) -> threading.Event:
    """Another process's write transaction (running `sql`), held for a while; returns once it holds the lock."""
    held = threading.Event()

    def run() -> None:
        con = sqlite3.connect(db, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        if sql:
            con.execute(sql)
        held.set()
        time.sleep(seconds)
        con.execute("COMMIT")
        con.close()

    threading.Thread(target=run, daemon=True).start()
    assert held.wait(5)
    return held


def test_writer_waits_for_another_writer_within_the_busy_timeout(db: Path) -> None:
    with StateStore.open(url(db), busy_timeout=10) as s:
        hold_write_lock(db, 0.5)
        started = time.monotonic()
        s.set_watermark("jira-main", T0, None)
        assert time.monotonic() - started >= 0.3
        assert s.watermark("jira-main") == T0


def test_read_then_write_waits_for_a_concurrent_writer_and_sees_its_commit(db: Path) -> None:
    # A deferred BEGIN would read an old snapshot, then fail at once ("database is locked") when it
    # tries to write after the other writer commits; BEGIN IMMEDIATE waits first, then reads fresh.
    with StateStore.open(url(db), busy_timeout=10) as s:
        old = s.begin_run("sync", T0)
        hold_write_lock(
            db,
            0.5,
            "INSERT INTO tb_runs (mode, started_at, status, metrics) "
            "VALUES ('sync', '2026-11-25T10:00:00.000000Z', 'running', '{}')",
        )
        assert s.abandon_stale_runs() == [old, old + 1]


def test_writer_gives_up_after_the_busy_timeout(db: Path) -> None:
    with StateStore.open(url(db), busy_timeout=0.1) as s:
        hold_write_lock(db, 1.0)
        with pytest.raises(OperationalError, match="locked"):
            s.set_watermark("jira-main", T0, None)


def test_readers_do_not_wait_for_a_writer(db: Path) -> None:
    with StateStore.open(url(db), busy_timeout=0.1) as s:
        s.set_watermark("jira-main", T0, None)
        hold_write_lock(db, 1.0)
        assert s.watermark("jira-main") == T0  # WAL: the reader sees the last commit at once


def test_shared_lock_is_left_to_the_file_lock_on_sqlite(db: Path) -> None:
    with StateStore.open(url(db)) as a, StateStore.open(url(db)) as b, a.shared_lock(), b.shared_lock():
        a.set_watermark("jira-main", T0, None)  # no advisory lock on SQLite: state.lock.run_lock guards the file
    with StateStore.open(url(db)) as c:
        assert c.watermark("jira-main") == T0
