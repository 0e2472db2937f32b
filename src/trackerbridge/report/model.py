"""The report as plain data, built from one audit and the metrics of past runs. Pure: no I/O, no clock.

Definitions (the sync stores `headline_metrics`, defined in `trackerbridge.metrics`, as each run's metrics, so
trends compare like with like):

- An *initiative* is a record of a connector whose rule scope includes the owner rule TB101: the demo
  scopes Salesforce opportunities to the hand-off rules, because deals are hand-off sources, not
  initiatives. *Active* means in decide, build or launch (or no stage mapped), as everywhere else.
- `active`: active initiatives.
- `share_owner`, `share_end_date`: the share of active initiatives with an owner / an end date.
- `share_integrator`: the share of *major* active initiatives with an integrator (TB103's population).
- `overdue`, `stuck_in_decide`: active initiatives with a live (not waived) TB105 / TB104 finding,
  i.e. the audit's counts for those rules.
- `red`, `amber`, `green`: active initiatives by health.
Shares are fractions in [0, 1], rounded to 4 places; with nothing to count a share is 1.0 (nothing missing).

Sprawl by owner and team counts exactly what TB107 and TB108 count, with the parameters the audit ran
with, so an owner shown over capacity is one the rule reported. Sunset candidates and hand-offs take
their reasons from the audit's findings and TB110/TB111's own definitions, never a second opinion.
Slips are active initiatives whose end date is later than their baseline (TB117's definitions and
parameters, `trackerbridge.slips`), largest first. Every list has a total, deterministic order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from trackerbridge.emitters.json import natural, severity, text, worst_first
from trackerbridge.health import Flag
from trackerbridge.metrics import Number, active_initiatives, headline_metrics, is_initiative
from trackerbridge.model import Initiative, Person, Stage
from trackerbridge.rules.base import Finding, Index, Rule
from trackerbridge.rules.builtin import (
    tb105_past_end_date,
    tb107_owner_overloaded,
    tb108_team_over_capacity,
    tb110_handoff_idle,
    tb111_handoff_without_owner,
    tb117_end_date_slipped_without_reason,
)
from trackerbridge.rules.builtin.tb105_past_end_date import today_in
from trackerbridge.rules.builtin.tb107_owner_overloaded import counted, newest
from trackerbridge.rules.builtin.tb111_handoff_without_owner import owner_of
from trackerbridge.rules.engine import effective_params
from trackerbridge.slips import SlipPolicy, slip_of

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult

SUNSET_CODES = ("TB101", "TB102", "TB105", "TB106")  # no owner, no end date, long overdue, stale
LONG_OVERDUE_DAYS = 30  # "long past the end date": overdue by at least this many days
MAX_POINTS = 60  # per sparkline: two months of daily points


@dataclass(frozen=True)
class Metric:
    """One headline figure: how it is shown, and which way is better."""

    key: str
    label: str
    kind: str  # "count" | "share"
    better: str  # "up" | "down" | "none"
    help: str


METRICS: tuple[Metric, ...] = (
    Metric("active", "Active initiatives", "count", "none", "initiatives in decide, build or launch"),
    Metric("share_owner", "With an owner", "share", "up", "share of active initiatives with a named owner"),
    Metric(
        "share_integrator",
        "Major with an integrator",
        "share",
        "up",
        "share of major active initiatives with a named integrator",
    ),
    Metric("share_end_date", "With an end date", "share", "up", "share of active initiatives with an end date"),
    Metric("overdue", "Overdue", "count", "down", "active initiatives past their end date (TB105)"),
    Metric(
        "stuck_in_decide", "Stuck in decide", "count", "down", "in decide too long without a decision owner (TB104)"
    ),
    Metric("red", "Red", "count", "down", "active initiatives with health red"),
    Metric("amber", "Amber", "count", "down", "active initiatives with health amber"),
    Metric("green", "Green", "count", "up", "active initiatives with health green"),
)
METRIC_KEYS = tuple(m.key for m in METRICS)


@dataclass(frozen=True)
class RecordRef:
    """A record to link to: the key people know, its title and its URL in Jira or Salesforce."""

    source: str
    system: str
    key: str
    url: str
    title: str

    @classmethod
    def of(cls, i: Initiative) -> RecordRef:
        return cls(text(i.source), text(i.system), text(i.key), text(i.url), text(i.title))


@dataclass(frozen=True)
class Headline:
    metric: Metric
    value: Number
    series: tuple[tuple[datetime, Number], ...]  # oldest first; the last point is this report's value

    @property
    def previous(self) -> Number | None:
        return self.series[-2][1] if len(self.series) > 1 else None

    @property
    def change(self) -> Number | None:
        previous = self.previous
        if previous is None:
            return None
        delta = self.value - previous
        return round(delta, 4) if isinstance(delta, float) else delta


@dataclass(frozen=True)
class Load:
    """Active initiatives an owner or team carries, against the capacity TB107/TB108 allow."""

    name: str
    active: int
    capacity: int
    basis: str  # how the capacity was set: "max_active", "configured", "6 owners x 5"

    @property
    def over(self) -> int:
        return max(0, self.active - self.capacity)


@dataclass(frozen=True)
class Reason:
    code: str
    text: str


@dataclass(frozen=True)
class SunsetCandidate:
    record: RecordRef
    owner: str | None
    team: str | None
    stage: str | None
    end: date | None
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Handoff:
    """A closed-won deal and its delivery records, as TB110 and TB111 see them."""

    deal: RecordRef
    closed: date | None
    deliveries: tuple[RecordRef, ...]
    started: date | None  # the first delivery record's creation day (TB110's time zone)
    idle_days: int | None  # close -> first delivery record, or so far when there is none; None: unknown
    owner: str | None  # the hand-off owner TB111 reads
    problems: tuple[Reason, ...]  # live TB110 / TB111 findings on the deal


@dataclass(frozen=True)
class FindingRow:
    record: RecordRef
    message: str
    flag: str  # the record's health


@dataclass(frozen=True)
class RuleFindings:
    code: str
    name: str
    severity: str
    summary: str
    findings: tuple[FindingRow, ...]  # live; the largest first when the rule measures days, else red records first
    waived: int
    by_size: bool = False  # ordered by the days each finding measures (idle, stale, overdue, in decide)

    @property
    def order(self) -> str:
        """How the rows are ordered, for a heading over the first few: "largest" (by days) or "first"."""
        return "largest" if self.by_size else "first"

    @property
    def count(self) -> int:
        return len(self.findings)


@dataclass(frozen=True)
class SlipRow:
    """An active initiative whose end date is later than its baseline (trackerbridge.slips), as TB117 sees it."""

    record: RecordRef
    owner: str | None
    team: str | None
    baseline: date
    baseline_from: str  # "attribute" | "history" | "current"
    end: date
    days: int
    moves: int
    last_moved: datetime | None
    reason: str | None

    @property
    def has_reason(self) -> bool:
        return self.reason is not None


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    since: datetime | None
    sources: tuple[str, ...]
    records: int  # records read, initiatives or not
    headline: tuple[Headline, ...]
    owners: tuple[Load, ...]  # overloaded first
    teams: tuple[Load, ...]
    sunset: tuple[SunsetCandidate, ...]
    long_overdue_days: int
    handoffs: tuple[Handoff, ...]  # problems first
    handoff_limit: int  # TB110's days
    rules: tuple[RuleFindings, ...]  # worst first
    initiatives: int = 0  # records in the scope of the owner rule (see the module docstring); `active` of them
    read_at: datetime | None = None  # when the records were read: the last sync's start, or the pull
    pulled: bool = False  # read for this report (--pull), not taken from the last sync
    slips: tuple[SlipRow, ...] = ()  # largest slip first, unexplained before explained

    @property
    def read_text(self) -> str:
        """When the data was read, in words for a header ("" when unknown)."""
        if self.read_at is None:
            return ""
        when = self.read_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return f"data read {when} ({'pulled for this report' if self.pulled else 'by the last sync'})"

    @property
    def population(self) -> str:
        """The three counts, explicitly, as the audit's headline gives them."""
        return population_text(self.records, self.initiatives, int(self.figure("active").value))

    def figure(self, key: str) -> Headline:
        for h in self.headline:
            if h.metric.key == key:
                return h
        raise KeyError(key)


