"""What the state store remembers for reports: the run history (headline and per-team metrics of past
syncs), when the records were last read, and the audit rebuilt from the last sync's records.

Read-only: a report never creates a store (a SQLite file that does not exist is "no runs") and never
writes one. Problems are exceptions with an `exit_code` and a message that names the store with its
password masked; the CLI prints them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trackerbridge.audit import AuditResult
    from trackerbridge.config.project import Project
    from trackerbridge.state.store import StateStore

HISTORY_RUNS = 20_000  # a year of 15-minute cron runs is 35,000; the report keeps one point a day anyway
# runs whose metrics may describe half a read
UNUSABLE = frozenset({"running", "crashed", "failed", "interrupted", "lock-lost", "store-failed"})
NO_STATE = (
    "no runs in the state store at {url}: run `trackerbridge sync` first, or pass --pull to read the trackers now"
)


class NoState(Exception):
    """The store holds no finished sync (or no records) to report from: exit 2, saying what to run."""

    exit_code = 2

    def __init__(self, url: str) -> None:
        super().__init__(NO_STATE.format(url=_safe(url)))


def read_team_history(url: str, since: datetime | None) -> list[tuple[datetime, Mapping[str, Any]]]:
    """(time, per-team metrics) of past syncs that finished and stored them; none without a store."""
    from sqlalchemy.exc import SQLAlchemyError

    from trackerbridge.state.store import StateStoreError, StoreUnusable

    try:
        store = open_read_only(url)
        if store is None:
            return []
        with store:
            runs = store.runs(limit=HISTORY_RUNS, since=since)
    except (StateStoreError, SQLAlchemyError) as exc:
        raise StoreUnusable(f"cannot read the state store at {_safe(url)}: {exc}") from exc
    return [
        (r.started_at, r.metrics["teams"])
        for r in runs
        if r.status not in UNUSABLE and isinstance(r.metrics.get("teams"), Mapping)
    ]


def open_read_only(url: str) -> StateStore | None:
    """The store, or None when it is a SQLite file that does not exist (a report never creates one)."""
    from sqlalchemy.engine import make_url

    from trackerbridge.state.store import StateStore

    parsed = make_url(url)
    db = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and db
        and db != ":memory:"
        and not db.startswith("file:")
        and not Path(db).expanduser().exists()
    ):
        return None
    return StateStore.open(url, read_only=True)  # a report never writes: also on a read-only disk


def metrics_of(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    """A run's headline figures (`report.model.headline_metrics`): under "headline" when the sync nests them, else
    the top level. Metrics without "active" were counted some other way (red over every record, say): none."""
    nested = metrics.get("headline")
    found = nested if isinstance(nested, Mapping) else metrics
    return found if "active" in found else {}


def read_history(
    url: str, since: datetime | None, *, required: bool = False
) -> list[tuple[datetime, Mapping[str, Any]]]:
    """(time, headline metrics) of past runs that finished; with `required`, no finished run is `NoState`.
    A `StateStoreError` says which store and what to do (unreachable is exit 3, like a tracker); another
    database error is `StoreUnusable` (exit 2) with its first line."""
    from sqlalchemy.exc import SQLAlchemyError

    from trackerbridge.state.store import StoreUnusable

    try:
        store = open_read_only(url)
        if store is None:
            runs = []
        else:
            with store:
                runs = store.runs(limit=HISTORY_RUNS, since=since)
    except SQLAlchemyError as exc:
        raise StoreUnusable(f"cannot read the state store at {_safe(url)}: {_reason(exc)}") from exc
    finished = [r for r in runs if r.status not in UNUSABLE]
    if required and not finished:
        raise NoState(url)
    return [(r.started_at, m) for r in finished if (m := metrics_of(r.metrics))]


def last_read(url: str) -> datetime | None:
    """When the newest finished run started: the records in the store were read then."""
    store = open_read_only(url)
    if store is None:
        return None
    with store:
        runs = store.runs(limit=50)
    return next((r.started_at for r in runs if r.status not in UNUSABLE), None)


def _reason(exc: Exception) -> str:
    from trackerbridge.redact import mask_text

    return mask_text(str(getattr(exc, "orig", None) or exc).splitlines()[0])[:300]


def _safe(url: str) -> str:
    from trackerbridge.redact import mask_url

    return mask_url(url)


def audit_from_state(project: Project, url: str, now: datetime) -> AuditResult:
    """The last read of every record (no API calls), evaluated with the project's rules as of `now`.

    Sync drift (TB113) needs the live field catalogs to resolve sync bindings, so it is only checked with --pull."""
    from sqlalchemy.exc import SQLAlchemyError

    from trackerbridge.audit import assess
    from trackerbridge.rules.registry import load_rules
    from trackerbridge.rules.settings import health_policy, rule_settings
    from trackerbridge.state.store import StoreUnusable

    names = project.select([])
    rules = load_rules()
    settings = rule_settings(project, rules)
    try:
        store = open_read_only(url)
        if store is None:
            raise NoState(url)
        with store:
            initiatives = [i for name in names for i in store.load_records(name)]
    except SQLAlchemyError as exc:
        raise StoreUnusable(f"cannot read the state store at {_safe(url)}: {_reason(exc)}") from exc
    if not initiatives:
        raise NoState(url)
    mappings = {name: project.connectors[name].mapping for name in names}
    return assess(initiatives, rules, settings, health_policy(project), now, (), mappings)
