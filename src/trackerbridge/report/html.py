"""The report as one self-contained HTML page, to mail to leadership or print.

Self-contained: inline CSS (with print rules) and inline SVG sparklines and bars; no script, font, image
or stylesheet is fetched, and a Content-Security-Policy meta tag forbids the browser to fetch or run
anything else (`default-src 'none'; style-src 'unsafe-inline'; img-src data:`).

Accessible: every SVG has role="img", an aria-label and a <title> saying in words what it draws; health
and severity are text labels ("Red", "Over by 3") on tinted backgrounds with at least 4.5:1 contrast,
so colour is never the only signal and the page reads in greyscale.

Safe: every value from a tracker (titles, names, teams, messages, keys, URLs) is cleaned of control and
bidi-override characters and escaped with html.escape(quote=True), in text and in attributes alike;
links are made only to http(s) URLs, percent-encoded first. The page has no <script> element at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TextIO

import trackerbridge
from trackerbridge.report import slips as _slips
from trackerbridge.report.markup import chip, e, flag_chip, href, record_link
from trackerbridge.report.model import Headline, Load, Report
from trackerbridge.report.present import (
    FINDINGS_PER_RULE,
    FLAG_LABELS,
    HANDOFFS_SHOWN,
    SUNSET_SHOWN,
    change_text,
    head,
    plural,
    series_text,
    shown_owners,
    summary_points,
    value_text,
    verdict,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
INK, MUTED, ACCENT, TRACK = "#1d2939", "#475467", "#1849a9", "#e4e7ec"
RED, AMBER, GREEN = "#b42318", "#b54708", "#067647"

CSS = """
:root { color-scheme: light; --ink: #1d2939; --muted: #475467; --line: #e4e7ec; --accent: #1849a9;
  --red: #b42318; --red-bg: #fee4e2; --amber: #93370d; --amber-bg: #fef0c7; --green: #085d3a; --green-bg: #dcfae6; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #f2f4f7; color: var(--ink); font: 14px/1.45 "Segoe UI", Roboto, "Helvetica Neue",
  "Liberation Sans", Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 28px 32px 40px; }