def rule_params(result: AuditResult, builtin: Rule) -> dict[str, Any]:
    """The parameters a rule ran with; the built-in's defaults (with any configured values) when it did not run."""
    return effective_params(result.rules.get(builtin.code, builtin), result.settings)


def population_text(records: int, initiatives: int, active: int) -> str:
    """One meaning of "initiative" everywhere: every record read, the initiatives among them, the active ones."""
    return (
        f"{records:,} {'record' if records == 1 else 'records'} "
        f"({initiatives:,} {'initiative' if initiatives == 1 else 'initiatives'}, {active:,} active)"
    )


def population(result: AuditResult) -> tuple[int, int, int]:
    """(records, initiatives, active initiatives) of an audit."""
    initiatives = sum(is_initiative(result, i) for i in result.initiatives)
    return len(result.initiatives), initiatives, len(active_initiatives(result))


def _live_by_ref(result: AuditResult) -> dict[str, list[Finding]]:
    by_ref: dict[str, list[Finding]] = {}
    for f in result.live:
        by_ref.setdefault(f.ref, []).append(f)
    return by_ref


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _number(value: Any) -> Number | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _headline(
    result: AuditResult, history: Sequence[tuple[datetime, Mapping[str, Any]]], since: datetime | None
) -> tuple[Headline, ...]:
    """Series of one point per UTC day (the day's last run: cron runs every few minutes, a trend reads in days),
    at most MAX_POINTS, ending with this report's value, which stands for its own day."""
    now = _aware(result.now)
    today = now.astimezone(timezone.utc).date()
    start = _aware(since) if since is not None else None
    runs = sorted(
        (
            (_aware(at), metrics)
            for at, metrics in history
            if _aware(at) < now
            and _aware(at).astimezone(timezone.utc).date() != today
            and (start is None or _aware(at) >= start)
        ),
        key=lambda run: run[0],
    )
    current = headline_metrics(result)
    out = []
    for metric in METRICS:
        daily: dict[date, tuple[datetime, Number]] = {}
        for at, metrics in runs:
            value = _number(metrics.get(metric.key))
            if value is not None:
                daily[at.astimezone(timezone.utc).date()] = (at, value)
        past = list(daily.values())[-(MAX_POINTS - 1) :]
        out.append(Headline(metric, current[metric.key], (*past, (now, current[metric.key]))))
    return tuple(out)


