"""What the state store hands back and takes: runs, audit-log rows, kept discovery, writes to log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
