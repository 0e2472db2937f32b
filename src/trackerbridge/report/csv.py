"""The report as one CSV table (RFC 4180, every field quoted, CRLF), for spreadsheets and pivot tables.

One row per item, the `section` column saying which part of the report it belongs to, in the report's
order: `headline` (item = metric key, value, detail = label), `owner` and `team` (item = name,
value = active initiatives, limit = capacity, detail = over by / capacity basis), `sunset` (a record,
code and detail = its reasons joined by "; "), `handoff` (the deal, value = idle days, limit = TB110's
days, detail = its delivery records or "no delivery record"), `finding` (every live finding, by rule
worst first; item = rule name), `slip` (a record later than its baseline, largest first; item = end date,
value = slip in days, limit = times moved, code TB117 when the latest move has no reason, detail = baseline
and reason). Columns a section does not use are empty.

Tracker text must not become a spreadsheet formula: every cell goes through the audit CSV's `cell`,
which prefixes =, +, -, @, tab and CR with an apostrophe (OWASP's CSV-injection guidance).
"""

from __future__ import annotations

import csv as _csv
from typing import Any, TextIO

from trackerbridge.emitters.csv import cell
from trackerbridge.report import slips as _slips
from trackerbridge.report.model import RecordRef, Report

COLUMNS = (
    "section",
    "item",
    "value",
    "limit",
    "code",
    "severity",
    "health",
    "source",
    "key",
    "title",
    "owner",
    "team",
    "detail",
    "url",
)


def _record(r: RecordRef) -> dict[str, str]:
    return {"source": r.source, "key": r.key, "title": r.title, "url": r.url}


def rows(report: Report) -> list[dict[str, Any]]:
    """The table's rows as dicts keyed by COLUMNS (missing keys are empty cells)."""
    out: list[dict[str, Any]] = []
    for h in report.headline:
        out.append({"section": "headline", "item": h.metric.key, "value": h.value, "detail": h.metric.label})
    for section, loads in (("owner", report.owners), ("team", report.teams)):
        for lo in loads:
            detail = f"over by {lo.over}" if lo.over else ""
            if section == "team":
                detail = "; ".join(p for p in (detail, f"capacity: {lo.basis}") if p)
            out.append(
                {"section": section, "item": lo.name, "value": lo.active, "limit": lo.capacity, "detail": detail}
            )
    for c in report.sunset:
        out.append(
            {
                "section": "sunset",
                **_record(c.record),
                "code": " ".join(r.code for r in c.reasons),
                "owner": c.owner,
                "team": c.team,
                "detail": "; ".join(r.text for r in c.reasons),
            }
        )
    for ho in report.handoffs:
        delivery = " ".join(d.key for d in ho.deliveries) or "no delivery record"
        detail = "; ".join([f"delivery: {delivery}", *(r.text for r in ho.problems)])
        out.append(
            {
                "section": "handoff",
                **_record(ho.deal),
                "value": ho.idle_days,
                "limit": report.handoff_limit,
                "code": " ".join(r.code for r in ho.problems),
                "owner": ho.owner,
                "detail": detail,
            }
        )
    for g in report.rules:
        for f in g.findings:
            out.append(
                {
                    "section": "finding",
                    "item": g.name,
                    "code": g.code,
                    "severity": g.severity,
                    "health": f.flag,
                    **_record(f.record),
                    "detail": f.message,
                }
            )
    out += _slips.csv_rows(report, _record)
    return out


def render(report: Report, out: TextIO) -> None:
    """A header row, then the rows; open the file with newline="" (rows end with CRLF)."""
    writer = _csv.writer(out, quoting=_csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows(report):
        writer.writerow([cell(row.get(column)) for column in COLUMNS])
