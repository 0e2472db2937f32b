"""The weekly page per team, as plain data: the team's scorecard, what is off track and who owns it, decisions
pending, hand-offs in flight. Pure: no I/O, no clock.

Built like the playbook's scorecard: at most ten measures (TB114's limit), each leading or lagging, with its trend
and a status colour. The measures count the team's active initiatives exactly as the headline counts the whole
organisation (`report.model.headline_metrics`, restricted to the team), plus slips without a reason (TB117):

- leading: share with an owner, with an end date, of major ones with an integrator; stuck in decide; slips
  without a reason; pending decisions (in decide longer than TB104's days, whoever owns the decision).
- lagging: active, overdue (TB105), red, amber.

Status: a share is green from 95%, amber from 80%, else red; a count that should fall is green at 0, amber up to
2, else red; a count with no direction ("active") has no status. Trends come from past syncs' per-team metrics
(`metrics.team_metrics`, stored by `sync` under "teams"), one point per UTC day like the headline.

That is the default. The project's `report.scorecard` (`config.models.ScorecardMeasure`) may choose which of these
measures the page shows, in which order, under which label, as leading or lagging, and with which thresholds
(`green` / `amber`: for a measure where up is better, green from `green`, amber from `amber`; where down is better,
green up to `green`, amber up to `amber`). `sync` always stores every measure, so a changed scorecard keeps its trends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from trackerbridge.emitters.json import natural, text
from trackerbridge.health import Flag
from trackerbridge.metrics import team_metrics
from trackerbridge.model import Initiative, Stage
from trackerbridge.report.model import (
    MAX_POINTS,
    Handoff,
    Headline,
    Metric,
    Number,
    RecordRef,
    Report,
    active_initiatives,
    person_text,
    rule_params,
)
from trackerbridge.rules.builtin import tb104_stuck_in_decide

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult

MAX_MEASURES = 10
SCORECARD: tuple[tuple[Metric, str], ...] = (
    (
        Metric("active", "Active initiatives", "count", "none", "the team's initiatives in decide, build or launch"),
        "lagging",
    ),
    (
        Metric("share_owner", "With an owner", "share", "up", "share of active initiatives with a named owner"),
        "leading",
    ),
    (
        Metric("share_end_date", "With an end date", "share", "up", "share of active initiatives with an end date"),
        "leading",
    ),
    (
        Metric(
            "share_integrator",
            "Major with an integrator",
            "share",
            "up",
            "share of major active initiatives with a named integrator",
        ),
        "leading",
    ),
    (
        Metric(
            "pending_decisions",
            "Decisions pending",
            "count",
            "down",
            "in decide longer than TB104 allows, with or without a decision owner",
        ),
        "leading",
    ),
    (
        Metric(
            "stuck_in_decide", "Stuck in decide", "count", "down", "in decide too long without a decision owner (TB104)"
        ),
        "leading",
    ),
    (
        Metric(
            "slips_without_reason",
            "Slips without a reason",
            "count",
            "down",
            "end date moved later with no reason (TB117)",
        ),
        "leading",
    ),
    (Metric("overdue", "Overdue", "count", "down", "active initiatives past their end date (TB105)"), "lagging"),
    (Metric("red", "Red", "count", "down", "active initiatives with health red"), "lagging"),
    (Metric("amber", "Amber", "count", "down", "active initiatives with health amber"), "lagging"),
)
assert len(SCORECARD) <= MAX_MEASURES  # the playbook's own rule (TB114) holds for trackerbridge's scorecard too
CATALOG: dict[str, Metric] = {m.key: m for m, _ in SCORECARD}
DEFAULT_KIND: dict[str, str] = {m.key: kind for m, kind in SCORECARD}


def default_thresholds(metric: Metric) -> tuple[float, float] | None:
    """(green, amber) of today's page: shares 95% / 80%, counts that should fall 0 / 2; none without a direction."""
    if metric.better == "none":
        return None
    return (0.95, 0.8) if metric.kind == "share" else (0, 2)


@dataclass(frozen=True)
class Entry:
    """One measure as the page shows it: a built-in measure under a label, leading or lagging, with thresholds."""

    metric: Metric  # the built-in measure, relabelled and with `better` as configured
    kind: str  # "leading" | "lagging"
    thresholds: tuple[float, float] | None  # (green, amber); None: no status


DEFAULT_SCORECARD: tuple[Entry, ...] = tuple(Entry(m, kind, default_thresholds(m)) for m, kind in SCORECARD)


def scorecard(configured: Sequence[Any] | None) -> tuple[Entry, ...]:
    """The page's measures from `report.scorecard` (already validated); None: the default ten."""
    if configured is None:
        return DEFAULT_SCORECARD
    out = []
    for c in configured:
        base = CATALOG[c.measure]
        better = c.better or base.better
        metric = Metric(base.key, c.label or base.label, base.kind, better, base.help)
        given = (c.green, c.amber) if c.green is not None and c.amber is not None else None
        out.append(
            Entry(metric, c.kind or DEFAULT_KIND[base.key], given if given is not None else default_thresholds(metric))
        )
    return tuple(out)


