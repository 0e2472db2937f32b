"""What the human-readable formats (HTML, Markdown, terminal) share: how figures, changes and trends read,
and how many rows a mailed report shows before pointing at the full JSON/CSV export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from trackerbridge.report.model import Headline, Load, Metric, Number, Report

T = TypeVar("T")

# A report leadership reads on one screen or two pages; the JSON and CSV carry every row.
OWNERS_SHOWN = 12  # every owner over capacity is shown, however many
SUNSET_SHOWN = 20
HANDOFFS_SHOWN = 15
FINDINGS_PER_RULE = 5
SPARK_CHARS = "▁▂▃▄▅▆▇█"
FLAG_LABELS = {"red": "Red", "amber": "Amber", "green": "Green"}


def value_text(metric: Metric, value: Number) -> str:
    """87% for a share, 1,204 for a count."""
    return f"{round(value * 100):.0f}%" if metric.kind == "share" else f"{value:,}"


def change_text(h: Headline) -> str:
    """ "up 3 since 26 Oct", "down 2.0 pts since 26 Oct", "no change since 26 Oct", or "first run"."""
    change = h.change
    if change is None:
        return "first run"
    then, now = h.series[-2][0], h.series[-1][0]
    when = f"{then.day} {then:%b}" + (f" {then.year}" if then.year != now.year else "")
    if change == 0:
        return f"no change since {when}"
    if h.metric.kind == "share":
        points = change * 100
        return f"{'up' if points > 0 else 'down'} {abs(points):.1f} pts since {when}"
    return f"{'up' if change > 0 else 'down'} {abs(change):,} since {when}"


def verdict(h: Headline) -> str:
    """ "better", "worse" or "" (no change, no direction, or no previous run): said in words, not only colour."""
    change = h.change
    if not change or h.metric.better == "none":
        return ""
    return "better" if (change > 0) == (h.metric.better == "up") else "worse"


def spark(values: Sequence[Number]) -> str:
    """A text sparkline (▁▃▇) for Markdown and terminals; flat series sit in the middle."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK_CHARS[3] * len(values)
    top = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[round((v - low) / (high - low) * top)] for v in values)


def series_text(h: Headline) -> str:
    """The trend in words, as the text alternative of a sparkline."""
    values = [value_text(h.metric, v) for _, v in h.series]
    runs = len(values)
    return f"{h.metric.label} over {runs} run{'s' if runs != 1 else ''}, oldest first: {', '.join(values)}"


def shown_owners(owners: Sequence[Load]) -> list[Load]:
    """Every overloaded owner, then the busiest others up to OWNERS_SHOWN."""
    over = [lo for lo in owners if lo.over]
    return over + [lo for lo in owners if not lo.over][: max(0, OWNERS_SHOWN - len(over))]


def head(items: Sequence[T], limit: int) -> tuple[list[T], int]:
    """The first `limit` items and how many were left out."""
    return list(items[:limit]), max(0, len(items) - limit)


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def summary_points(report: Report) -> list[str]:
    """The few sentences an operations lead would write above the tables (plain text; escape to use)."""
    fig = {h.metric.key: h for h in report.headline}

    def pct(key: str) -> str:
        return value_text(fig[key].metric, fig[key].value)

    points = [
        f"{plural(int(fig['active'].value), 'active initiative')}: {pct('share_owner')} have an owner, "
        f"{pct('share_end_date')} an end date, {pct('share_integrator')} of the major ones an integrator.",
        f"{plural(int(fig['overdue'].value), 'initiative')} overdue, {int(fig['stuck_in_decide'].value):,} stuck in "
        f"decide; health {int(fig['red'].value):,} red, {int(fig['amber'].value):,} amber, "
        f"{int(fig['green'].value):,} green.",
    ]
    owners = [lo for lo in report.owners if lo.over]
    teams = [lo for lo in report.teams if lo.over]
    if owners or teams:
        worst = max([*owners, *teams], key=lambda lo: lo.over)
        points.append(
            f"{plural(len(owners), 'owner')} and {plural(len(teams), 'team')} over capacity; "
            f"the most stretched: {worst.name}, {worst.active} active against {worst.capacity}."
        )
    else:
        points.append("No owner or team is over capacity.")
    counts = {
        code: sum(1 for c in report.sunset if any(r.code == code for r in c.reasons))
        for code in ("TB101", "TB102", "TB105", "TB106")
    }
    points.append(
        f"{plural(len(report.sunset), 'sunset candidate')}: {counts['TB101']:,} without an owner, "
        f"{counts['TB102']:,} without an end date, {counts['TB105']:,} over "
        f"{report.long_overdue_days} days late, {counts['TB106']:,} stale."
    )
    idle = sum(1 for h in report.handoffs if any(p.code == "TB110" for p in h.problems))
    unowned = sum(1 for h in report.handoffs if h.owner is None)
    points.append(
        f"{idle:,} of {plural(len(report.handoffs), 'won deal')} idle over {report.handoff_limit} days "
        f"before delivery started; {unowned:,} without a hand-off owner."
    )
    return points