header.top { background: #101828; color: #fff; }
header.top .inner { max-width: 1160px; margin: 0 auto; padding: 26px 32px 22px; display: flex; gap: 24px;
  align-items: flex-end; justify-content: space-between; }
.eyebrow { margin: 0 0 4px; font-size: 12px; letter-spacing: .08em; text-transform: uppercase; color: #d0d5dd; }
h1 { margin: 0; font-size: 28px; font-weight: 650; letter-spacing: -.01em; }
.meta { margin: 6px 0 0; color: #d0d5dd; font-size: 13px; }
.asof { text-align: right; font-size: 13px; color: #d0d5dd; }
.asof strong { display: block; font-size: 20px; color: #fff; font-weight: 600; }
.asof .read { display: block; margin-top: 2px; }
h2 { font-size: 18px; margin: 0 0 2px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
.lede { margin: 0 0 12px; color: var(--muted); }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 20px 22px;
  margin: 0 0 18px; }
.points { margin: 0; padding-left: 20px; }
.points li { margin: 3px 0; }
.cards { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; margin-top: 14px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px 10px; background: #fcfcfd; }
.card .label { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  font-weight: 600; display: flex; justify-content: space-between; gap: 6px; }
.card .value { font-size: 30px; font-weight: 650; line-height: 1.15; margin: 4px 0 2px; }
.card .value small { font-size: 13px; font-weight: 500; color: var(--muted); }
.card svg.spark { display: block; width: 100%; height: 36px; margin: 4px 0 2px; }
.card .change { font-size: 12px; color: var(--muted); }
.card.rag-red { border-left: 5px solid var(--red); }
.card.rag-amber { border-left: 5px solid #f79009; }
.card.rag-green { border-left: 5px solid #17b26a; }
.better { color: var(--green); font-weight: 600; }
.worse { color: var(--red); font-weight: 600; }
.share { height: 6px; background: var(--line); border-radius: 3px; overflow: hidden; margin-top: 2px; }
.share span { display: block; height: 100%; background: var(--accent); }
.ragbar { display: flex; height: 22px; border-radius: 5px; overflow: hidden; margin: 12px 0 4px;
  border: 1px solid var(--line); }
.ragbar span { display: block; color: #fff; font-size: 12px; font-weight: 600; line-height: 22px;
  padding: 0 6px; white-space: nowrap; overflow: hidden; }
.ragbar .r { background: var(--red); } .ragbar .a { background: #b54708; } .ragbar .g { background: #067647; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  font-weight: 600; border-bottom: 1px solid #d0d5dd; padding: 6px 8px; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.key { white-space: nowrap; }
td.bar { width: 190px; }
td.bar svg { display: block; width: 180px; height: 14px; margin-top: 3px; }
tr.over td { background: #fffbfa; }
tr.group td { background: #f9fafb; font-weight: 600; padding-top: 10px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.sys { display: inline-block; font-size: 10px; font-weight: 600; color: var(--muted); border: 1px solid #d0d5dd;
  border-radius: 3px; padding: 0 4px; margin-left: 4px; vertical-align: 1px; }
.chip { display: inline-block; font-size: 12px; font-weight: 600; border-radius: 10px; padding: 1px 8px;
  white-space: nowrap; margin: 0 4px 2px 0; }
.chip.red { color: var(--red); background: var(--red-bg); }
.chip.amber { color: var(--amber); background: var(--amber-bg); }
.chip.green { color: var(--green); background: var(--green-bg); }
.chip.plain { color: var(--muted); background: #f2f4f7; font-weight: 500; }
.chip.error { color: var(--red); background: #fff; border: 1px solid var(--red); }
.chip.warning { color: var(--amber); background: #fff; border: 1px solid #b54708; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; align-items: start; }
.two > section { margin: 0; min-width: 0; }
.two td.bar, .two td.bar svg { width: 120px; }
td.name, td.who { white-space: nowrap; }
td.deal { min-width: 220px; }
.sub { display: block; font-size: 11px; color: var(--muted); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.basis { display: block; font-size: 11px; color: var(--muted); white-space: nowrap; }
.row { margin-bottom: 18px; }
.more { color: var(--muted); font-size: 12px; margin: 8px 0 0; }
.muted { color: var(--muted); }
footer { color: var(--muted); font-size: 12px; padding: 0 4px; }
footer dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0 0; }
footer dt { font-weight: 600; }
footer dd { margin: 0; }
@page { size: A4; margin: 12mm; }
@media print {
  body { background: #fff; font-size: 11px; }
  main { padding: 12px 0 0; max-width: none; }
  header.top .inner { padding: 14px 16px; }
  section { border: none; padding: 8px 0; break-inside: auto; }
  .card, tr, .ragbar { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  thead { display: table-header-group; }
  .two { grid-template-columns: 1fr; }
  a { color: var(--ink); }
}
.scroll { overflow-x: auto; max-width: 100%; position: relative; }  /* relative: holds the .sr labels in the box */
.scroll > table { min-width: 560px; }
@media print { .scroll { overflow: visible; } .scroll > table { min-width: 0; } }
@media (max-width: 760px) { .cards { grid-template-columns: 1fr 1fr; } .two { grid-template-columns: 1fr; } }
@media (max-width: 520px) {
  main { padding: 14px 10px 28px; }
  header.top .inner { padding: 18px 12px 16px; flex-direction: column; align-items: flex-start; gap: 10px; }
  .asof { text-align: left; }
  section { padding: 14px 12px; }
  .cards { grid-template-columns: 1fr; }
}
"""
# Every table sits in a horizontally scrolling box: on a phone (400 px) a table keeps all its columns and
# scrolls sideways instead of pushing its last columns off the page.
_TABLE = re.compile(r"<table>(.*?)</table>", re.DOTALL)


def _svg(width: int, height: int, label: str, body: str, css: str) -> str:
    text = e(label)
    return (
        f'<svg class="{css}" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
        f'aria-label="{text}" xmlns="http://www.w3.org/2000/svg"><title>{text}</title>{body}</svg>'
    )


def sparkline(h: Headline, colour: str = ACCENT) -> str:
    """The series as a line with a shaded area and a dot on the latest run; the text alternative lists the values."""
    width, height, pad = 240, 36, 4
    values = [float(v) for _, v in h.series]
    low, high = min(values), max(values)
    n = len(values)

    def point(i: int, v: float) -> tuple[float, float]:
        x = width / 2 if n == 1 else pad + i * (width - 2 * pad) / (n - 1)
        y = height / 2 if high == low else height - pad - (v - low) / (high - low) * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    points = [point(i, v) for i, v in enumerate(values)]
    line = " ".join(f"{x},{y}" for x, y in points)
    body = f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" stroke="{TRACK}" stroke-width="1"/>'
    if n > 1:
        area = f"{points[0][0]},{height} {line} {points[-1][0]},{height}"
        body += (
            f'<polygon points="{area}" fill="{colour}" fill-opacity="0.10"/>'
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2" '
            'stroke-linejoin="round" stroke-linecap="round" vector-effect="non-scaling-stroke"/>'
        )
    x, y = points[-1]
    body += f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}" stroke="#fff" stroke-width="1"/>'
    return _svg(width, height, series_text(h), body, "spark")


def load_bar(lo: Load, scale: int) -> str:
    """Active initiatives as a bar, capacity as a dark tick; the part over capacity in red."""
    width, height = 180, 14
    scale = max(scale, 1)

    def x(v: int) -> float:
        return round(min(v, scale) / scale * width, 1)

    body = f'<rect x="0" y="3" width="{width}" height="8" rx="2" fill="{TRACK}"/>'
    body += f'<rect x="0" y="3" width="{x(min(lo.active, lo.capacity))}" height="8" rx="2" fill="{ACCENT}"/>'
    if lo.over:
        body += (
            f'<rect x="{x(lo.capacity)}" y="3" width="{round(x(lo.active) - x(lo.capacity), 1)}" height="8" '
            f'fill="{RED}"/>'
        )
    cap = min(x(lo.capacity), width - 1)
    body += f'<rect x="{cap}" y="0" width="2" height="{height}" fill="{INK}"/>'
    label = f"{lo.active} active against a capacity of {lo.capacity}" + (f", over by {lo.over}" if lo.over else "")
    return _svg(width, height, label, body, "load")


def idle_bar(days: int | None, limit: int, scale: int) -> str:
    width, height = 180, 14
    scale = max(scale, limit, 1)
    shown = max(0, days or 0)
    fill = RED if days is not None and days > limit else GREEN
    body = (
        f'<rect x="0" y="3" width="{width}" height="8" rx="2" fill="{TRACK}"/>'
        f'<rect x="0" y="3" width="{round(min(shown, scale) / scale * width, 1)}" height="8" rx="2" '
        f'fill="{fill}"/>'
        f'<rect x="{round(limit / scale * width, 1)}" y="0" width="2" height="{height}" fill="{INK}"/>'
    )
    said = "unknown" if days is None else f"{days} idle days"
    return _svg(width, height, f"{said}, limit {limit}", body, "idle")


def count_bar(n: int, scale: int, colour: str) -> str:
    width, height = 180, 14
    body = (
        f'<rect x="0" y="3" width="{width}" height="8" rx="2" fill="{TRACK}"/>'
        f'<rect x="0" y="3" width="{round(n / max(scale, 1) * width, 1)}" height="8" rx="2" fill="{colour}"/>'
    )
    return _svg(width, height, plural(n, "finding"), body, "count")


def _figures(escaped: str) -> str:
    """Numbers in a sentence (already escaped) in bold, so the summary reads at a glance."""
    return re.sub(r"(?<![\w-])(\d[\d,]*%?)", r"<strong>\1</strong>", escaped)


def _card(h: Headline) -> str:
    judged = verdict(h)
    key = h.metric.key
    rag = key in FLAG_LABELS
    colour = {"red": RED, "amber": AMBER, "green": GREEN}.get(key, ACCENT)
    change = change_text(h)
    change_html = e(change) + (f' · <span class="{judged}">{e(judged)}</span>' if judged else "")
    extra = ""
    if h.metric.kind == "share":
        extra = f'<div class="share" aria-hidden="true"><span style="width:{round(h.value * 100, 1)}%"></span></div>'
    label = f"{flag_chip(key)} initiatives" if rag else e(h.metric.label)
    return (
        f'<div class="card{" rag-" + key if rag else ""}" title="{e(h.metric.help)}">'
        f'<div class="label"><span>{label}</span></div>'
        f'<div class="value">{e(value_text(h.metric, h.value))}</div>{extra}'
        f"{sparkline(h, colour)}"
        f'<div class="change">{change_html}</div></div>'
    )


def _headline(report: Report) -> str:
    fig = {h.metric.key: h for h in report.headline}
    red, amber, green = (int(fig[k].value) for k in ("red", "amber", "green"))
    total = max(red + amber + green, 1)
    parts = []
    for cls, n, word in (("r", red, "Red"), ("a", amber, "Amber"), ("g", green, "Green")):
        if n:
            parts.append(f'<span class="{cls}" style="width:{round(n / total * 100, 2)}%">{word} {n:,}</span>')
    bar = (
        f'<div class="ragbar" role="img" aria-label="Health of active initiatives: {red:,} red, {amber:,} amber, '
        f'{green:,} green">{"".join(parts)}</div>'
    )
    points = "".join(f"<li>{_figures(e(p))}</li>" for p in summary_points(report))
    cards = "".join(_card(h) for h in report.headline)
    days = len(report.headline[0].series) if report.headline else 0
    since = f" since {report.since.date().isoformat()}" if report.since else ""
    trend = (
        f"Trend lines: {days} points{since}, one per day with a sync run (its last), ending today; each card "
        "compares with the previous point."
        if days > 1
        else "Trend lines start once trackerbridge sync has run on earlier days."
    )
    return (
        f'<section aria-labelledby="h-summary"><h2 id="h-summary">Summary</h2>'
        f'<p class="lede">{e(trend)}</p>'
        f'<ul class="points">{points}</ul>{bar}<div class="cards">{cards}</div></section>'
    )


def _loads(title: str, ident: str, loads: Sequence[Load], total: int, team: bool, what: str) -> str:
    scale = max((max(lo.active, lo.capacity) for lo in loads), default=1)
    rows = []
    for lo in loads:
        status = chip(f"Over by {lo.over}", "red") if lo.over else chip("Within", "green")
        basis = f'<span class="basis">{e(lo.basis)}</span>' if team else ""
        rows.append(
            f'<tr class="{"over" if lo.over else ""}"><td class="name">{e(lo.name)}</td>'
            f'<td class="num">{lo.active}</td><td class="num">{lo.capacity}{basis}</td>'
            f'<td class="bar">{load_bar(lo, scale)}</td><td>{status}</td></tr>'
        )
    over = sum(1 for lo in loads if lo.over)
    more = (
        f'<p class="more">…and {plural(total - len(loads), what)} within capacity, in the JSON or CSV export.</p>'
        if total > len(loads)
        else ""
    )
    lede = f"{plural(total, what)} carrying active initiatives; {over:,} over capacity, shown first."
    body = (
        f'<table><thead><tr><th>{e(what.capitalize())}</th><th class="num">Active</th>'
        f'<th class="num">Capacity</th><th>Load</th><th>Status</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="muted">Nothing active.</p>'
    )
    return (
        f'<section aria-labelledby="{ident}"><h2 id="{ident}">{e(title)}</h2><p class="lede">{e(lede)}</p>'
        f"{body}{more}</section>"
    )


def _sunset(report: Report) -> str:
    shown, rest = head(report.sunset, SUNSET_SHOWN)
    rows = []
    for c in shown:
        why = "".join(chip(r.text, "red" if r.code in ("TB101", "TB102") else "amber") for r in c.reasons)
        rows.append(
            f'<tr><td class="key">{record_link(c.record, True)}</td><td>{e(c.record.title)}</td>'
            f'<td class="who">{e(c.owner) if c.owner else chip("No owner", "red")}</td>'
            f'<td class="who">{e(c.team or "—")}</td>'
            f'<td>{e(c.stage or "—")}</td><td class="key">{e(c.end.isoformat() if c.end else "—")}</td>'
            f"<td>{why}</td></tr>"
        )
    lede = (
        f"{plural(len(report.sunset), 'active initiative')} with no owner, no end date, "
        f"{report.long_overdue_days}+ days past the end date, or no update for a long time; most reasons first. "
        "Extend each with an owner and a date, or sunset it with a learning note."
    )
    table = (
        f"<table><thead><tr><th>Record</th><th>Title</th><th>Owner</th><th>Team</th><th>Stage</th>"
        f"<th>End date</th><th>Why</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="muted">No sunset candidates.</p>'
    )
    more = f'<p class="more">…and {plural(rest, "candidate")} more in the JSON or CSV export.</p>' if rest else ""
    return (
        f'<section aria-labelledby="h-sunset"><h2 id="h-sunset">Sunset candidates</h2>'
        f'<p class="lede">{e(lede)}</p>{table}{more}</section>'
    )


def _handoffs(report: Report) -> str:
    shown, rest = head(report.handoffs, HANDOFFS_SHOWN)
    scale = max((h.idle_days or 0 for h in shown), default=report.handoff_limit)
    short = {"TB110": f"Idle over {report.handoff_limit} days", "TB111": "No hand-off owner"}
    rows = []
    for h in shown:
        url = href(h.deal.url)
        title = e(h.deal.title or h.deal.key)
        deal = f'<a href="{url}" rel="noopener noreferrer">{title}</a>' if url else title
        delivery = ", ".join(record_link(d) for d in h.deliveries) or '<span class="muted">none yet</span>'
        status = "".join(chip(short.get(p.code, p.text), "red") for p in h.problems) or chip("OK", "green")
        idle = "—" if h.idle_days is None else f"{h.idle_days:,}"
        owner = e(h.owner) if h.owner else '<span class="muted">—</span>'
        rows.append(
            f'<tr><td class="deal">{deal}<span class="sub">{e(h.deal.key)}</span></td>'
            f'<td class="key">{e(h.closed.isoformat() if h.closed else "—")}</td><td>{delivery}</td>'
            f'<td class="num">{idle}</td><td class="bar">{idle_bar(h.idle_days, report.handoff_limit, scale)}'
            f'</td><td class="who">{owner}</td><td>{status}</td></tr>'
        )
    idled = sum(1 for h in report.handoffs if any(p.code == "TB110" for p in h.problems))
    unowned = sum(1 for h in report.handoffs if h.owner is None)
    lede = (
        f"{plural(len(report.handoffs), 'closed-won deal')} and their delivery records: {idled:,} idle more than "
        f"{report.handoff_limit} days between contract and delivery, {unowned:,} without a hand-off owner; "
        "problems first, then the longest idle. The tick on each bar marks the limit."
    )
    table = (
        f'<table><thead><tr><th>Deal</th><th>Closed</th><th>Delivery</th><th class="num">Idle days</th>'
        f'<th><span class="sr">Idle days against the limit</span></th><th>Hand-off owner</th><th>Status</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="muted">No closed-won deals.</p>'
    )
    more = f'<p class="more">…and {plural(rest, "hand-off")} more in the JSON or CSV export.</p>' if rest else ""
    return (
        f'<section aria-labelledby="h-handoffs"><h2 id="h-handoffs">Hand-offs</h2>'
        f'<p class="lede">{e(lede)}</p>{table}{more}</section>'
    )


def _rules(report: Report) -> str:
    if not report.rules:
        return (
            '<section aria-labelledby="h-rules"><h2 id="h-rules">Findings by rule</h2>'
            '<p class="muted">No findings.</p></section>'
        )
    scale = max(g.count for g in report.rules)
    summary = []
    detail = []
    for g in report.rules:
        colour = RED if g.severity == "error" else AMBER
        summary.append(
            f'<tr><td class="key">{e(g.code)}</td><td>{e(g.name)}<br><span class="muted">{e(g.summary)}'
            f"</span></td><td>{chip(g.severity.capitalize(), g.severity)}</td>"
            f'<td class="num">{g.count:,}</td><td class="bar">{count_bar(g.count, scale, colour)}</td>'
            f'<td class="num">{g.waived:,}</td></tr>'
        )
        shown, rest = head(g.findings, FINDINGS_PER_RULE)
        detail.append(
            f'<tr class="group"><td colspan="4">{e(g.code)} {e(g.name)} · {plural(g.count, "finding")}'
            f"{f' ({g.order} {len(shown)} shown{_ORDER_NOTE[g.order]})' if rest else ''}</td></tr>"
        )
        for f in shown:
            detail.append(
                f'<tr><td>{flag_chip(f.flag)}</td><td class="key">{record_link(f.record, True)}</td>'
                f"<td>{e(f.record.title)}</td><td>{e(f.message)}</td></tr>"
            )
    return (
        f'<section aria-labelledby="h-rules"><h2 id="h-rules">Findings by rule</h2>'
        f'<p class="lede">Live findings per convention rule, errors first, then the most frequent.</p>'
        f'<table><thead><tr><th>Code</th><th>Rule</th><th>Severity</th><th class="num">Findings</th>'
        f'<th><span class="sr">Relative count</span></th><th class="num">Waived</th></tr></thead>'
        f"<tbody>{''.join(summary)}</tbody></table>"
        f"<h3>Records per rule</h3><table><thead><tr><th>Health</th><th>Record</th><th>Title</th>"
        f"<th>Finding</th></tr></thead><tbody>{''.join(detail)}</tbody></table></section>"
    )


_ORDER_NOTE = {"largest": ", by days", "first": ", red records first"}


def _footer(report: Report) -> str:
    terms = "".join(f"<dt>{e(h.metric.label)}</dt><dd>{e(h.metric.help)}</dd>" for h in report.headline)
    return (
        f"<footer><p>Generated by trackerbridge {e(trackerbridge.__version__)} from "
        f"{e(', '.join(report.sources))} as of {e(report.generated_at.isoformat())}. "
        f"Record keys link to Jira and Salesforce.</p><dl>{terms}</dl></footer>"
    )


def render(report: Report, out: TextIO) -> None:
    """Write the page: header, summary with headline cards, sprawl, sunset candidates, hand-offs, slips, findings."""
    when = report.generated_at
    day = f"{when.day} {when.strftime('%B %Y')}"
    owners = shown_owners(report.owners)
    said = report.read_text[:1].upper() + report.read_text[1:]
    read = f'<span class="read">{e(said)}</span>' if said else ""
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Initiative sprawl report · {e(day)}</title><style>{CSS}</style></head><body>"
        '<header class="top"><div class="inner"><div><p class="eyebrow">Operations · initiative sprawl</p>'
        "<h1>Initiative sprawl report</h1>"
        f'<p class="meta">{e(report.population)} read from {e(", ".join(report.sources))}</p></div>'
        f'<div class="asof">As of<strong>{e(day)}</strong>{e(when.strftime("%H:%M %Z"))}'
        f"{read}</div></div>"
        "</header>"
        "<main>"
        f"{_headline(report)}"
        '<div class="two row">'
        f"{_loads('Sprawl by owner', 'h-owners', owners, len(report.owners), False, 'owner')}"
        f"{_loads('Sprawl by team', 'h-teams', report.teams, len(report.teams), True, 'team')}"
        "</div>"
        f"{_sunset(report)}{_handoffs(report)}{_slips.html_section(report)}{_rules(report)}{_footer(report)}"
        "</main></body></html>\n"
    )
    out.write(_TABLE.sub(r'<div class="scroll"><table>\1</table></div>', page))
