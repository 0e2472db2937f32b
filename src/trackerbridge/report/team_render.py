"""The weekly team page as HTML and Markdown, under the same rules as the report.

HTML: the report's own stylesheet (print rules included), Content-Security-Policy, escaping (`e`, `href`,
`record_link`) and SVG sparklines with text alternatives; no script. Markdown: the report's `cell` and `link`.
Status is a word next to its colour, never the colour alone.
"""

from __future__ import annotations

from typing import TextIO

from trackerbridge.emitters.markdown import cell, link
from trackerbridge.report.html import CSP, CSS, GREEN, RED, chip, e, flag_chip, record_link, sparkline
from trackerbridge.report.present import change_text, head, plural, spark, value_text, verdict
from trackerbridge.report.team import TeamPage

ROWS_SHOWN = 25
STATUS_WORDS = {"green": "On track", "amber": "Watch", "red": "Off track", "none": "—"}
TEAM_CSS = """
.scorecard td.status { white-space: nowrap; }
.scorecard .kind { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
"""


def slug(team: str) -> str:
    """A file name for the team: letters and digits, the rest as '-'."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in team).strip("-")
    return "-".join(p for p in out.split("-") if p) or "team"


def _status_chip(status: str) -> str:
    return chip(STATUS_WORDS[status], status) if status in ("green", "amber", "red") else '<span class="muted">—</span>'


def _kinds(page: TeamPage) -> str:
    kinds = [m.kind for m in page.measures]
    return ", ".join(f"{kinds.count(k)} {k}" for k in ("leading", "lagging") if k in kinds)


def html_page(page: TeamPage, out: TextIO) -> None:
    day = f"{page.generated_at.day} {page.generated_at.strftime('%B %Y')}"
    rows = []
    for m in page.measures:
        h = m.headline
        colour = {"green": GREEN, "red": RED}.get(m.status, "#1849a9")
        judged = verdict(h)
        rows.append(
            f'<tr><td>{e(h.metric.label)}<br><span class="kind">{e(m.kind)}</span></td>'
            f'<td class="num">{e(value_text(h.metric, h.value))}</td><td>{sparkline(h, colour)}</td>'
            f"<td>{e(change_text(h) + (f' ({judged})' if judged else ''))}</td>"
            f'<td class="status">{_status_chip(m.status)}</td></tr>'
        )
    score = (
        '<section aria-labelledby="h-score"><h2 id="h-score">Scorecard</h2>'
        f'<p class="lede">{e(plural(len(page.measures), "measure"))} ({e(_kinds(page))}); the trend is one '
        'point per day of past syncs.</p><table class="scorecard"><thead><tr><th>Measure</th>'
        '<th class="num">Now</th><th>Trend</th><th>Change</th><th>Status</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )
    shown, rest = head(page.off_track, ROWS_SHOWN)
    off = "".join(
        f'<tr><td>{flag_chip(o.flag)}</td><td class="key">{record_link(o.record, True)}</td>'
        f'<td>{e(o.record.title)}</td><td class="who">{e(o.owner) if o.owner else chip("No owner", "red")}'
        f"</td><td>{e('; '.join(o.reasons))}</td></tr>"
        for o in shown
    )
    more = f'<p class="more">…and {e(plural(rest, "record"))} more.</p>' if rest else ""
    off_html = (
        '<section aria-labelledby="h-off"><h2 id="h-off">Off track</h2>'
        + (
            f"<table><thead><tr><th>Health</th><th>Record</th><th>Title</th><th>Owner</th><th>Why</th></tr>"
            f"</thead><tbody>{off}</tbody></table>{more}"
            if shown
            else '<p class="muted">Everything is on track.</p>'
        )
        + "</section>"
    )
    decisions = "".join(
        f'<tr><td class="key">{record_link(d.record, True)}</td><td>{e(d.record.title)}</td>'
        f'<td class="who">{e(d.decision_owner) if d.decision_owner else chip("No decision owner", "red")}</td>'
        f'<td class="num">{d.days_in_decide:,}</td></tr>'
        for d in page.decisions[:ROWS_SHOWN]
    )
    dec_html = (
        '<section aria-labelledby="h-decide"><h2 id="h-decide">Decisions pending</h2>'
        f'<p class="lede">In decide longer than {page.decide_days} days, longest first.</p>'
        + (
            f'<table><thead><tr><th>Record</th><th>Title</th><th>Decision owner</th><th class="num">Days in '
            f"decide</th></tr></thead><tbody>{decisions}</tbody></table>"
            if decisions
            else '<p class="muted">No decision is waiting.</p>'
        )
        + "</section>"
    )
    hand = "".join(
        f'<tr><td class="key">{record_link(h.deal, True)}</td><td>{e(h.deal.title)}</td>'
        f"<td>{', '.join(record_link(d) for d in h.deliveries)}</td>"
        f'<td class="num">{"—" if h.idle_days is None else f"{h.idle_days:,}"}</td>'
        f'<td class="who">{e(h.owner or "—")}</td>'
        f"<td>{''.join(chip(p.text, 'red') for p in h.problems) or chip('OK', 'green')}</td></tr>"
        for h in page.handoffs[:ROWS_SHOWN]
    )
    hand_html = (
        '<section aria-labelledby="h-hand"><h2 id="h-hand">Hand-offs in flight</h2>'
        + (
            f'<table><thead><tr><th>Deal</th><th>Title</th><th>Delivery</th><th class="num">Idle days</th>'
            f"<th>Hand-off owner</th><th>Status</th></tr></thead><tbody>{hand}</tbody></table>"
            if hand
            else '<p class="muted">No hand-off in flight.</p>'
        )
        + "</section>"
    )
    out.write(
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(page.team)} weekly review · {e(day)}</title><style>{CSS}{TEAM_CSS}</style></head><body>"
        '<header class="top"><div class="inner"><div><p class="eyebrow">Weekly review</p>'
        f"<h1>{e(page.team)}</h1></div>"
        f'<div class="asof">As of<strong>{e(day)}</strong>{e(page.generated_at.strftime("%H:%M %Z"))}</div></div>'
        f"</header><main>{score}{off_html}{dec_html}{hand_html}</main></body></html>\n"
    )


def markdown_page(page: TeamPage, out: TextIO) -> None:
    lines = [
        f"## {cell(page.team)}: weekly review",
        "",
        f"As of {page.generated_at.strftime('%Y-%m-%d %H:%M %Z').strip()}.",
        "",
        "### Scorecard",
        "",
        "| Measure | Kind | Now | Trend | Change | Status |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for m in page.measures:
        h = m.headline
        judged = verdict(h)
        lines.append(
            f"| {cell(h.metric.label)} | {m.kind} | {value_text(h.metric, h.value)} | "
            f"{spark([v for _, v in h.series])} | {change_text(h)}{f' ({judged})' if judged else ''} | "
            f"{STATUS_WORDS[m.status]} |"
        )
    lines += ["", "### Off track", ""]
    shown, rest = head(page.off_track, ROWS_SHOWN)
    lines += [
        f"- {o.flag.capitalize()}: {link(o.record.key, o.record.url)} {cell(o.record.title)} "
        f"({cell(o.owner) if o.owner else '**no owner**'}): {cell('; '.join(o.reasons))}"
        for o in shown
    ]
    lines += [f"- …and {rest} more"] if rest else []
    lines += [] if shown else ["Everything is on track."]
    lines += ["", "### Decisions pending", ""]
    lines += [
        f"- {link(d.record.key, d.record.url)} {cell(d.record.title)}: {d.days_in_decide} days in decide, "
        f"decision owner {cell(d.decision_owner) if d.decision_owner else '**none**'}"
        for d in page.decisions[:ROWS_SHOWN]
    ] or ["No decision is waiting."]
    lines += ["", "### Hand-offs in flight", ""]
    lines += [
        f"- {link(h.deal.key, h.deal.url)} {cell(h.deal.title)} → "
        f"{', '.join(link(d.key, d.url) for d in h.deliveries)}: "
        f"{'—' if h.idle_days is None else h.idle_days} idle days, owner {cell(h.owner or '—')}"
        f"{'; ' + cell('; '.join(p.text for p in h.problems)) if h.problems else ''}"
        for h in page.handoffs[:ROWS_SHOWN]
    ] or ["No hand-off in flight."]
    out.write("\n".join(lines) + "\n")
