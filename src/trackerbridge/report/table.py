"""The report for a terminal (rich): headline figures with text sparklines, then each section's worst rows.

As in the audit table, tracker text goes in as rich `Text` (never markup) after `clean` (no escape
sequences, no bidi overrides); health is a word, coloured only as a second signal; without colour no
escape codes are written and the width is fixed, so the same report prints the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from trackerbridge.emitters.table import DEFAULT_WIDTH, _isatty, clean, shorten
from trackerbridge.report import slips as _slips
from trackerbridge.report.model import Load, Report
from trackerbridge.report.present import (
    FLAG_LABELS,
    HANDOFFS_SHOWN,
    SUNSET_SHOWN,
    change_text,
    head,
    plural,
    shown_owners,
    spark,
    summary_points,
    value_text,
    verdict,
)

TITLE_CHARS = 40
FLAG_STYLES = {"red": "bold red", "amber": "bold yellow", "green": "bold green"}


def _table(*columns: str, right: Sequence[str] = ()) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for c in columns:
        table.add_column(c, justify="right" if c in right else "left", no_wrap=c not in ("why", "problems"))
    return table


def _loads(loads: Sequence[Load], color: bool, team: bool) -> Table:
    table = _table(
        "team" if team else "owner",
        "active",
        "capacity",
        *(["from"] if team else []),
        "status",
        right=("active", "capacity"),
    )
    for lo in loads:
        status = Text(f"over by {lo.over}" if lo.over else "within", style="red" if lo.over and color else "")
        row = [Text(clean(lo.name)), Text(str(lo.active)), Text(str(lo.capacity))]
        table.add_row(*row, *([Text(clean(lo.basis))] if team else []), status)
    return table


def render(report: Report, out: TextIO, *, color: bool = False, width: int | None = None) -> None:
    """Render for a terminal; plain text unless `color`. width=None: the terminal's when `out` is one, else 120."""
    if width is None and not _isatty(out):
        width = DEFAULT_WIDTH
    parts: list[RenderableType] = [
        Text(f"Initiative sprawl report, as of {report.generated_at.isoformat()}", style="bold" if color else ""),
        Text(
            f"{report.population} from {clean(', '.join(report.sources))}"
            + (f"; {report.read_text}" if report.read_text else "")
        ),
        Text(),
        *(Text(f"- {clean(p)}") for p in summary_points(report)),
        Text(),
    ]
    figures = _table("figure", "now", "trend", "change", right=("now",))
    for h in report.headline:
        label = FLAG_LABELS.get(h.metric.key, h.metric.label)
        judged = verdict(h)
        figures.add_row(
            Text(label, style=FLAG_STYLES.get(h.metric.key, "") if color else ""),
            Text(value_text(h.metric, h.value)),
            Text(spark([v for _, v in h.series])),
            Text(
                change_text(h) + (f" ({judged})" if judged else ""),
                style=("green" if judged == "better" else "red" if judged == "worse" else "") if color else "",
            ),
        )
    parts += [figures, Text()]

    owners = shown_owners(report.owners)
    parts += [Text("Sprawl by owner", style="bold" if color else ""), _loads(owners, color, False)]
    if len(report.owners) > len(owners):
        parts.append(Text(f"...and {plural(len(report.owners) - len(owners), 'owner')} within capacity"))
    parts += [Text(), Text("Sprawl by team", style="bold" if color else ""), _loads(report.teams, color, True), Text()]

    sunset, rest = head(report.sunset, SUNSET_SHOWN)
    parts.append(Text(f"Sunset candidates: {len(report.sunset):,}", style="bold" if color else ""))
    table = _table("record", "title", "owner", "why")
    for c in sunset:
        table.add_row(
            Text(clean(c.record.key)),
            Text(shorten(clean(c.record.title), TITLE_CHARS)),
            Text(clean(c.owner or "-")),
            Text(clean("; ".join(r.text for r in c.reasons))),
        )
    parts.append(table)
    if rest:
        parts.append(Text(f"...and {rest:,} more (--format json or csv lists all)"))

    handoffs, rest = head(report.handoffs, HANDOFFS_SHOWN)
    parts += [
        Text(),
        Text(
            f"Hand-offs: {len(report.handoffs):,} closed-won deals (limit {report.handoff_limit} idle days)",
            style="bold" if color else "",
        ),
    ]
    table = _table("deal", "record", "delivery", "idle days", "owner", "problems", right=("idle days",))
    for ho in handoffs:  # the opportunity's name first: people know deals by name, not by Id
        table.add_row(
            Text(shorten(clean(ho.deal.title or ho.deal.key), TITLE_CHARS)),
            Text(clean(ho.deal.key)),
            Text(clean(" ".join(d.key for d in ho.deliveries)) or "none yet"),
            Text("-" if ho.idle_days is None else str(ho.idle_days)),
            Text(clean(ho.owner or "-")),
            Text(clean("; ".join(p.text for p in ho.problems)) or "ok"),
        )
    parts.append(table)
    if rest:
        parts.append(Text(f"...and {rest:,} more"))

    _, unexplained = _slips.counts(report)
    parts += [
        Text(),
        Text(
            f"Slips: {len(report.slips):,} later than their baseline, {unexplained:,} without a reason",
            style="bold" if color else "",
        ),
    ]
    table = _table("record", "baseline", "end", "slip", "moved", "reason", right=("slip", "moved"))
    for record, baseline, end, days, moved, reason in _slips.table_rows(report):
        table.add_row(
            Text(clean(record.key)),
            Text(baseline),
            Text(end),
            Text(days),
            Text(moved),
            Text(shorten(clean(reason), TITLE_CHARS)),
        )
    parts.append(table)

    parts += [Text(), Text("Findings by rule", style="bold" if color else "")]
    table = _table("code", "rule", "severity", "findings", "waived", right=("findings", "waived"))
    for g in report.rules:
        table.add_row(
            Text(clean(g.code)),
            Text(clean(g.name)),
            Text(g.severity, style=("red" if g.severity == "error" else "yellow") if color else ""),
            Text(str(g.count)),
            Text(str(g.waived)),
        )
    parts.append(table if report.rules else Text("No findings."))

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        force_interactive=False,
        force_jupyter=False,
        color_system="standard" if color else None,
        no_color=not color,
        markup=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
    )
    console.print(Group(*parts))
    rendered = buffer.getvalue()
    if not color:  # rich pads every cell; trailing blanks only get in the way when pasted
        rendered = "\n".join(line.rstrip(" ") for line in rendered.split("\n"))
    out.write(rendered)
