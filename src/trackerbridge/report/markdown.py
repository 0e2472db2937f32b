"""The report as GitHub-flavoured Markdown, for wikis (Confluence, GitHub, GitLab render it alike).

Trends are text sparklines (▁▃▇) with the change in words; health is a word next to its emoji, never the
emoji alone. Tracker text goes through the audit Markdown's `cell` and `link`: one line, no table-cell
breaks, no HTML, no emphasis or links of its own, no @mentions; links only to http(s) URLs.
Long sections show their worst rows and say how many more the JSON or CSV export holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from trackerbridge.emitters.markdown import cell, link
from trackerbridge.report import slips as _slips
from trackerbridge.report.model import Load, RecordRef, Report
from trackerbridge.report.present import (
    FINDINGS_PER_RULE,
    FLAG_LABELS,
    HANDOFFS_SHOWN,
    SUNSET_SHOWN,
    change_text,
    head,
    plural,
    shown_owners,
    spark,
    value_text,
    verdict,
)

FLAG_ICONS = {"red": "🔴", "amber": "🟠", "green": "🟢"}


def _table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _record(r: RecordRef) -> str:
    return link(r.key, r.url)


def _more(n: int, what: str) -> list[str]:
    return ["", f"_…and {plural(n, what)} more in the JSON or CSV export._"] if n else []


def _loads(loads: Sequence[Load], team: bool) -> list[list[str]]:
    rows = []
    for lo in loads:
        status = f"**over by {lo.over}**" if lo.over else "within capacity"
        row = [cell(lo.name), str(lo.active), str(lo.capacity)]
        rows.append([*row, cell(lo.basis), status] if team else [*row, status])
    return rows


def render(report: Report, out: TextIO) -> None:
    """Headline, sprawl by owner and team, sunset candidates, hand-offs, slips, findings by rule."""
    when = report.generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()
    trend = f", trends since {report.since.date().isoformat()}" if report.since else ""
    lines = [
        "## Initiative sprawl report",
        "",
        f"As of {cell(when)}: {cell(report.population)} from {cell(', '.join(report.sources))}{trend}"
        f"{'; ' + cell(report.read_text) if report.read_text else ''}.",
        "",
        "### Headline",
        "",
    ]
    rows = []
    for h in report.headline:
        label = cell(h.metric.label)
        if h.metric.key in FLAG_ICONS:
            label = f"{FLAG_ICONS[h.metric.key]} {cell(FLAG_LABELS[h.metric.key])}"
        judged = verdict(h)
        change = change_text(h) + (f" ({judged})" if judged else "")
        rows.append([label, value_text(h.metric, h.value), spark([v for _, v in h.series]), change])
    lines += _table(["Figure", "Now", "Trend", "Change"], ["---", "---:", "---", "---"], rows)

    owners = shown_owners(report.owners)
    over = sum(1 for lo in report.owners if lo.over)
    lines += [
        "",
        "### Sprawl by owner",
        "",
        f"{plural(over, 'owner')} over capacity of {plural(len(report.owners), 'owner')} carrying active initiatives.",
        "",
    ]
    lines += _table(["Owner", "Active", "Capacity", "Status"], ["---", "---:", "---:", "---"], _loads(owners, False))
    lines += _more(len(report.owners) - len(owners), "owner")
    lines += ["", "### Sprawl by team", ""]
    lines += _table(
        ["Team", "Active", "Capacity", "Capacity from", "Status"],
        ["---", "---:", "---:", "---", "---"],
        _loads(report.teams, True),
    )

    sunset, rest = head(report.sunset, SUNSET_SHOWN)
    lines += [
        "",
        "### Sunset candidates",
        "",
        f"{plural(len(report.sunset), 'active initiative')} with no owner, no end date, "
        f"{report.long_overdue_days}+ days past the end date, or stale.",
        "",
    ]
    if sunset:
        lines += _table(
            ["Record", "Title", "Owner", "Team", "Why"],
            ["---"] * 5,
            [
                [
                    _record(c.record),
                    cell(c.record.title),
                    cell(c.owner or "—"),
                    cell(c.team or "—"),
                    cell("; ".join(r.text for r in c.reasons)),
                ]
                for c in sunset
            ],
        )
    lines += _more(rest, "candidate")

    handoffs, rest = head(report.handoffs, HANDOFFS_SHOWN)
    idle = sum(1 for h in report.handoffs if any(p.code == "TB110" for p in h.problems))
    unowned = sum(1 for h in report.handoffs if h.owner is None)
    lines += [
        "",
        "### Hand-offs",
        "",
        f"{plural(len(report.handoffs), 'closed-won deal')}: {idle} idle over {report.handoff_limit} days "
        f"before delivery, {unowned} without a hand-off owner.",
        "",
    ]
    if handoffs:
        lines += _table(
            ["Deal", "Title", "Closed", "Delivery", "Idle days", "Owner", "Problems"],
            ["---", "---", "---", "---", "---:", "---", "---"],
            [
                [
                    _record(h.deal),
                    cell(h.deal.title),
                    h.closed.isoformat() if h.closed else "—",
                    ", ".join(_record(d) for d in h.deliveries) or "none yet",
                    "—" if h.idle_days is None else str(h.idle_days),
                    cell(h.owner or "—"),
                    cell("; ".join(p.text for p in h.problems)) or "—",
                ]
                for h in handoffs
            ],
        )
    lines += _more(rest, "hand-off")
    lines += _slips.markdown_lines(report)

    lines += ["", "### Findings by rule", ""]
    if report.rules:
        lines += _table(
            ["Code", "Rule", "Severity", "Findings", "Waived"],
            ["---", "---", "---", "---:", "---:"],
            [[cell(g.code), cell(g.name), cell(g.severity), str(g.count), str(g.waived)] for g in report.rules],
        )
        for g in report.rules:
            shown, rest = head(g.findings, FINDINGS_PER_RULE)
            order = (" (largest first, by days)" if g.by_size else " (red records first)") if rest else ""
            lines += ["", f"#### {cell(g.code)} {cell(g.name)}: {plural(g.count, 'finding')}{order}", ""]
            for f in shown:
                flag = f"{FLAG_ICONS.get(f.flag, '')} {FLAG_LABELS.get(f.flag, cell(f.flag))}".strip()
                title = f" {cell(f.record.title)}" if f.record.title else ""
                lines.append(f"- {flag}: {_record(f.record)}{title}: {cell(f.message)}")
            if rest:
                lines.append(f"- …and {rest} more")
    else:
        lines.append("No findings.")
    out.write("\n".join(lines) + "\n")
