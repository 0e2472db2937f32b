"""The connection side of the state store: opening and checking a store (SQLite file or PostgreSQL
server), transactions, upserts, and the PostgreSQL run lock. `StateStore` (trackerbridge.state.store)
builds what it keeps on top of this; see that module's docstring for why SQLAlchemy Core."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import (
    Table,
    create_engine,
    delete,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

from trackerbridge.interrupt import deferred
from trackerbridge.redact import mask_text, mask_url
from trackerbridge.state.errors import (
    _RECOVER,
    LockLost,
    StateStoreError,
    StoreUnreachable,
    StoreUnusable,
    _reason,
)
from trackerbridge.state.lock import Locked, LockInfo
from trackerbridge.state.schema import (
    _APPEND_ONLY_DDL,
    SCHEMA_VERSION,
    UTC,
    _md,
    t_discovery,
    t_meta,
)

_PG_SCHEMA_LOCK = 0x7462_0001  # advisory lock keys ("tb"), fixed so every runner agrees
_PG_RUN_LOCK = 0x7462_0002
BATCH = 2000  # rows per executemany: bounded memory, few round trips
_Store = TypeVar("_Store", bound="Database")


def chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for n in range(0, len(rows), BATCH):
        yield rows[n : n + BATCH]


class Database:
    """A store's engine and the plumbing every table uses; `StateStore` is the one to open."""

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
    def open(cls: type[_Store], url: str, *, busy_timeout: float = 30.0, read_only: bool = False) -> _Store:
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
            raise StoreUnusable(f"the state store at {self.url} is damaged ({_reason(exc)}); {_RECOVER}") from None
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
                for chunk in chunks(unique):
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
        for chunk in chunks(unique):
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

    def __enter__(self: _Store) -> _Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


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