def person_text(p: Any) -> str | None:
    if isinstance(p, Person):
        return text(p.label)
    return (text(p).strip() or None) if p is not None else None


def _owners(result: AuditResult) -> tuple[Load, ...]:
    """TB107's count: active initiatives of `kinds` per owner identity, against `max_active`."""
    params = rule_params(result, tb107_owner_overloaded.RULE)
    limit = int(params["max_active"])
    carried: dict[str, list[Initiative]] = {}
    for i in counted(result.initiatives, params["kinds"]):
        if i.owner is not None and i.owner.identity:
            carried.setdefault(i.owner.identity, []).append(i)
    loads = [
        (identity, Load(person_text(newest(c).owner) or identity, len(c), limit, "max_active"))
        for identity, c in carried.items()
    ]
    loads.sort(key=lambda item: (-item[1].over, -item[1].active, natural(item[1].name), item[0]))
    return tuple(lo for _, lo in loads)


def _teams(result: AuditResult) -> tuple[Load, ...]:
    """TB108's count and capacity: configured per team, else per_member x distinct owners on the team's records."""
    params = rule_params(result, tb108_team_over_capacity.RULE)
    configured: Mapping[str, Any] = params["capacity"]
    per_member = int(params["per_member"])
    load: dict[str, int] = {}
    for i in counted(result.initiatives, params["kinds"]):
        if i.team:
            load[i.team] = load.get(i.team, 0) + 1
    members: dict[str, set[str]] = {}
    for i in result.initiatives:
        if i.team in load and i.owner is not None and i.owner.identity:
            members.setdefault(i.team, set()).add(i.owner.identity)
    loads = []
    for team, n in load.items():
        capacity = configured.get(team)
        if isinstance(capacity, int) and not isinstance(capacity, bool):
            loads.append(Load(text(team), n, capacity, "configured"))
        else:
            seen = len(members.get(team, ()))
            loads.append(Load(text(team), n, per_member * seen, f"{seen} owners x {per_member}"))
    return tuple(sorted(loads, key=lambda lo: (-lo.over, -lo.active, natural(lo.name))))


