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
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from trackerbridge.interrupt import deferred
from trackerbridge.model import Initiative
from trackerbridge.redact import mask_text, mask_url
from trackerbridge.state.codec import RECORDS_FORMAT, dumps_initiative, dumps_value, loads_initiative, loads_value
from trackerbridge.state.lock import Locked, LockInfo

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

SCHEMA_VERSION = 2
"""Bump with a migration in `StateStore._migrate` whenever a table changes."""

UTC = timezone.utc
OUTCOMES = frozenset({"ok", "failed", "planned"})
NOTE_STATUSES = frozenset({"pending", "posted"})
_PG_SCHEMA_LOCK = 0x7462_0001  # advisory lock keys ("tb"), fixed so every runner agrees
_PG_RUN_LOCK = 0x7462_0002
_BATCH = 2000  # rows per executemany: bounded memory, few round trips


EXIT_STORE_FAILED = 5  # the store failed during a run (disk full, ...): see the recovery file
EXIT_LOCK_LOST = 6  # the run lost its PostgreSQL lock mid-run: writes stopped, the next run carries on
_RECOVER = (
    "to recover, point `state.url` (or $TRACKERBRIDGE_STATE_URL) at a new store and run `trackerbridge sync --full`: "
    "the verdict comes from the trackers, so a fresh store reaches the same result"
)


class StateStoreError(RuntimeError):
    """The store cannot be used as asked (newer schema, unknown run, bad argument). The CLI prints the
    message and exits with `exit_code`."""

    exit_code = 2


class StoreUnusable(StateStoreError):
    """Refused on open: damaged, written by a newer trackerbridge, not a trackerbridge store, or a path
    that cannot hold one. Exit 2; the message says how to recover."""


class StoreUnreachable(StateStoreError):
    """The database server cannot be reached (or refused the credentials): like an unreachable tracker, exit 3."""

    exit_code = 3


class StoreFailed(StateStoreError):
    """The store failed in the middle of a run (disk full, I/O error). What had been written to a tracker
    but not recorded is in the recovery file the message names."""

    exit_code = EXIT_STORE_FAILED


class LockLost(StateStoreError):
    """The PostgreSQL advisory lock is gone (the server restarted, the connection dropped): another runner
    may hold it now, so this run must not write again."""

    exit_code = EXIT_LOCK_LOST


@dataclass(frozen=True)
class RunRecord:
    id: int
    mode: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # "running" | "crashed" | whatever finish_run was given ("ok", "failed", ...)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LogEntry:
    """One row of the append-only audit log."""

    id: int
    run_id: int | None
    at: datetime
    connector: str
    key: str
    slot: str
    before: Any
    after: Any
    outcome: str  # "ok" | "failed" | "planned"
    error: str | None


@dataclass(frozen=True)
class Discovery:
    """A connector's `discovery()` as an earlier run saved it."""

    fingerprint: str  # of the connector's configuration: another configuration, another discovery
    fetched_at: datetime
    body: dict[str, Any]


@dataclass(frozen=True)
class Write:
    """One write to log (see `StateStore.record_writes`): a field id or a named slot of one record."""

    run_id: int | None
    connector: str
    key: str
    slot: str
    before: Any
    after: Any
    outcome: str
    error: str | None = None
    at: datetime | None = None  # None: now


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every dialect.

    SQLite has no time zone type, so there it is fixed-width UTC text ("2026-01-01T09:00:00.000000Z"),
    which sorts and compares like the instant; PostgreSQL gets a real timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(27))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise StateStoreError(f"the state store takes aware datetimes only, got {value!r}")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value.removesuffix("Z")).replace(tzinfo=UTC)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_md = MetaData()
_Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite: an alias of the rowid, so it autoincrements