@dataclass(frozen=True)
class Measure:
    headline: Headline
    kind: str  # "leading" | "lagging"
    status: str  # "green" | "amber" | "red" | "none"
    thresholds: tuple[float, float] | None = None  # (green, amber) the status was judged by


@dataclass(frozen=True)
class OffTrack:
    record: RecordRef
    owner: str | None
    flag: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    record: RecordRef
    decision_owner: str | None
    days_in_decide: int | None


@dataclass(frozen=True)
class TeamPage:
    team: str
    generated_at: datetime
    measures: tuple[Measure, ...]
    off_track: tuple[OffTrack, ...]  # red first, then amber
    decisions: tuple[Decision, ...]  # longest in decide first
    handoffs: tuple[Handoff, ...]  # closed-won deals whose delivery is on this team and not done
    decide_days: int  # TB104's limit


def status(metric: Metric, value: Number, thresholds: tuple[float, float] | None = None) -> str:
    """green / amber / red against (green, amber), by the measure's direction; default: today's thresholds."""
    limits = thresholds if thresholds is not None else default_thresholds(metric)
    if limits is None or metric.better == "none":
        return "none"
    green, amber = limits
    if metric.better == "up":
        return "green" if value >= green else "amber" if value >= amber else "red"
    return "green" if value <= green else "amber" if value <= amber else "red"


def _entered(i: Initiative) -> datetime | None:
    return i.stage_entered or i.created


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _series(
    team: str, key: str, value: Number, now: datetime, history: Sequence[tuple[datetime, Mapping[str, Any]]]
) -> tuple[tuple[datetime, Number], ...]:
    today = now.astimezone(timezone.utc).date()
    daily: dict[date, tuple[datetime, Number]] = {}
    for at, teams in sorted(((_aware(a), t) for a, t in history), key=lambda r: r[0]):
        if at >= now or at.astimezone(timezone.utc).date() == today:
            continue
        figures = teams.get(team) if isinstance(teams, Mapping) else None
        past = figures.get(key) if isinstance(figures, Mapping) else None
        if isinstance(past, int | float) and not isinstance(past, bool):
            daily[at.astimezone(timezone.utc).date()] = (at, past)
    return (*list(daily.values())[-(MAX_POINTS - 1) :], (now, value))


def team_pages(
    result: AuditResult,
    report: Report,
    history: Sequence[tuple[datetime, Mapping[str, Any]]] = (),
    measures: Sequence[Entry] = DEFAULT_SCORECARD,
) -> tuple[TeamPage, ...]:
    """One page per team with active initiatives, by team name. `history`: past runs' (time, metrics["teams"]);
    `measures`: the scorecard (`scorecard(project.config.report.scorecard)`)."""
    now = _aware(result.now)
    decide_days = int(rule_params(result, tb104_stuck_in_decide.RULE)["days"])
    figures = team_metrics(result)
    by_key = {(i.source, i.key): i for i in result.initiatives}
    pages = []
    for team in sorted(figures, key=natural):
        active = [i for i in active_initiatives(result) if text(i.team or "") == team]
        shown = tuple(
            Measure(
                Headline(
                    m.metric,
                    figures[team][m.metric.key],
                    _series(team, m.metric.key, figures[team][m.metric.key], now, history),
                ),
                m.kind,
                status(m.metric, figures[team][m.metric.key], m.thresholds),
                m.thresholds,
            )
            for m in measures
        )
        off = []
        for i in active:
            h = result.health.get(i.ref)
            if h is not None and h.flag is not Flag.GREEN:
                off.append(
                    (
                        (-h.flag.rank, natural(i.key)),
                        OffTrack(
                            RecordRef.of(i), person_text(i.owner), h.flag.value, tuple(text(r) for r in h.reasons)
                        ),
                    )
                )
        decisions = []
        for i in active:
            entered = _entered(i)
            days = (now - entered).days if entered is not None else None
            if i.stage is Stage.DECIDE and days is not None and days > decide_days:
                decisions.append(
                    ((-days, natural(i.key)), Decision(RecordRef.of(i), person_text(i.decision_owner), days))
                )
        handoffs = []
        for ho in report.handoffs:
            ours = [by_key.get((d.source, d.key)) for d in ho.deliveries]
            if any(d is not None and text(d.team or "") == team and d.active for d in ours):
                handoffs.append(ho)
        pages.append(
            TeamPage(
                team,
                now,
                shown,
                tuple(o for _, o in sorted(off, key=lambda x: x[0])),
                tuple(d for _, d in sorted(decisions, key=lambda x: x[0])),
                tuple(handoffs),
                decide_days,
            )
        )
    return tuple(pages)