def _sunset(result: AuditResult, long_overdue_days: int) -> tuple[SunsetCandidate, ...]:
    today = today_in(result.now, str(rule_params(result, tb105_past_end_date.RULE)["timezone"]))
    by_ref = _live_by_ref(result)
    scored = []
    for i in active_initiatives(result):
        late = (today - i.end).days if i.end is not None else 0
        reasons = []
        for f in sorted(
            by_ref.get(i.ref, ()),
            key=lambda f: (SUNSET_CODES.index(f.code) if f.code in SUNSET_CODES else 99, f.detail, f.message),
        ):
            if f.code not in SUNSET_CODES or (f.code == "TB105" and late < long_overdue_days):
                continue
            reasons.append(Reason(text(f.code), text(f.message)))
        if not reasons:
            continue
        idle = (result.now - i.updated).days if i.updated is not None else 0
        candidate = SunsetCandidate(
            RecordRef.of(i),
            person_text(i.owner),
            text(i.team) or None,
            i.stage.value if i.stage else None,
            i.end,
            tuple(reasons),
        )
        scored.append(((-len(reasons), -late, -idle, natural(i.source), natural(i.key)), candidate))
    return tuple(c for _, c in sorted(scored, key=lambda s: s[0]))


def _handoffs(result: AuditResult, since: datetime | None) -> tuple[Handoff, ...]:
    """Closed-won deals (TB110/TB111's sources) with their delivery records, idle days and owner."""
    idle = rule_params(result, tb110_handoff_idle.RULE)
    owner = rule_params(result, tb111_handoff_without_owner.RULE)
    zone = str(idle["timezone"])
    today = today_in(result.now, zone)
    index = Index(result.initiatives)
    by_ref = _live_by_ref(result)
    scored = []
    for deal in result.initiatives:
        if deal.system != idle["source_system"] or deal.stage is not Stage.DONE:
            continue
        closed = deal.end
        if since is not None and (closed is None or closed < _aware(since).date()):
            continue
        deliveries = sorted(
            (d for d in index.counterparts(deal) if d.system == idle["delivery_system"]),
            key=lambda d: (natural(d.source), natural(d.key)),
        )
        created = [d.created for d in deliveries if d.created is not None]
        started = today_in(min(created), zone) if created else None
        days: int | None = None
        if closed is not None and (started is not None or not deliveries):
            days = ((started or today) - closed).days
        problems = tuple(
            Reason(text(f.code), text(f.message))
            for f in sorted(by_ref.get(deal.ref, ()), key=lambda f: (f.code, f.detail))
            if f.code in (tb110_handoff_idle.RULE.code, tb111_handoff_without_owner.RULE.code)
        )
        handoff = Handoff(
            RecordRef.of(deal),
            closed,
            tuple(RecordRef.of(d) for d in deliveries),
            started,
            days,
            person_text(owner_of(deal, str(owner["owner_attribute"]))),
            problems,
        )
        scored.append(
            ((-len(problems), -(days if days is not None else -1), natural(deal.source), natural(deal.key)), handoff)
        )
    return tuple(h for _, h in sorted(scored, key=lambda s: s[0]))


_DAYS = re.compile(r"(?<![\w.-])(\d+) days?\b")


def finding_days(message: str) -> int | None:
    """The days a finding measures, from its message ("not updated for 204 days", "96 days past end date",
    "created 40 days after close"): the size that makes one finding of a rule worse than another."""
    m = _DAYS.search(text(message))
    return int(m.group(1)) if m else None


