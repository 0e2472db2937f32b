"""The state store: what trackerbridge remembers between runs, in SQLite by default or PostgreSQL when
several runners share state.

Why SQLAlchemy Core and not an ORM: the store is a handful of tables with bulk reads and writes
(100,000 cached records per run), and must speak both dialects with the same code. Everything here
is portable Core; the only dialect-specific pieces (SQLite pragmas and BEGIN IMMEDIATE, upserts, the
append-only trigger) sit behind a check of `dialect.name`.

Values (before/after, written values, metrics, cached records) are stored as JSON text through
`trackerbridge.state.codec`, so they come back exactly (a Person stays a Person, a date a date).
Times are aware datetimes, stored as UTC and returned in UTC.

Crash safety: every method is one transaction. `record_writes` appends the audit rows, moves the
last-written values and sets the notes' statuses together, so a run killed between two batches leaves a
store that says exactly which batches were recorded; callers log the intent before a write and its
outcome after, and advance a watermark only after the writes it depends on are recorded.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from trackerbridge.model import Initiative
from trackerbridge.state.codec import RECORDS_FORMAT, dumps_initiative, dumps_value, loads_initiative, loads_value
from trackerbridge.state.database import BATCH, Database, chunks
from trackerbridge.state.errors import (
    EXIT_LOCK_LOST,
    EXIT_STORE_FAILED,
    LockLost,
    StateStoreError,
    StoreFailed,
    StoreUnreachable,
    StoreUnusable,
    _reason,
)
from trackerbridge.state.rows import Discovery, LogEntry, RunRecord, Write
from trackerbridge.state.schema import (
    _APPEND_ONLY_DDL,
    SCHEMA_VERSION,
    UTC,
    t_audit,
    t_discovery,
    t_health,
    t_meta,
    t_notes,
    t_record_sets,
    t_records,
    t_runs,
    t_watermarks,
    t_written,
)

__all__ = [
    "EXIT_LOCK_LOST",
    "EXIT_STORE_FAILED",
    "SCHEMA_VERSION",
    "Discovery",
    "LockLost",
    "LogEntry",
    "RunRecord",
    "StateStore",
    "StateStoreError",
    "StoreFailed",
    "StoreUnreachable",
    "StoreUnusable",
    "Write",
]

OUTCOMES = frozenset({"ok", "failed", "planned"})
NOTE_STATUSES = frozenset({"pending", "posted"})


def _text(v: Any) -> str:
    """A status or flag as stored: an enum's value (str(Flag.RED) is "Flag.RED"), else the string."""
    return str(v.value) if isinstance(v, Enum) else str(v)


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Bulk decoding allocates millions of objects; the cyclic collector would rescan them all
    again and again (half the time of a 100k load). Nothing built here has cycles."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class StateStore(Database):
    """What trackerbridge remembers between runs. Open with `StateStore.open(url)`."""

    # --- runs ------------------------------------------------------------------------------------

    def begin_run(self, mode: str, started_at: datetime) -> int:
        """Record a run as "running"; it stays so until `finish_run` (or `abandon_stale_runs`)."""
        with self._write() as conn:
            result = conn.execute(
                t_runs.insert().values(mode=mode, started_at=started_at, status="running", metrics="{}")
            )
            key = result.inserted_primary_key
            assert key is not None  # an INSERT of one row always has one
            return int(key[0])

    def finish_run(self, run_id: int, finished_at: datetime, status: str, metrics: dict[str, Any]) -> None:
        """Record how a run ended; allowed after the lock was lost (it says why the run stopped)."""
        with self._write(fenced=False) as conn:
            result = conn.execute(
                update(t_runs)
                .where(t_runs.c.id == run_id)
                .values(finished_at=finished_at, status=_text(status), metrics=dumps_value(dict(metrics)))
            )
            if result.rowcount != 1:
                raise StateStoreError(f"no run {run_id} in the state store")

    def abandon_stale_runs(self, current: int | None = None) -> list[int]:
        """Mark runs still "running" as "crashed" (call it holding the run lock, so none of them can
        still be alive); `current` (this run's id) and later runs are left alone. Returns their ids."""
        with self._write() as conn:
            where = [t_runs.c.status == "running"]
            if current is not None:
                where.append(t_runs.c.id < current)
            ids = [int(i) for i in conn.scalars(select(t_runs.c.id).where(*where).order_by(t_runs.c.id))]
            if ids:
                conn.execute(update(t_runs).where(t_runs.c.id.in_(ids)).values(status="crashed"))
            return ids

    def runs(self, limit: int | None = 100, since: datetime | None = None) -> list[RunRecord]:
        """Newest first; `since` keeps runs started at or after it."""
        q = select(t_runs).order_by(t_runs.c.started_at.desc(), t_runs.c.id.desc())
        if since is not None:
            q = q.where(t_runs.c.started_at >= since)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [
                RunRecord(int(r.id), r.mode, r.started_at, r.finished_at, r.status, loads_value(r.metrics))
                for r in conn.execute(q)
            ]

    # --- retention -------------------------------------------------------------------------------

    def prune(self, before: datetime, *, dry_run: bool = False) -> tuple[int, int]:
        """Forget finished runs started before `before` and their audit rows, except the last row of
        each (connector, key, slot) and its last successful write (what was written there, and when),
        and the newest run (the report's starting point). Returns (runs, audit rows) removed.

        The audit log is append-only by trigger; pruning is the one deletion, in one transaction that
        lifts the trigger and puts it back."""
        old_runs = (
            select(t_runs.c.id)
            .where(t_runs.c.started_at < before, t_runs.c.status != "running")
            .where(t_runs.c.id < select(func.max(t_runs.c.id)).scalar_subquery())
        )
        keep_last = select(func.max(t_audit.c.id)).group_by(t_audit.c.connector, t_audit.c.key, t_audit.c.slot)
        keep_ok = (
            select(func.max(t_audit.c.id))
            .where(t_audit.c.outcome == "ok")
            .group_by(t_audit.c.connector, t_audit.c.key, t_audit.c.slot)
        )
        doomed = (
            ((t_audit.c.run_id.in_(old_runs)) | (t_audit.c.run_id.is_(None) & (t_audit.c.at < before)))
            & t_audit.c.id.not_in(keep_last)
            & t_audit.c.id.not_in(keep_ok)
        )
        with self._write() as conn:
            runs = list(conn.scalars(old_runs))
            if dry_run:
                rows = conn.scalar(select(func.count()).select_from(t_audit).where(doomed)) or 0
                return len(runs), int(rows)
            if self._dialect == "sqlite":
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS tb_audit_log_no_delete")
            elif self._dialect == "postgresql":
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS tb_audit_log_append_only ON tb_audit_log")
            rows = conn.execute(delete(t_audit).where(doomed)).rowcount
            for ddl in _APPEND_ONLY_DDL.get(self._dialect, []):
                conn.exec_driver_sql(ddl)
            if runs:
                conn.execute(delete(t_runs).where(t_runs.c.id.in_(runs)))
            self._upsert(conn, t_meta, [{"name": "pruned_at", "value": _now().isoformat()}])
        return len(runs), int(rows or 0)

    def pruned_at(self) -> datetime | None:
        """When `prune` last ran (wall clock), or None."""
        with self._read() as conn:
            value = conn.scalar(select(t_meta.c.value).where(t_meta.c.name == "pruned_at"))
        return datetime.fromisoformat(value) if value else None

    # --- watermarks ------------------------------------------------------------------------------

    def watermark(self, connector: str) -> datetime | None:
        with self._read() as conn:
            value: datetime | None = conn.scalar(
                select(t_watermarks.c.value).where(t_watermarks.c.connector == connector)
            )
            return value

    def set_watermark(self, connector: str, value: datetime, run_id: int | None) -> None:
        """Move a connector's watermark; call it only after the writes it depends on are recorded."""
        with self._write() as conn:
            self._upsert(conn, t_watermarks, [{"connector": connector, "value": value, "run_id": run_id}])

    # --- written values and the audit log --------------------------------------------------------

    def written(self, connector: str) -> dict[tuple[str, str], Any]:
        """(key, slot) -> the last value trackerbridge wrote (or remembered) there."""
        q = select(t_written.c.key, t_written.c.slot, t_written.c.value).where(t_written.c.connector == connector)
        with self._read() as conn, _no_gc():
            return {(k, s): loads_value(v) for k, s, v in conn.execute(q)}

    def record_write(
        self,
        run_id: int | None,
        connector: str,
        key: str,
        slot: str,
        before: Any,
        after: Any,
        outcome: str,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Append one write to the audit log; when it succeeded ("ok"), also remember `after` as the
        last value written to (connector, key, slot). Both or neither: one transaction."""
        self.record_writes([Write(run_id, connector, key, slot, before, after, outcome, error, at)])

    def record_writes(
        self, writes: Iterable[Write], notes: Iterable[tuple[str, str, str, str, int | None]] = ()
    ) -> None:
        """`record_write` for many at once, and notes' statuses `(connector, key, marker, status, run_id)`
        with them (see `set_note`): one transaction, so a batch of outcomes is recorded whole or not at all."""
        now = _now()
        log_rows: list[dict[str, Any]] = []
        written_rows: list[dict[str, Any]] = []
        for w in writes:
            outcome = _text(w.outcome)
            if outcome not in OUTCOMES:
                raise StateStoreError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
            after = dumps_value(w.after)
            log_rows.append(
                {
                    "run_id": w.run_id,
                    "at": w.at or now,
                    "connector": w.connector,
                    "key": w.key,
                    "slot": w.slot,
                    "before": dumps_value(w.before),
                    "after": after,
                    "outcome": outcome,
                    "error": w.error,
                }
            )
            if outcome == "ok":
                written_rows.append({"connector": w.connector, "key": w.key, "slot": w.slot, "value": after})
        note_rows = [_note_row(*n) for n in notes]
        if not log_rows and not note_rows:
            return
        try:
            with self._write() as conn:
                for chunk in chunks(log_rows):
                    conn.execute(t_audit.insert(), list(chunk))
                self._upsert(conn, t_written, written_rows)
                self._upsert(conn, t_notes, note_rows)
        except (SQLAlchemyError, OSError, LockLost) as exc:  # what reached a tracker stays on record
            raise self._recover(log_rows, exc) from None

    def remember(self, connector: str, key: str, slot: str, value: Any) -> None:
        """Set a slot without an audit row: what trackerbridge saw, not what it wrote ("seen:stage")."""
        self.remember_many(connector, [(key, slot, value)])

    def remember_many(self, connector: str, items: Iterable[tuple[str, str, Any]]) -> None:
        """`remember` for many (key, slot, value) at once: one transaction."""
        rows = [{"connector": connector, "key": k, "slot": s, "value": dumps_value(v)} for k, s, v in items]
        with self._write() as conn:
            self._upsert(conn, t_written, rows)

    def log(self, run_id: int | None = None, connector: str | None = None, key: str | None = None) -> list[LogEntry]:
        """Audit log rows matching every filter given, in the order they were written."""
        q = select(t_audit).order_by(t_audit.c.id)
        if run_id is not None:
            q = q.where(t_audit.c.run_id == run_id)
        if connector is not None:
            q = q.where(t_audit.c.connector == connector)
        if key is not None:
            q = q.where(t_audit.c.key == key)
        with self._read() as conn:
            return [
                LogEntry(
                    int(r.id),
                    None if r.run_id is None else int(r.run_id),
                    r.at,
                    r.connector,
                    r.key,
                    r.slot,
                    loads_value(r.before),
                    loads_value(r.after),
                    r.outcome,
                    r.error,
                )
                for r in conn.execute(q)
            ]

    # --- record snapshot -------------------------------------------------------------------------

    def save_records(self, connector: str, initiatives: Iterable[Initiative], *, replace: bool) -> int:
        """Keep the last read of a connector's records. `replace=True` after a full read: the set
        becomes exactly these (and counts as complete, see `has_records`); `replace=False` after an
        incremental read: these are added or replaced, the rest stay. Returns the rows written.

        Streamed: records are encoded and written `BATCH` at a time in the one transaction, so a
        100,000-record snapshot never exists as one list of encoded rows (about 250 MB at its peak)."""
        written = 0
        with self._write() as conn:
            current = conn.execute(select(t_record_sets).where(t_record_sets.c.connector == connector)).first()
            stale = current is not None and current.format != RECORDS_FORMAT
            if replace or stale:
                conn.execute(delete(t_records).where(t_records.c.connector == connector))
            batch: list[Initiative] = []
            for initiative in initiatives:
                batch.append(initiative)
                if len(batch) >= BATCH:
                    written += self._save_record_batch(conn, connector, batch)
                    batch = []
            if batch:
                written += self._save_record_batch(conn, connector, batch)
            count = conn.scalar(select(func.count()).select_from(t_records).where(t_records.c.connector == connector))
            complete = replace or (current is not None and not stale and bool(current.complete))
            self._upsert(
                conn,
                t_record_sets,
                [{"connector": connector, "format": RECORDS_FORMAT, "complete": complete, "count": int(count or 0)}],
            )
        return written

    def _save_record_batch(self, conn: Connection, connector: str, batch: Sequence[Initiative]) -> int:
        """Insert or replace one batch of records (a key seen again, in this batch or an earlier one, keeps
        the last)."""
        with _no_gc():
            rows = [{"connector": connector, "key": i.key, "data": dumps_initiative(i)} for i in batch]
        self._upsert(conn, t_records, rows)
        return len(rows)

    def forget_records(self, connector: str, keys: Iterable[str]) -> None:
        """Drop records deleted in the tracker from the snapshot (and their health), so incremental runs
        stop judging and writing them; the snapshot stays complete."""
        wanted = list(keys)
        with self._write() as conn:
            for n in range(0, len(wanted), BATCH):
                chunk = wanted[n : n + BATCH]
                conn.execute(delete(t_records).where(t_records.c.connector == connector, t_records.c.key.in_(chunk)))
                conn.execute(delete(t_health).where(t_health.c.connector == connector, t_health.c.key.in_(chunk)))
            count = conn.scalar(select(func.count()).select_from(t_records).where(t_records.c.connector == connector))
            conn.execute(
                t_record_sets.update().where(t_record_sets.c.connector == connector).values(count=int(count or 0))
            )

    def has_records(self, connector: str) -> bool:
        """Whether a complete snapshot (from a full read, in this version's format) is there, so an
        incremental run can evaluate the whole set; if not, the caller should read everything."""
        with self._read() as conn:
            row = conn.execute(select(t_record_sets).where(t_record_sets.c.connector == connector)).first()
        return row is not None and row.format == RECORDS_FORMAT and bool(row.complete)

    def load_records(self, connector: str) -> list[Initiative]:
        """The cached records by key; empty when none, or when they were written by another version
        of the codec (see `has_records`)."""
        with self._read() as conn:
            fmt = conn.scalar(select(t_record_sets.c.format).where(t_record_sets.c.connector == connector))
            if fmt != RECORDS_FORMAT:
                return []
            result = conn.execute(
                select(t_records.c.data).where(t_records.c.connector == connector).order_by(t_records.c.key)
            )
            with _no_gc():
                return [loads_initiative(d) for d in result.scalars()]

    # --- health ----------------------------------------------------------------------------------

    def health(self, connector: str) -> dict[str, tuple[str, datetime]]:
        """key -> (flag, since when it has had that flag): what makes "turned red" a transition."""
        q = select(t_health.c.key, t_health.c.flag, t_health.c.since).where(t_health.c.connector == connector)
        with self._read() as conn:
            return {k: (f, s) for k, f, s in conn.execute(q)}

    def set_health(self, connector: str, items: Iterable[tuple[str, str, datetime]], *, replace: bool = False) -> None:
        """Upsert (key, flag, since); `replace=True` also forgets keys not given (records gone from scope)."""
        rows = [{"connector": connector, "key": k, "flag": _text(f), "since": s} for k, f, s in items]
        with self._write() as conn:
            if replace:
                conn.execute(delete(t_health).where(t_health.c.connector == connector))
            self._upsert(conn, t_health, rows)

    # --- discovery -------------------------------------------------------------------------------

    def discovery(self, connector: str) -> Discovery | None:
        with self._read() as conn:
            row = conn.execute(select(t_discovery).where(t_discovery.c.connector == connector)).first()
        if row is None:
            return None
        try:
            body = json.loads(row.body)  # the tracker's own JSON, kept as sent: not the value codec
        except ValueError:
            return None
        return Discovery(row.fingerprint, row.fetched_at, body) if isinstance(body, dict) else None

    def save_discovery(self, connector: str, fingerprint: str, fetched_at: datetime, body: dict[str, Any]) -> None:
        row = {"connector": connector, "fingerprint": fingerprint, "fetched_at": fetched_at, "body": json.dumps(body)}
        with self._write() as conn:
            self._upsert(conn, t_discovery, [row])

    def forget_discovery(self, connector: str) -> None:
        """The next run asks the tracker again (after a write the tracker refused, say)."""
        with self._write() as conn:
            conn.execute(delete(t_discovery).where(t_discovery.c.connector == connector))

    # --- notes -----------------------------------------------------------------------------------

    def note_status(self, connector: str, key: str, marker: str) -> str | None:
        q = select(t_notes.c.status).where(
            t_notes.c.connector == connector, t_notes.c.key == key, t_notes.c.marker == marker
        )
        with self._read() as conn:
            status: str | None = conn.scalar(q)
            return status

    def notes(self, connector: str) -> dict[tuple[str, str], str]:
        """(key, marker) -> status, for a whole connector at once."""
        q = select(t_notes.c.key, t_notes.c.marker, t_notes.c.status).where(t_notes.c.connector == connector)
        with self._read() as conn:
            return {(k, m): s for k, m, s in conn.execute(q)}

    def set_note(self, connector: str, key: str, marker: str, status: str, run_id: int | None) -> None:
        """Status "pending" before posting, "posted" after: a crash in between leaves "pending", and the
        connector then looks for the marker on the record before posting again."""
        row = _note_row(connector, key, marker, status, run_id)
        with self._write() as conn:
            self._upsert(conn, t_notes, [row])

    def _recover(self, rows: list[dict[str, Any]], exc: BaseException) -> StoreFailed | LockLost:
        """The audit rows the store refused (disk full, I/O error), appended to the recovery file next
        to it, so what was written to a tracker is not lost from the record. Returns the error to raise."""
        reason = _reason(exc) if isinstance(exc, SQLAlchemyError) else str(exc)
        where = "no recovery file is configured"
        if self.recovery_path is not None:
            try:
                fd = os.open(self.recovery_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as fh:
                    for r in rows:
                        fh.write(json.dumps({**r, "at": r["at"].isoformat()}, sort_keys=True) + "\n")
                where = f"the {len(rows)} audit row(s) it could not take are in {self.recovery_path}"
            except OSError as err:
                keys = sorted({f"{r['connector']} {r['key']}" for r in rows})
                where = (
                    f"the recovery file {self.recovery_path} could not be written either ({err.strerror or err}); "
                    f"the records concerned: {', '.join(keys[:20])}{' ...' if len(keys) > 20 else ''}"
                )
        if isinstance(exc, LockLost):
            return LockLost(f"{exc}; {where}")
        if self._lock_conn is not None:  # a server going down takes the lock too: say so, it decides the exit
            try:
                self.verify_lock()
            except LockLost as lost:
                return LockLost(f"{lost}; {where}")
        return StoreFailed(f"the state store at {self.url} failed during the run ({reason}): {where}")


def _note_row(connector: str, key: str, marker: str, status: str, run_id: int | None) -> dict[str, Any]:
    status = _text(status)
    if status not in NOTE_STATUSES:
        raise StateStoreError(f"note status must be one of {sorted(NOTE_STATUSES)}, not {status!r}")
    return {"connector": connector, "key": key, "marker": marker, "status": status, "run_id": run_id}
