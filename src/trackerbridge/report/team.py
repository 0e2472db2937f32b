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
    _params,
    _person,
    active_initiatives,
)
from trackerbridge.rules.builtin import tb104_stuck_in_decide

if TYPE_CHECKING:
    from trackerbridge.audit import AuditResult

MAX_MEASURES = 10
SCORECARD: tuple[tuple[Metric, str], ...] = (
    (Metric("active", "Active initiatives", "count", "none", "the team's initiatives in decide, build or launch"),
     "lagging"),
    (Metric("share_owner", "With an owner", "share", "up", "share of active initiatives with a named owner"),
     "leading"),
    (Metric("share_end_date", "With an end date", "share", "up", "share of active initiatives with an end date"),
     "leading"),
    (Metric("share_integrator", "Major with an integrator", "share", "up",
            "share of major active initiatives with a named integrator"), "leading"),
    (Metric("pending_decisions", "Decisions pending", "count", "down",
            "in decide longer than TB104 allows, with or without a decision owner"), "leading"),
    (Metric("stuck_in_decide", "Stuck in decide", "count", "down",
            "in decide too long without a decision owner (TB104)"), "leading"),
    (Metric("slips_without_reason", "Slips without a reason", "count", "down",
            "end date moved later with no reason (TB117)"), "leading"),
    (Metric("overdue", "Overdue", "count", "down", "active initiatives past their end date (TB105)"), "lagging"),
    (Metric("red", "Red", "count", "down", "active initiatives with health red"), "lagging"),
    (Metric("amber", "Amber", "count", "down", "active initiatives with health amber"), "lagging"),
)
assert len(SCORECARD) <= MAX_MEASURES  # the playbook's own rule (TB114) holds for trackerbridge's scorecard too


@dataclass(frozen=True)
class Measure:
    headline: Headline
    kind: str  # "leading" | "lagging"
    status: str  # "green" | "amber" | "red" | "none"


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


def status(metric: Metric, value: Number) -> str:
    if metric.better == "none":
        return "none"
    if metric.kind == "share":
        return "green" if value >= 0.95 else "amber" if value >= 0.8 else "red"
    return "green" if value == 0 else "amber" if value <= 2 else "red"


def _entered(i: Initiative) -> datetime | None:
    return i.stage_entered or i.created


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _series(team: str, key: str, value: Number, now: datetime,
            history: Sequence[tuple[datetime, Mapping[str, Any]]]) -> tuple[tuple[datetime, Number], ...]:
    today = now.astimezone(timezone.utc).date()
    daily: dict[date, tuple[datetime, Number]] = {}
    for at, teams in sorted(((_aware(a), t) for a, t in history), key=lambda r: r[0]):
        if at >= now or at.astimezone(timezone.utc).date() == today:
            continue
        figures = teams.get(team) if isinstance(teams, Mapping) else None
        past = figures.get(key) if isinstance(figures, Mapping) else None
        if isinstance(past, int | float) and not isinstance(past, bool):
            daily[at.astimezone(timezone.utc).date()] = (at, past)
    return (*list(daily.values())[-(MAX_POINTS - 1):], (now, value))


def team_pages(result: AuditResult, report: Report,
               history: Sequence[tuple[datetime, Mapping[str, Any]]] = ()) -> tuple[TeamPage, ...]:
    """One page per team with active initiatives, by team name. `history`: past runs' (time, metrics["teams"])."""
    now = _aware(result.now)
    decide_days = int(_params(result, tb104_stuck_in_decide.RULE)["days"])
    figures = team_metrics(result)
    by_key = {(i.source, i.key): i for i in result.initiatives}
    pages = []
    for team in sorted(figures, key=natural):
        active = [i for i in active_initiatives(result) if text(i.team or "") == team]
        measures = tuple(
            Measure(Headline(m, figures[team][m.key], _series(team, m.key, figures[team][m.key], now, history)),
                    kind, status(m, figures[team][m.key]))
            for m, kind in SCORECARD
        )
        off = []
        for i in active:
            h = result.health.get(i.ref)
            if h is not None and h.flag is not Flag.GREEN:
                off.append(((-h.flag.rank, natural(i.key)), OffTrack(RecordRef.of(i), _person(i.owner), h.flag.value,
                                                                      tuple(text(r) for r in h.reasons))))
        decisions = []
        for i in active:
            entered = _entered(i)
            days = (now - entered).days if entered is not None else None
            if i.stage is Stage.DECIDE and days is not None and days > decide_days:
                decisions.append(((-days, natural(i.key)), Decision(RecordRef.of(i), _person(i.decision_owner), days)))
        handoffs = []
        for h in report.handoffs:
            ours = [by_key.get((d.source, d.key)) for d in h.deliveries]
            if any(d is not None and text(d.team or "") == team and d.active for d in ours):
                handoffs.append(h)
        pages.append(TeamPage(team, now, measures, tuple(o for _, o in sorted(off, key=lambda x: x[0])),
                              tuple(d for _, d in sorted(decisions, key=lambda x: x[0])), tuple(handoffs),
                              decide_days))
    return tuple(pages)
