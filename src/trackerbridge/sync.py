"""One sync run: read (incrementally), assess, plan, write, and record, in the order that makes a
killed run safe to repeat.

The order matters. The snapshot of the records read and the intent are saved before a connector
writes; outcomes after (a transaction per batch of them, see `_OutcomeBatch`); remembered values and
health after that; the watermark last. A run killed anywhere re-reads at least what it had not
finished, tells its own writes from a person's by the activity stamp they carry (`activity`),
re-plans against what the trackers now hold, and finds its own notes by their markers instead of
posting them twice.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from trackerbridge.audit import AuditResult, SourceSummary, assess
from trackerbridge.changes import Outcome, RecordChange
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import ConnectorError
from trackerbridge.health import Flag
from trackerbridge.interrupt import Interrupted
from trackerbridge.longlived import long_lived
from trackerbridge.model import Initiative
from trackerbridge.people import match_people
from trackerbridge.planner import Plan, PlanState, WriteSpec, plan
from trackerbridge.report.model import headline_metrics
from trackerbridge.report.team import team_metrics
from trackerbridge.rules.base import Finding
from trackerbridge.rules.engine import RULE_CRASHED, crashed_refs
from trackerbridge.rules.registry import load_rules
from trackerbridge.rules.settings import health_policy, rule_settings
from trackerbridge.sources import DiscoveryCache, Source, open_source, sync_bindings
from trackerbridge.state.store import LockLost, StateStore, StateStoreError, Write

Log = Callable[..., None]  # log(event, **fields)


@dataclass
class SyncResult:
    audit: AuditResult
    plan: Plan
    dry_run: bool
    run_id: int | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # why a connector stopped early (quota), if it did
    api_calls: dict[str, int] = field(default_factory=dict)
    read: dict[str, int] = field(default_factory=dict)  # records read per connector this run
    began: float = field(default_factory=time.monotonic)  # when the run started: finished_at is `now` + elapsed

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok and not o.gone]

    @property
    def deleted(self) -> list[Outcome]:
        """Records the tracker says were deleted since they were read: forgotten, reported once."""
        return [o for o in self.outcomes if o.gone]

    @property
    def written(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def crashed(self) -> set[str]:
        """Records some rule crashed on (TB000): their write-back was held this run (`_hold_crashed`)."""
        return crashed_refs(self.audit.findings)


REASONS_LIMIT = 255  # when the catalog gives no length (Jira: a single-line text field's)


def write_specs(sources: Sequence[Source]) -> dict[str, WriteSpec]:
    specs = {}
    for s in sources:
        wb = s.mapping.spec.write_back
        values = {Flag(k): v for k, v in (wb.health_values or {}).items()}
        owns = s.owns
        jira = s.server.system == "jira"
        specs[s.name] = WriteSpec(
            connector=s.name,
            mapping=s.mapping.name,
            health_field=s.mapping.write_fields.get("health"),
            health_values={**{Flag.GREEN: "Green", Flag.AMBER: "Amber", Flag.RED: "Red"}, **values},
            reasons_field=(reasons := s.mapping.write_fields.get("reasons")),
            reasons_limit=reasons.length if reasons is not None and reasons.length else REASONS_LIMIT,
            label_prefix=wb.label_prefix if jira else None,
            owned_labels=frozenset(owns.labels) if owns and jira else frozenset(),
            owned_label_prefixes=tuple(owns.label_prefixes) if owns and jira else (),
            notify_on_red=wb.notify_on_red,
            sync_fields={r: fi for r, fi in s.mapping.write_fields.items() if r.startswith("sync:")},
            stamp=jira,
            activity_field=s.mapping.write_fields.get("activity"),
        )
    return specs


@long_lived()  # every record is held until planning ends: keep the garbage collector off them
def run_sync(
    project: Project,
    names: Sequence[str],
    now: datetime,
    store: StateStore,
    env: Mapping[str, str] = os.environ,
    *,
    dry_run: bool = False,
    full: bool = False,
    log: Log | None = None,
    watermark_floor: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
    only: set[str] | None = None,
) -> SyncResult:
    """One run. `watermark_floor` (the wall clock at the start, less a margin for clock skew) lets
    the watermark move past trackerbridge's own writes once they were re-read, so an idle run reads
    nothing; without it the watermark is the newest record seen. `clock` is the trackers' time in a
    live run (not `--as-of`): connectors may read relative to it, and what they learn when
    connecting is kept in the store and reused for `state.discovery_max_age`. `only` (record refs) limits
    the writes to those records (`conflicts resolve`); the rest are planned again by the next run."""
    log = log or (lambda event, **fields: None)
    began = time.monotonic()
    rules = load_rules()
    settings = rule_settings(project, rules)
    sources: list[Source] = []
    cache = None
    if clock is not None:
        max_age = timedelta(seconds=project.config.state.discovery_max_age)
        cache = DiscoveryCache(store, clock(), max_age, refresh=full)
    try:
        for name in project.select(names):
            sources.append(open_source(project, name, env, identify=False, cache=cache))
        records, read, full_read = _read(sources, store, full, log, clock)
        syncs = sync_bindings(project, sources)
        mappings = {s.name: s.mapping.name for s in sources}
        specs = write_specs(sources)
        state = PlanState(
            written={(s.name, k, slot): v for s in sources for (k, slot), v in store.written(s.name).items()},
            health={(s.name, k): v for s in sources for k, v in store.health(s.name).items()},
            pending_notes=_pending_notes(store, [s.name for s in sources]),
        )
        policy = health_policy(project)
        result = assess(records, rules, settings, policy, now, syncs, mappings)
        fixes = {code: rule.fix for code, rule in rules.items()}
        people = match_people(records, syncs, {s.name: s.connector for s in sources}, mappings, specs)
        planned = plan(records, result.health, specs, syncs, state, now, fixes=fixes, people=people)
        synced = _assume_synced(records, planned)
        if synced is not records:  # judge health as it will be once the synced values land
            result = assess(synced, rules, settings, policy, now, syncs, mappings)
            planned = plan(records, result.health, specs, syncs, state, now, fixes=fixes, people=people)
        result.sources = [
            SourceSummary(s.name, s.server, read[s.name], sum(s.connector.calls.values())) for s in sources
        ]
        planned = _hold_crashed(planned, crashed_refs(result.findings), result.findings, log)
        if only is not None:
            planned.changes = [c for c in planned.changes if f"{c.connector}:{c.key}" in only]
        outcome = SyncResult(result, planned, dry_run, read=read, began=began)
        if dry_run:
            outcome.api_calls = _calls(sources)
            return outcome
        _write(outcome, sources, store, now, full_read, log, watermark_floor)
        outcome.api_calls = _calls(sources)
        return outcome
    finally:
        for s in sources:
            s.connector.close()


def _read(
    sources: Sequence[Source], store: StateStore, full: bool, log: Log, clock: Callable[[], datetime] | None
) -> tuple[list[Initiative], dict[str, int], dict[str, bool]]:
    """Changed records from each tracker, merged over the last snapshot of the rest."""
    records: list[Initiative] = []
    read: dict[str, int] = {}
    full_read: dict[str, bool] = {}
    for s in sources:
        since = None if full else store.watermark(s.name)
        started = time.monotonic()
        # a key sent twice (an issue edited during the read) is one record: its newest copy
        fresh = list({i.key: i for i in s.read(since, clock)}.values())
        read[s.name] = len(fresh)
        full_read[s.name] = since is None
        # Records carry their own activity clock (`trackerbridge.activity`): trackerbridge's writes
        # are told from a person's by the trackers, so the snapshot only fills in what was not re-read.
        if since is None:
            merged = fresh
        else:
            by_key = {i.key: i for i in store.load_records(s.name)} if store.has_records(s.name) else {}
            by_key.update((i.key, i) for i in fresh)
            merged = list(by_key.values())
        records.extend(merged)
        log(
            "read",
            connector=s.name,
            since=since.isoformat() if since else None,
            changed=len(fresh),
            total=len(merged),
            seconds=round(time.monotonic() - started, 3),
        )
    return records, read, full_read


def _assume_synced(records: list[Initiative], planned: Plan) -> list[Initiative]:
    """Copies of the sync targets with the planned values in `current`, so drift this run fixes is
    not reported (and written into reasons) by the same run. The same list if nothing is synced."""
    values: dict[str, dict[str, Any]] = {}
    for change in planned.changes:
        for f in change.fields:
            if f.reason.startswith("sync:"):
                values.setdefault(f"{change.connector}:{change.key}", {})[f.field] = f.after
    for connector, key, field_id, value in planned.matched:  # one person under two identities: not drift
        values.setdefault(f"{connector}:{key}", {})[field_id] = value
    if not values:
        return records
    return [replace(i, current={**i.current, **values[i.ref]}) if i.ref in values else i for i in records]


def _hold_crashed(planned: Plan, crashed: set[str], findings: Sequence[Finding], log: Log) -> Plan:
    """A record some rule crashed on has a health without that rule's verdict: nothing is written to it
    this run (no health, reasons, label, note or synced value), and neither its health nor the values it
    would have been written are kept as written, so the next run whose rules work plans it afresh. Its
    own values still feed the records it syncs to. Each held record is logged once (`rule-crashed`)."""
    if not crashed:
        return planned
    for f in findings:
        if f.code == RULE_CRASHED.code:
            log("rule-crashed", connector=f.source, key=f.key, error=f.message, held=True)
    return replace(
        planned,
        changes=[c for c in planned.changes if f"{c.connector}:{c.key}" not in crashed],
        health=[h for h in planned.health if f"{h[0]}:{h[1]}" not in crashed],
        remember=[r for r in planned.remember if f"{r[0]}:{r[1]}" not in crashed or r[2].startswith("seen:")],
    )


def _write(
    result: SyncResult,
    sources: Sequence[Source],
    store: StateStore,
    now: datetime,
    full_read: dict[str, bool],
    log: Log,
    floor: datetime | None = None,
) -> None:
    planned = result.plan
    run_id = store.begin_run("sync", now)
    result.run_id = run_id
    by_source = {s.name: s for s in sources}
    done: set[str] = set()  # connectors whose changes were all attempted
    try:
        # The snapshot of what was read goes first: an incremental re-run after a kill merges what it
        # re-reads over it (what trackerbridge wrote is told apart by the trackers, see `activity`).
        for s in sources:
            mine = [i for i in result.audit.initiatives if i.source == s.name]
            store.save_records(s.name, mine, replace=full_read[s.name])
        for s in sources:
            changes = planned.for_connector(s.name)
            if not changes:
                done.add(s.name)
                continue
            _mark_known_notes(store, s.name, changes)  # before _log_intent marks this run's own as pending
            _log_intent(store, run_id, changes, now)
            fields = {fi.id: fi for fi in s.mapping.fields}
            for fi in s.mapping.write_fields.values():
                fields.setdefault(fi.id, fi)
            by_key = {c.key: c for c in changes}
            s.connector.recheck_synced = True  # `before` is what this run read: a person's later edit wins
            batch = _OutcomeBatch(store, run_id, by_key, now)
            try:
                for outcome in s.connector.apply(changes, fields):
                    result.outcomes.append(outcome)
                    batch.add(outcome)
                    store.verify_lock()  # the fence: outcomes are recorded in batches, the lock checked per write
            except ConnectorError as exc:  # a spent quota: keep what was written and recorded, stop here
                result.stopped = f"{s.name}: {exc}"
                log("stopped", connector=s.name, reason=str(exc))
                break
            finally:
                batch.flush()
            gone = [o.key for o in result.deleted if o.connector == s.name]
            if gone:
                store.forget_records(s.name, gone)  # a later run neither judges nor writes them again
            if any(o.connector == s.name and not o.ok and not o.gone for o in result.outcomes):
                store.forget_discovery(s.name)  # a field or option may have changed: the next run asks again
            done.add(s.name)
            log(
                "wrote",
                connector=s.name,
                changes=len(changes),
                failed=sum(1 for o in result.outcomes if o.connector == s.name and not o.ok),
            )
        failed_keys = {(o.connector, o.key) for o in result.failed}
        unseen = {fed for ref in failed_keys for fed in planned.fed_by.get(ref, ())}
        for s in sources:
            if s.name not in done:  # stopped before its writes: leave its state as it was
                continue
            remember = [
                (k, slot, v) for c, k, slot, v in planned.remember if c == s.name and (c, k, slot) not in unseen
            ]
            store.remember_many(s.name, remember)
            healthy = [(k, flag, since) for c, k, flag, since in planned.health if c == s.name]
            store.set_health(s.name, [(k, flag, since) for k, flag, since in healthy if (s.name, k) not in failed_keys])
        for s in sources:
            mark = max((m for m in (s.high_water, floor) if m is not None), default=None)
            if result.stopped is None and mark is not None:
                store.set_watermark(s.name, mark, run_id)
        status = "stopped" if result.stopped else ("partial" if result.failed else "ok")
    except BaseException as exc:
        with suppress(StateStoreError, SQLAlchemyError):  # a failing store: the run stays "running", then "crashed"
            store.finish_run(run_id, _finished(result, now), _ended(exc), _metrics(result, by_source))
        raise
    store.finish_run(run_id, _finished(result, now), status, _metrics(result, by_source))


def _finished(result: SyncResult, now: datetime) -> datetime:
    """The end of the run on the run's own time line (`now` may be --as-of): start plus elapsed time."""
    return now + timedelta(seconds=time.monotonic() - result.began)