t_meta = Table("tb_meta", _md, Column("name", String(64), primary_key=True), Column("value", Text, nullable=False))
t_runs = Table(
    "tb_runs",
    _md,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("mode", String(32), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(32), nullable=False),
    Column("metrics", Text, nullable=False),
    Index("tb_runs_started", "started_at"),
    sqlite_autoincrement=True,
)
t_watermarks = Table(
    "tb_watermarks",
    _md,
    Column("connector", String(200), primary_key=True),
    Column("value", UTCDateTime, nullable=False),
    Column("run_id", _Id),
)
t_written = Table(
    "tb_written",
    _md,
    Column("connector", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("slot", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)
t_audit = Table(
    "tb_audit_log",
    _md,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("run_id", _Id),
    Column("at", UTCDateTime, nullable=False),
    Column("connector", String(200), nullable=False),
    Column("key", String(255), nullable=False),
    Column("slot", String(255), nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", Text),
    Index("tb_audit_log_run", "run_id"),
    Index("tb_audit_log_record", "connector", "key"),
    sqlite_autoincrement=True,
)
t_records = Table(
    "tb_records",
    _md,
    Column("connector", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("data", Text, nullable=False),
)
t_record_sets = Table(
    "tb_record_sets",
    _md,
    Column("connector", String(200), primary_key=True),
    Column("format", String(32), nullable=False),  # codec.RECORDS_FORMAT the rows were written in
    Column("complete", Boolean, nullable=False),  # a full read (save_records(replace=True)) stands behind them
    Column("count", Integer, nullable=False),
)
t_health = Table(
    "tb_health",
    _md,
    Column("connector", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("flag", String(16), nullable=False),
    Column("since", UTCDateTime, nullable=False),
)
t_notes = Table(
    "tb_notes",
    _md,
    Column("connector", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("marker", String(255), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("run_id", _Id),
)
t_discovery = Table(
    "tb_discovery",
    _md,
    Column("connector", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("body", Text, nullable=False),
)

_APPEND_ONLY_DDL: dict[str, list[str]] = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS tb_audit_log_no_update BEFORE UPDATE ON tb_audit_log "
        "BEGIN SELECT RAISE(ABORT, 'tb_audit_log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS tb_audit_log_no_delete BEFORE DELETE ON tb_audit_log "
        "BEGIN SELECT RAISE(ABORT, 'tb_audit_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION tb_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'tb_audit_log is append-only'; END $$",
        "DROP TRIGGER IF EXISTS tb_audit_log_append_only ON tb_audit_log",
        "CREATE TRIGGER tb_audit_log_append_only BEFORE UPDATE OR DELETE ON tb_audit_log "
        "FOR EACH ROW EXECUTE PROCEDURE tb_audit_log_append_only()",
    ],
}


def _text(v: Any) -> str:
    """A status or flag as stored: an enum's value (str(Flag.RED) is "Flag.RED"), else the string."""
    return str(v.value) if isinstance(v, Enum) else str(v)


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for n in range(0, len(rows), _BATCH):
        yield rows[n : n + _BATCH]


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


class StateStore:
    """What trackerbridge remembers between runs. Open with `StateStore.open(url)`."""

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self.read_only = read_only
        # Writes on SQLite take the write lock at BEGIN (BEGIN IMMEDIATE), so a second writer waits
        # for the busy timeout instead of failing when its read snapshot turns stale mid-transaction.
        self._write_engine = engine.execution_options(tb_begin="BEGIN IMMEDIATE")
        self._upserts: dict[str, Any] = {}
        self._lock_conn: Connection | None = None  # the connection holding the PostgreSQL run lock
        self._lock_lost: str | None = None  # why, once it was found lost
        self._shown_url: str | None = None  # the URL as given, when the engine's differs (read-only SQLite)
        self.recovery_path: Path | None = None  # where writes go that the store could not take
        if self.path is not None:
            self.recovery_path = self.path.with_name(self.path.name + ".recovery.jsonl")

    # --- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, busy_timeout: float = 30.0, read_only: bool = False) -> StateStore:
        """Open (and create, or check the schema of) the store at a SQLAlchemy URL: `sqlite:///path`
        or `postgresql+psycopg://user@host/db` (install the `postgres` extra for the driver).

        A store is checked before use: SQLite's quick_check, a schema version this code knows, every
        table present. Anything else raises `StoreUnusable` (exit 2) with how to recover; an unreachable
        server raises `StoreUnreachable` (exit 3). `read_only` opens an existing store without creating
        or migrating anything (what `report` needs, also on a read-only disk).

        `busy_timeout` is how long a SQLite writer waits for another process's write to finish."""
        try:
            parsed = make_url(url)
        except Exception:  # any parse failure is a configuration error, never a traceback
            raise StoreUnusable(f"the state URL {mask_url(url)} is not a SQLAlchemy URL") from None
        if parsed.get_backend_name() == "sqlite":
            db = parsed.database
            connect_args: dict[str, Any] = {"timeout": busy_timeout}
            if db and db != ":memory:" and not db.startswith("file:") and parsed.query.get("mode") != "memory":
                file = Path(db).expanduser()
                _prepare_sqlite_file(file, read_only)
                if read_only:
                    # A WAL store needs its -shm file, which SQLite cannot make in a read-only directory;
                    # with no -wal content left over nobody is writing, so read the file as immutable.
                    wal = file.with_name(file.name + "-wal")
                    frozen = not os.access(file.parent, os.W_OK) and not (wal.exists() and wal.stat().st_size)
                    mode = "mode=ro&immutable=1" if frozen else "mode=ro"
                    parsed = parsed.set(database=f"file:{file}?{mode}", query={"uri": "true"})
            engine = create_engine(parsed, connect_args=connect_args)
            _sqlite_setup(engine, busy_timeout, read_only)
        else:
            try:
                # No rollback when a connection goes back to the pool: every use here ends its own
                # transaction, and rolling back one that a server restart broke only logs a traceback.
                engine = create_engine(parsed, pool_pre_ping=True, pool_reset_on_return=None)
            except (ImportError, SQLAlchemyError) as exc:
                raise StoreUnusable(f"cannot use the state store at {mask_url(url)}: {mask_text(str(exc))}") from None
        store = cls(engine, read_only=read_only)
        if read_only:
            store._shown_url = mask_url(url)
        try:
            store._init_schema()
        except BaseException:
            engine.dispose()
            raise
        return store

    @property
    def url(self) -> str:
        """The URL without its password or secret-looking query parameters, for messages."""
        return self._shown_url or mask_url(self._engine.url.render_as_string(hide_password=True))

    @property
    def path(self) -> Path | None:
        """The SQLite file (the run lock lives next to it), or None for a server database."""
        db = self._engine.url.database
        if self._dialect != "sqlite" or not db or db == ":memory:":
            return None
        if db.startswith("file:"):
            if not self.read_only:
                return None
            db = db[len("file:") :].partition("?")[0]
        return Path(db).expanduser()

    def _init_schema(self) -> None:
        try:
            if self.read_only:
                with self._read() as conn:
                    self._check(conn, create=False)
            else:
                with self._write(fenced=False) as conn:
                    if self._dialect == "postgresql":  # two runners creating the schema at once: one waits
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SCHEMA_LOCK})
                    self._check(conn, create=True)
        except StateStoreError:
            raise
        except OperationalError as exc:
            raise self._open_error(exc) from None
        except DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            raise StoreUnusable(
                f"the state store at {self.url} is damaged ({_reason(exc)}); {_RECOVER}"
            ) from None
        except SQLAlchemyError as exc:
            raise StoreUnusable(f"cannot open the state store at {self.url}: {_reason(exc)}") from None

    def _open_error(self, exc: OperationalError) -> StateStoreError:
        reason = _reason(exc)
        if self._dialect == "sqlite":
            lowered = reason.lower()
            if "malformed" in lowered or "not a database" in lowered:
                return StoreUnusable(f"the state store at {self.url} is damaged ({reason}); {_RECOVER}")
            return StoreUnusable(f"cannot open the state store at {self.url}: {reason}")
        return StoreUnreachable(
            f"cannot reach the state store at {self.url}: {reason}; check that the database server is up "
            "and the URL and its credentials are right"
        )

    def _check(self, conn: Connection, *, create: bool) -> None:
        """Refuse a store that is damaged, newer, or missing tables; create or migrate one when allowed."""
        if self._dialect == "sqlite":
            problems = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise StoreUnusable(
                    f"the state store at {self.url} is damaged (SQLite quick_check: {'; '.join(problems)[:300]}); "
                    f"{_RECOVER}"
                )
        tables = set(inspect(conn).get_table_names())
        ours = {t.name for t in _md.sorted_tables}
        version = None
        if t_meta.name in tables:
            raw = conn.scalar(select(t_meta.c.value).where(t_meta.c.name == "schema_version"))
            if raw is not None:
                try:
                    version = int(raw)
                except ValueError:
                    raise StoreUnusable(
                        f"the state store at {self.url} has an unreadable schema version {raw[:20]!r}; {_RECOVER}"
                    ) from None
        if version is None:
            if tables & ours:
                raise StoreUnusable(
                    f"the state store at {self.url} has trackerbridge tables but no schema version; {_RECOVER}"
                )
            if not create:
                raise StoreUnusable(f"no trackerbridge state store at {self.url} (run `trackerbridge sync` first)")
            _md.create_all(conn)
            for ddl in _APPEND_ONLY_DDL.get(self._dialect, []):
                conn.exec_driver_sql(ddl)
            conn.execute(t_meta.insert().values(name="schema_version", value=str(SCHEMA_VERSION)))
            return
        if version > SCHEMA_VERSION:
            raise StoreUnusable(
                f"the state store at {self.url} has schema version {version}, written by a newer trackerbridge; "
                f"this one knows up to {SCHEMA_VERSION}: upgrade trackerbridge, or point `state.url` at a new store "
                "and run `trackerbridge sync --full`"
            )
        if version < SCHEMA_VERSION:
            if not create:
                raise StoreUnusable(
                    f"the state store at {self.url} has the older schema version {version}: "
                    "run `trackerbridge sync` once to upgrade it"
                )
            self._migrate(conn, version)
            tables = set(inspect(conn).get_table_names())
        missing = sorted(ours - tables)
        if missing:
            raise StoreUnusable(f"the state store at {self.url} lacks the table(s) {', '.join(missing)}; {_RECOVER}")

    def _migrate(self, conn: Connection, found: int) -> None:
        """Step an older schema up to this one, in the same transaction as the check."""
        if found < 2:  # 2 added tb_discovery
            t_discovery.create(conn, checkfirst=True)
        conn.execute(update(t_meta).where(t_meta.c.name == "schema_version").values(value=str(SCHEMA_VERSION)))

    # --- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _write(self, *, fenced: bool = True) -> Iterator[Connection]:
        """One write transaction. `fenced`: first make sure this run still holds its PostgreSQL lock
        (see `shared_lock`), so a run that lost it cannot write again; only recording the end of
        the run goes unfenced."""
        if self.read_only:
            raise StateStoreError(f"the state store at {self.url} was opened read-only")
        with deferred():  # SIGTERM waits for the transaction's end: a driver cut mid-call is left unusable
            if fenced:
                self.verify_lock()
            with self._write_engine.connect() as conn, conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with deferred(), self._engine.connect() as conn, conn.begin():
            yield conn

    def _upsert(self, conn: Connection, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Insert or replace rows by primary key, with the dialect's own upsert. Duplicate keys in
        `rows` keep the last (PostgreSQL refuses to update one row twice in a statement)."""
        keys = [c.name for c in table.primary_key.columns]
        unique = list({tuple(r[k] for k in keys): r for r in rows}.values())
        if not unique:
            return
        stmt = self._upserts.get(table.name)
        if stmt is None:
            if self._dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            elif self._dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
            else:  # any other dialect: delete, then insert, in the same transaction
                for chunk in _chunks(unique):
                    for r in chunk:
                        conn.execute(delete(table).where(*(table.c[k] == r[k] for k in keys)))
                    conn.execute(table.insert(), list(chunk))
                return
            ins = insert(table)
            others = {c.name: ins.excluded[c.name] for c in table.columns if c.name not in keys}
            stmt = (
                ins.on_conflict_do_update(index_elements=keys, set_=others) if others else ins.on_conflict_do_nothing()
            )
            self._upserts[table.name] = stmt
        for chunk in _chunks(unique):
            conn.execute(stmt, list(chunk))

    @contextmanager
    def shared_lock(self) -> Iterator[None]:
        """The run lock for runners on several machines sharing one PostgreSQL store (a session
        advisory lock, dropped by the server when the holder's connection dies); raises `Locked` at
        once when another run holds it. A no-op on SQLite, where `state.lock.run_lock` on the file
        next to the database does the job. Hold both: the file lock first, then this."""
        if self._dialect != "postgresql":
            yield
            return
        try:
            with deferred():
                conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                got = conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_RUN_LOCK})
        except OperationalError as exc:
            raise self._open_error(exc) from None
        with conn:
            if not got:
                holder = conn.execute(
                    text(
                        "SELECT a.pid, a.backend_start, host(a.client_addr) FROM pg_locks l "
                        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                        "AND l.classid = :hi AND l.objid = :lo"
                    ),
                    {"hi": _PG_RUN_LOCK >> 32, "lo": _PG_RUN_LOCK & 0xFFFFFFFF},
                ).first()
                since = holder[1].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if holder and holder[1] else "?"
                who = f"connection from {holder[2] or 'a local socket'}" if holder else "another runner"
                raise Locked(
                    f"another trackerbridge sync is running against {self.url} ({who}, connected since {since}); "
                    "this run exits without writing",
                    LockInfo(None, holder[1] if holder else None, holder[2] if holder else None),
                )
            self._lock_conn = conn
            self._lock_lost = None
            try:
                yield
            finally:
                self._lock_conn = None
                with suppress(SQLAlchemyError):  # the connection is gone, and the server dropped the lock with it
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_RUN_LOCK})

    def verify_lock(self) -> None:
        """Raise `LockLost` unless this run still holds its PostgreSQL run lock: the lock lives on one
        connection, and a server restart drops it while the pool's other connections reconnect and
        would carry on writing. Called before every write transaction and after every tracker write (sync);
        a no-op without `shared_lock`."""
        conn = self._lock_conn
        if conn is None:
            return
        if self._lock_lost is None:
            try:
                with deferred():  # a stop request cut into this query would leave the lock's connection unusable
                    held = conn.scalar(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                            "AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo"
                        ),
                        {"hi": _PG_RUN_LOCK >> 32, "lo": _PG_RUN_LOCK & 0xFFFFFFFF},
                    )
                if not held:
                    self._lock_lost = "the server no longer lists it"
            except SQLAlchemyError as exc:
                self._lock_lost = f"its connection failed: {_reason(exc)}"
        if self._lock_lost is not None:
            raise LockLost(
                f"this run lost its lock on the state store at {self.url} ({self._lock_lost}; did the database "
                "restart?): it stopped writing at once, since another run may hold the lock now; "
                "the next run carries on"
            )

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- runs ------------------------------------------------------------------------------------

    def begin_run(self, mode: str, started_at: datetime) -> int:
        """Record a run as "running"; it stays so until `finish_run` (or `abandon_stale_runs`)."""
        with self._write() as conn:
            result = conn.execute(
                t_runs.insert().values(mode=mode, started_at=started_at, status="running", metrics="{}")
            )
            return int(result.inserted_primary_key[0])

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
                for chunk in _chunks(log_rows):
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

        Streamed: records are encoded and written `_BATCH` at a time in the one transaction, so a
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
                if len(batch) >= _BATCH:
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
            for n in range(0, len(wanted), _BATCH):
                chunk = wanted[n : n + _BATCH]
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

    def _recover(self, rows: list[dict[str, Any]], exc: BaseException) -> StoreFailed:
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


def _reason(exc: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's statement dump, with any URL in them masked."""
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip().splitlines()
    return mask_text(text_[0] if text_ else type(exc).__name__)[:300]


def _prepare_sqlite_file(file: Path, read_only: bool) -> None:
    """The file and its directory exist, private (0600/0700: they hold every record's owners and titles),
    or a StoreUnusable that says what is wrong with the path."""
    if file.is_dir():
        raise StoreUnusable(f"the state store path {file} is a directory, not a file")
    if read_only:
        if not file.exists():
            raise StoreUnusable(f"no trackerbridge state store at {file} (run `trackerbridge sync` first)")
        return
    try:
        if not file.parent.exists():
            file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # two runs may start at once
        if not file.exists():
            os.close(os.open(file, os.O_RDWR | os.O_CREAT, 0o600))
        for part in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
            if part.exists() and part.stat().st_mode & 0o077 and part.stat().st_uid == os.geteuid():
                part.chmod(0o600)  # made readable to others by an older trackerbridge: private from now on
    except OSError as exc:
        raise StoreUnusable(
            f"cannot create the state store at {file}: {exc.strerror or exc}; "
            "make the directory writable, or point `state.url` somewhere that is"
        ) from None
    if not os.access(file, os.R_OK | os.W_OK) or not os.access(file.parent, os.W_OK | os.X_OK):
        raise StoreUnusable(
            f"the state store at {file} is not writable (file or directory permissions); "
            "`report` reads it as it is, `sync` needs it writable"
        )


def _sqlite_setup(engine: Engine, busy_timeout: float, read_only: bool = False) -> None:
    """WAL (readers never wait for the writer), a busy timeout, and transactions that SQLAlchemy
    begins itself, so BEGIN IMMEDIATE is possible (sqlite3's own BEGIN is always deferred)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not read_only:
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")  # durable across a crash of the process; fast commits
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("tb_begin", "BEGIN"))
