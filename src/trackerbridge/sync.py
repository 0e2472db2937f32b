"""One sync run: read (incrementally), assess, plan, write, and record, in the order that makes a
killed run safe to repeat.

The order matters. The snapshot of the records read and the intent are saved before a connector
writes; outcomes after (a transaction per batch of them, see `_OutcomeBatch`); remembered values and
health after that; the watermark last. A run killed anywhere re-reads at least what it had not
finished, tells its own writes from a person's by the activity stamp they carry (`activity`),
re-plans against what the trackers now hold, and finds its own notes by their markers instead of
posting them twice.

The steps, each a function of its inputs: `locked_sync` (the lock and what goes with it) calls `run_sync`;
`_read` reads each connector from its `Cursor`; `assess` and `plan`, then `judge_as_synced` (the second
round); `_write` returns the run's result. Plans, records and results are never edited in place.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from trackerbridge.assessment import AuditResult, SourceSummary, assess
from trackerbridge.changes import Outcome, RecordChange
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import ConnectorError
from trackerbridge.cursor import Cursor
from trackerbridge.health import Flag
from trackerbridge.interrupt import Interrupted
from trackerbridge.longlived import long_lived
from trackerbridge.metrics import RunMetrics, headline_metrics, team_metrics
from trackerbridge.model import Initiative
from trackerbridge.people import match_people
from trackerbridge.planner import Plan, PlanState, WriteSpec, plan
from trackerbridge.rules.base import Finding
from trackerbridge.rules.engine import RULE_CRASHED, crashed_refs
from trackerbridge.rules.registry import load_rules
from trackerbridge.rules.settings import health_policy, rule_settings
from trackerbridge.sources import DiscoveryCache, Source, open_source, sync_bindings
from trackerbridge.state.held import held_store
from trackerbridge.state.store import LockLost, StateStore, StateStoreError, Write

Log = Callable[..., None]  # log(event, **fields)


@dataclass(frozen=True)
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
    cursors: dict[str, Cursor] = field(default_factory=dict)  # each connector's read window, past what it read

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


WATERMARK_MARGIN = timedelta(minutes=2)
"""How far a live run's watermark floor stays behind its start: the trackers' clocks may differ from ours by a
little (the cursor's `overlap` then starts a Jira read two minutes earlier still)."""


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def locked_sync(
    project: Project,
    names: Sequence[str],
    url: str,
    env: Mapping[str, str] = os.environ,
    *,
    as_of: datetime | None = None,
    dry_run: bool = False,
    full: bool = False,
    log: Log | None = None,
    clock: Callable[[], datetime] = _wall_clock,
) -> SyncResult:
    """One run as cron starts it (`trackerbridge sync`): `run_sync` holding the run lock.

    In order: the store at `url` as every writer holds it (`state.held.held_store`: the run's file lock,
    `Locked` when another run holds it, the store, its shared lock), and the pacing of the trackers'
    allowance (`quota.share`). Holding them, a run an earlier process left
    "running" cannot be alive: it is marked crashed. A live run (no `as_of`) judges as of `clock()`,
    reads relative to the trackers' time and lets its watermark advance to its start less
    `WATERMARK_MARGIN`; an `as_of` run judges as of that moment, and its watermark is what it read. A run
    that writes applies the retention afterwards, once a day, still holding the lock."""
    log = log or (lambda event, **fields: None)
    live = as_of is None
    now = clock() if as_of is None else as_of
    with held_store(url, project.root) as store, paced(project.config.quota.share):
        store.abandon_stale_runs()
        result = run_sync(
            project,
            list(names),
            now,
            store,
            env,
            dry_run=dry_run,
            full=full,
            log=log,
            watermark_floor=now - WATERMARK_MARGIN if live else None,
            clock=clock if live else None,
        )
        if not dry_run:
            prune_if_due(store, now, project.config.state.retention_days, log, clock())
    return result


@contextmanager
def paced(share: float) -> Iterator[None]:
    """Keep to `share` of each tracker's remaining allowance; 1 leaves it to the trackers' own limits."""
    from trackerbridge.connectors.http import pacing

    if share >= 1:
        yield
        return
    with pacing(share):
        yield


def prune_if_due(store: StateStore, now: datetime, days: int, log: Log, wall: datetime) -> None:
    """Apply the retention once a day (hold the run lock): the store does not grow for ever. `now` is the
    run's time line (runs before it less `days` go); `wall`, the clock the once a day is counted on."""
    last = store.pruned_at()
    if last is not None and wall - last < timedelta(days=1):
        return
    runs, rows = store.prune(now - timedelta(days=days))
    if runs or rows:
        log("pruned", runs=runs, audit_rows=rows, kept_days=days)


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
    nothing; without it the watermark is the newest record seen (each connector's `Cursor`). `clock`
    is the trackers' time in a live run (not `--as-of`): connectors may read relative to it, and what
    they learn when connecting is kept in the store and reused for `state.discovery_max_age`. `only`
    (record refs) limits the writes to those records (`conflicts resolve`); the rest are planned again
    by the next run."""
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
        records, read, cursors = _read(sources, store, full, log, clock, watermark_floor)
        syncs = sync_bindings(project, sources)
        mappings = {s.name: s.mapping.name for s in sources}
        specs = write_specs(sources)
        state = PlanState(
            written={(s.name, k, slot): v for s in sources for (k, slot), v in store.written(s.name).items()},
            health={(s.name, k): v for s in sources for k, v in store.health(s.name).items()},
            pending_notes=_pending_notes(store, [s.name for s in sources]),
        )
        policy = health_policy(project)
        fixes = {code: rule.fix for code, rule in rules.items()}
        people = match_people(records, syncs, {s.name: s.connector for s in sources}, mappings, specs)

        def judged(on: Sequence[Initiative]) -> AuditResult:
            return assess(on, rules, settings, policy, now, syncs, mappings)

        def planned_for(verdict: AuditResult) -> Plan:  # always against the records as read
            return plan(records, verdict.health, specs, syncs, state, now, fixes=fixes, people=people)

        first = judged(records)
        result, planned = judge_as_synced(records, first, planned_for(first), judged, planned_for)
        summaries = [SourceSummary(s.name, s.server, read[s.name], sum(s.connector.calls.values())) for s in sources]
        result = replace(result, sources=summaries)
        planned = _hold_crashed(planned, crashed_refs(result.findings), result.findings, log)
        if only is not None:
            planned = replace(planned, changes=[c for c in planned.changes if f"{c.connector}:{c.key}" in only])
        outcome = SyncResult(result, planned, dry_run, read=read, began=began, cursors=cursors)
        if not dry_run:
            outcome = _write(outcome, sources, store, now, log)
        return replace(outcome, api_calls=_calls(sources))
    finally:
        for s in sources:
            s.connector.close()


def _read(
    sources: Sequence[Source],
    store: StateStore,
    full: bool,
    log: Log,
    clock: Callable[[], datetime] | None,
    floor: datetime | None,
) -> tuple[list[Initiative], dict[str, int], dict[str, Cursor]]:
    """Changed records from each tracker, merged over the last snapshot of the rest; and each
    connector's cursor, advanced past what it read."""
    records: list[Initiative] = []
    read: dict[str, int] = {}
    cursors: dict[str, Cursor] = {}
    for s in sources:
        since = None if full else store.watermark(s.name)
        started = time.monotonic()
        window, cursors[s.name] = s.read_window(Cursor(since, s.connector.overlap, floor), clock)
        # a key sent twice (an issue edited during the read) is one record: its newest copy
        fresh = list({i.key: i for i in window}.values())
        del window
        read[s.name] = len(fresh)
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
    return records, read, cursors


def judge_as_synced(
    records: list[Initiative],
    result: AuditResult,
    planned: Plan,
    judged: Callable[[Sequence[Initiative]], AuditResult],
    planned_for: Callable[[AuditResult], Plan],
) -> tuple[AuditResult, Plan]:
    """The second assess -> plan round: the verdict as it will be once this run's synced values land.

    The first plan says which synced values this run writes (and which synced people are one person
    under two identities). Judged on the records as read, those targets still hold the old value, so
    the run would report drift (TB113) it is about to fix, and write it into their health and reasons,
    for the next run to take back: flapping. So the records are judged again with the planned values in
    place (`_assume_synced`), and planned again from that verdict, still against the records as read
    (a FieldChange's `before` is what the tracker holds). With nothing synced the first round stands."""
    synced = _assume_synced(records, planned)
    if synced is records:
        return result, planned
    again = judged(synced)
    return again, planned_for(again)


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


def _write(base: SyncResult, sources: Sequence[Source], store: StateStore, now: datetime, log: Log) -> SyncResult:
    """The writes of a planned run, recorded in the order that makes a kill safe (module docstring):
    `base` with the run's id, outcomes and why it stopped early (if it did)."""
    planned = base.plan
    run_id = store.begin_run("sync", now)
    outcomes: list[Outcome] = []
    stopped: str | None = None

    def so_far() -> SyncResult:
        return replace(base, run_id=run_id, outcomes=list(outcomes), stopped=stopped)

    by_source = {s.name: s for s in sources}
    done: set[str] = set()  # connectors whose changes were all attempted
    try:
        # The snapshot of what was read goes first: an incremental re-run after a kill merges what it
        # re-reads over it (what trackerbridge wrote is told apart by the trackers, see `activity`).
        for s in sources:
            mine = [i for i in base.audit.initiatives if i.source == s.name]
            store.save_records(s.name, mine, replace=base.cursors[s.name].full)
        for s in sources:
            changes = planned.for_connector(s.name)
            if not changes:
                done.add(s.name)
                continue
            changes = _mark_known_notes(store, s.name, changes)  # before _log_intent marks this run's as pending
            _log_intent(store, run_id, changes, now)
            fields = {fi.id: fi for fi in s.mapping.fields}
            for fi in s.mapping.write_fields.values():
                fields.setdefault(fi.id, fi)
            by_key = {c.key: c for c in changes}
            batch = _OutcomeBatch(store, run_id, by_key, now)
            try:
                # recheck: `before` is what this run read, so a person's later edit of a synced field wins
                for outcome in s.connector.apply(changes, fields, recheck_synced=True):
                    outcomes.append(outcome)
                    batch.add(outcome)
                    store.verify_lock()  # the fence: outcomes are recorded in batches, the lock checked per write
            except ConnectorError as exc:  # a spent quota: keep what was written and recorded, stop here
                stopped = f"{s.name}: {exc}"
                log("stopped", connector=s.name, reason=str(exc))
                break
            finally:
                batch.flush()
            gone = [o.key for o in outcomes if o.gone and o.connector == s.name]
            if gone:
                store.forget_records(s.name, gone)  # a later run neither judges nor writes them again
            if any(o.connector == s.name and not o.ok and not o.gone for o in outcomes):
                store.forget_discovery(s.name)  # a field or option may have changed: the next run asks again
            done.add(s.name)
            log(
                "wrote",
                connector=s.name,
                changes=len(changes),
                failed=sum(1 for o in outcomes if o.connector == s.name and not o.ok),
            )
        result = so_far()
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
            mark = base.cursors[s.name].next_watermark
            if result.stopped is None and mark is not None:
                store.set_watermark(s.name, mark, run_id)
        status = "stopped" if result.stopped else ("partial" if result.failed else "ok")
    except BaseException as exc:
        result = so_far()
        with suppress(StateStoreError, SQLAlchemyError):  # a failing store: the run stays "running", then "crashed"
            store.finish_run(run_id, _finished(result, now), _ended(exc), _metrics(result, by_source))
        raise
    store.finish_run(run_id, _finished(result, now), status, _metrics(result, by_source))
    return result


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


def _mark_known_notes(store: StateStore, connector: str, changes: Sequence[RecordChange]) -> list[RecordChange]:
    """Copies of the changes that tell the connector which notes an earlier run may have posted: only
    markers the store already holds (pending: a run died between posting and recording; posted). A
    marker it has never seen was never sent, so the connector need not read the record's comments (or
    Tasks) for it. The plan's own changes are left as planned."""
    if not any(c.notes for c in changes):
        return list(changes)
    known = store.notes(connector)
    return [
        replace(c, notes=[replace(n, maybe_posted=(c.key, n.marker) in known) for n in c.notes]) if c.notes else c
        for c in changes
    ]


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
    """The run's figures as the store keeps them (`metrics.RunMetrics`)."""
    flags = result.audit.flag_counts()
    return RunMetrics(
        initiatives=len(result.audit.initiatives),
        red=flags[Flag.RED],
        amber=flags[Flag.AMBER],
        green=flags[Flag.GREEN],
        findings=len(result.audit.live),
        changes=len(result.plan.changes),
        written=result.written,
        failed=len(result.failed),
        conflicts=len(result.plan.conflicts),
        read=result.read,
        api_calls=sum(sum(s.connector.calls.values()) for s in sources.values()),
        headline=headline_metrics(result.audit),
        teams=team_metrics(result.audit),
    ).as_json()
