"""The state store's tables (SQLAlchemy Core, portable between SQLite and PostgreSQL) and its schema version."""

from __future__ import annotations

from datetime import datetime, timezone
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
)
from sqlalchemy.types import TypeDecorator

from trackerbridge.state.errors import StateStoreError

SCHEMA_VERSION = 2
"""Bump with a migration in `StateStore._migrate` whenever a table changes."""

UTC = timezone.utc


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