def _rules(result: AuditResult) -> tuple[RuleFindings, ...]:
    """Rules with live findings: errors first, then the most findings, then by code."""
    live: dict[str, list[Finding]] = {}
    waived: dict[str, int] = {}
    for f in result.findings:
        if f.waived_by is None:
            live.setdefault(f.code, []).append(f)
        else:
            waived[f.code] = waived.get(f.code, 0) + 1
    by_ref = {i.ref: i for i in result.initiatives}
    groups = []
    for code, findings in live.items():
        rule = result.rules.get(code)
        sev = severity(rule.severity if rule else findings[0].severity)
        rows = []
        sizes = {id(f): finding_days(f.message) for f in findings}
        by_size = any(v is not None for v in sizes.values())
        ordered = worst_first(result, findings)
        if by_size:  # stable: equal sizes keep the health order
            ordered.sort(key=lambda f: -(sizes[id(f)] or 0))
        for f in ordered:
            i = by_ref.get(f.ref)
            ref = RecordRef.of(i) if i else RecordRef(text(f.source), "", text(f.key), text(f.url), text(f.title))
            health = result.health.get(f.ref)
            rows.append(FindingRow(ref, text(f.message), health.flag.value if health else Flag.GREEN.value))
        groups.append(
            RuleFindings(
                text(code),
                text(rule.name if rule else findings[0].rule),
                sev,
                text(rule.summary) if rule else "",
                tuple(rows),
                waived.get(code, 0),
                by_size,
            )
        )
    rank = {"error": 2, "warning": 1}
    return tuple(sorted(groups, key=lambda g: (-rank.get(g.severity, 0), -g.count, g.code)))


def _slips(result: AuditResult) -> tuple[SlipRow, ...]:
    """Every active initiative later than its baseline, with TB117's parameters (so "without a reason" here is
    what the rule reports, waived or not)."""
    policy = SlipPolicy.of(rule_params(result, tb117_end_date_slipped_without_reason.RULE))
    scored = []
    for i in active_initiatives(result):
        slip = slip_of(i, policy)
        if slip is None or slip.days <= 0:
            continue
        row = SlipRow(
            RecordRef.of(i),
            person_text(i.owner),
            text(i.team) or None,
            slip.baseline,
            slip.baseline_from,
            slip.current,
            slip.days,
            slip.moves,
            slip.last_moved,
            text(slip.reason) if slip.reason is not None else None,
        )
        scored.append(((-slip.days, slip.has_reason, -slip.moves, natural(i.source), natural(i.key)), row))
    return tuple(r for _, r in sorted(scored, key=lambda s: s[0]))


def build_report(
    result: AuditResult,
    history: Sequence[tuple[datetime, Mapping[str, Any]]] = (),
    since: datetime | None = None,
    long_overdue_days: int = LONG_OVERDUE_DAYS,
    read_at: datetime | None = None,
    pulled: bool = False,
) -> Report:
    """The report for one audit. `history`: past runs' (time, metrics), any order; those before the audit's
    `now` and at or after `since` make the trends. `since` also limits hand-offs to deals closed since then.
    Capacity comes from the parameters the audit ran TB107/TB108 with (`result.settings`)."""
    sources = sorted({text(s.name) for s in result.sources} | {text(i.source) for i in result.initiatives}, key=natural)
    return Report(
        generated_at=_aware(result.now),
        since=_aware(since) if since else None,
        sources=tuple(sources),
        records=len(result.initiatives),
        headline=_headline(result, history, since),
        owners=_owners(result),
        teams=_teams(result),
        sunset=_sunset(result, long_overdue_days),
        long_overdue_days=long_overdue_days,
        handoffs=_handoffs(result, since),
        handoff_limit=int(rule_params(result, tb110_handoff_idle.RULE)["days"]),
        rules=_rules(result),
        initiatives=sum(is_initiative(result, i) for i in result.initiatives),
        read_at=_aware(read_at) if read_at else None,
        pulled=pulled,
        slips=_slips(result),
    )
