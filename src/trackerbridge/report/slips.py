"""The report's "Slips" section in every format: the largest slips from the baseline, how many times each
end date moved, and whether the latest move has a reason (TB117's reading, `trackerbridge.slips`).

Kept apart from the other sections so each format's renderer only calls in; escaping is each format's own
(HTML `e`/`record_link`, Markdown `cell`/`link`, CSV `cell` through the CSV renderer, terminal `clean`).
"""

from __future__ import annotations

from typing import Any

from trackerbridge.emitters import markdown as md
from trackerbridge.report.markup import chip, e, record_link  # the page's own escaping and chips
from trackerbridge.report.model import RecordRef, Report, SlipRow
from trackerbridge.report.present import head, plural

SLIPS_SHOWN = 15
BASELINE_WORDS = {"attribute": "target date", "history": "first in history", "current": "current"}


def counts(report: Report) -> tuple[int, int]:
    """(with a reason, without one)."""
    explained = sum(1 for s in report.slips if s.has_reason)
    return explained, len(report.slips) - explained


def lede(report: Report) -> str:
    explained, unexplained = counts(report)
    return (
        f"{plural(len(report.slips), 'active initiative')} later than the first end date committed: "
        f"{unexplained:,} without a reason for the latest move, {explained:,} with one; largest slip first."
    )


def moves_text(s: SlipRow) -> str:
    return "—" if not s.moves else ("once" if s.moves == 1 else f"{s.moves} times")


def json_items(report: Report, record: Any) -> dict[str, Any]:
    """The JSON document's `slips` object."""
    explained, unexplained = counts(report)
    return {
        "with_reason": explained,
        "without_reason": unexplained,
        "items": [
            {
                "record": record(s.record),
                "owner": s.owner,
                "team": s.team,
                "baseline": s.baseline.isoformat(),
                "baseline_from": s.baseline_from,
                "end": s.end.isoformat(),
                "slip_days": s.days,
                "moves": s.moves,
                "last_moved": s.last_moved.isoformat() if s.last_moved else None,
                "reason": s.reason,
            }
            for s in report.slips
        ],
    }


def csv_rows(report: Report, record: Any) -> list[dict[str, Any]]:
    """`slip` rows: value = slip in days, limit = times moved, code TB117 when the latest move has no reason."""
    out = []
    for s in report.slips:
        detail = (
            f"baseline {s.baseline.isoformat()} ({BASELINE_WORDS.get(s.baseline_from, s.baseline_from)})"
            f" → {s.end.isoformat()}; " + (f"reason: {s.reason}" if s.reason is not None else "no reason")
        )
        out.append(
            {
                "section": "slip",
                "item": s.end.isoformat(),
                "value": s.days,
                "limit": s.moves,
                "code": "" if s.has_reason else "TB117",
                **record(s.record),
                "owner": s.owner,
                "team": s.team,
                "detail": detail,
            }
        )
    return out


def markdown_lines(report: Report) -> list[str]:
    shown, rest = head(report.slips, SLIPS_SHOWN)
    lines = ["", "### Slips", "", md.cell(lede(report)), ""]
    if not shown:
        return [*lines, "No end date moved later than its baseline."]
    header = "| Record | Title | Owner | Baseline | End date | Slip | Moved | Reason |"
    lines += [header, "| --- | --- | --- | --- | --- | ---: | ---: | --- |"]
    for s in shown:
        reason = md.cell(s.reason) if s.reason is not None else "**no reason**"
        lines.append(
            f"| {md.link(s.record.key, s.record.url)} | {md.cell(s.record.title)} | {md.cell(s.owner or '—')}"
            f" | {s.baseline.isoformat()} | {s.end.isoformat()} | +{s.days:,} days | {moves_text(s)}"
            f" | {reason} |"
        )
    if rest:
        lines += ["", f"_…and {plural(rest, 'slip')} more in the JSON or CSV export._"]
    return lines


def html_section(report: Report) -> str:
    shown, rest = head(report.slips, SLIPS_SHOWN)
    rows = []
    for s in shown:
        reason = e(s.reason) if s.reason is not None else chip("No reason", "amber")
        rows.append(
            f'<tr><td class="key">{record_link(s.record, True)}</td><td>{e(s.record.title)}</td>'
            f'<td class="who">{e(s.owner or "—")}</td>'
            f'<td class="key">{e(s.baseline.isoformat())}<span class="sub">'
            f"{e(BASELINE_WORDS.get(s.baseline_from, s.baseline_from))}</span></td>"
            f'<td class="key">{e(s.end.isoformat())}</td><td class="num">+{s.days:,}</td>'
            f'<td class="num">{e(moves_text(s))}</td><td>{reason}</td></tr>'
        )
    table = (
        "<table><thead><tr><th>Record</th><th>Title</th><th>Owner</th><th>Baseline</th><th>End date</th>"
        f'<th class="num">Slip (days)</th><th class="num">Moved</th><th>Reason</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="muted">No end date moved later than its baseline.</p>'
    )
    more = f'<p class="more">…and {plural(rest, "slip")} more in the JSON or CSV export.</p>' if rest else ""
    return (
        f'<section aria-labelledby="h-slips"><h2 id="h-slips">Slips</h2>'
        f'<p class="lede">{e(lede(report))}</p>{table}{more}</section>'
    )


def table_rows(report: Report) -> list[tuple[RecordRef, str, str, str, str, str]]:
    """(record, baseline, end, slip, moved, reason) for the terminal table, largest first."""
    shown, _ = head(report.slips, SLIPS_SHOWN)
    return [
        (
            s.record,
            s.baseline.isoformat(),
            s.end.isoformat(),
            f"+{s.days:,}",
            moves_text(s),
            s.reason if s.reason is not None else "no reason",
        )
        for s in shown
    ]