def _ended(exc: BaseException) -> str:
    """The run's status when it ends on an exception: why it stopped, as `trackerbridge report` shows it."""
    if isinstance(exc, Interrupted):
        return "interrupted"
    if isinstance(exc, LockLost):
        return "lock-lost"
    if isinstance(exc, StateStoreError | SQLAlchemyError):
        return "store-failed"
    return "failed"


def _field_writes(run_id: int, change: RecordChange, status: str, error: str | None, now: datetime) -> list[Write]:
    writes = [
        Write(run_id, change.connector, change.key, f.field, f.before, f.after, status, error, now)
        for f in change.fields
    ]
    if change.add_labels or change.remove_labels:
        writes.append(
            Write(
                run_id,
                change.connector,
                change.key,
                "labels",
                change.remove_labels,
                change.add_labels,
                status,
                error,
                now,
            )
        )
    return writes


def _pending_notes(store: StateStore, connectors: Sequence[str]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Notes an earlier run logged as about to be posted and never saw posted."""
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for name in connectors:
        for (key, marker), status in store.notes(name).items():
            if status == "pending":
                out[(name, key)] = (*out.get((name, key), ()), marker)
    return out


def _mark_known_notes(store: StateStore, connector: str, changes: Sequence[RecordChange]) -> None:
    """Tell the connector which notes an earlier run may have posted: only markers the store already
    holds (pending: a run died between posting and recording; posted). A marker it has never seen
    was never sent, so the connector need not read the record's comments (or Tasks) for it."""
    if not any(c.notes for c in changes):
        return
    known = store.notes(connector)
    for c in changes:
        if c.notes:
            c.notes = [replace(n, maybe_posted=(c.key, n.marker) in known) for n in c.notes]


def _log_intent(store: StateStore, run_id: int, changes: Sequence[RecordChange], now: datetime) -> None:
    """Before writing: what is about to be written, and every note as pending, in one transaction, so a
    killed run leaves a record of its intent."""
    store.record_writes(
        (w for c in changes for w in _field_writes(run_id, c, "planned", None, now)),
        notes=[(c.connector, c.key, note.marker, "pending", run_id) for c in changes for note in c.notes],
    )


OUTCOME_BATCH = 1000
"""Outcomes recorded per transaction at most: a Salesforce Composite call's worth of records."""
OUTCOME_SECONDS = 1.0
"""...and at least this often, so a slow run (one call per Jira issue) leaves little unrecorded."""


class _OutcomeBatch:
    """Outcomes as the connector yields them, recorded one transaction per batch instead of one per
    record (a first sync of 100,000 spent a quarter of its CPU and 3.7 GB of disk writes in per-record
    commits). The intent is already recorded before the first write, so a run killed with outcomes
    still in here is a run killed between a write and its record: the next run re-plans against what
    the trackers hold and looks for its pending notes before posting them again."""

    def __init__(
        self,
        store: StateStore,
        run_id: int,
        changes: Mapping[str, RecordChange],
        now: datetime,
        *,
        size: int = OUTCOME_BATCH,
        seconds: float = OUTCOME_SECONDS,
    ) -> None:
        self.store, self.run_id, self.changes, self.now = store, run_id, changes, now
        self.size, self.seconds = size, seconds
        self.writes: list[Write] = []
        self.notes: list[tuple[str, str, str, str, int | None]] = []
        self.pending = 0
        self.since = time.monotonic()

    def add(self, outcome: Outcome) -> _OutcomeBatch:
        change = self.changes[outcome.key]
        self.writes += _field_writes(self.run_id, change, "ok" if outcome.ok else "failed", outcome.error, self.now)
        for marker in outcome.notes_posted:
            self.notes.append((change.connector, change.key, marker, "posted", self.run_id))
            self.writes.append(
                Write(
                    self.run_id,
                    change.connector,
                    change.key,
                    f"note:{marker}",
                    None,
                    "turned-red",
                    "ok",
                    None,
                    self.now,
                )
            )
        self.pending += 1
        if self.pending >= self.size or time.monotonic() - self.since >= self.seconds:
            self.flush()
        return self

    def flush(self) -> None:
        if self.writes or self.notes:
            self.store.record_writes(self.writes, notes=self.notes)
        self.writes, self.notes, self.pending = [], [], 0
        self.since = time.monotonic()


def _calls(sources: Sequence[Source]) -> dict[str, int]:
    calls: Counter[str] = Counter()
    for s in sources:
        for endpoint, n in s.connector.calls.items():
            calls[f"{s.name} {endpoint}"] += n
    return dict(sorted(calls.items()))


def _metrics(result: SyncResult, sources: Mapping[str, Source]) -> dict[str, Any]:
    flags = result.audit.flag_counts()
    return {
        "initiatives": len(result.audit.initiatives),
        "red": flags[Flag.RED],
        "amber": flags[Flag.AMBER],
        "green": flags[Flag.GREEN],
        "findings": len(result.audit.live),
        "changes": len(result.plan.changes),
        "written": result.written,
        "failed": len(result.failed),
        "conflicts": len(result.plan.conflicts),
        "rule_crashed": len(result.crashed),
        "read": result.read,
        "api_calls": sum(sum(s.connector.calls.values()) for s in sources.values()),
        "headline": headline_metrics(result.audit),  # the report's trends
        "teams": team_metrics(result.audit),  # the weekly team pages' trends
    }
