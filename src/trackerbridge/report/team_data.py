"""The weekly team page as JSON and CSV: the same data as its HTML and Markdown, for people's own dashboards.

JSON, schema ``trackerbridge.team/v1``, under the report JSON's conventions (`report.json`: keys in this order,
lists in the page's order, UTF-8 not ASCII-escaped, indent 2, times ISO 8601, a record is
``{"source", "system", "key", "url", "title"}``)::

    {
      "schema": "trackerbridge.team/v1",
      "team": str,
      "generated_at": str,            # the audit's "now"
      "scorecard": [                  # the configured measures, in order (at most ten)
        {"key": str, "label": str, "kind": "leading" | "lagging",
         "type": "count" | "share",   # a share is a fraction in [0, 1]
         "better": "up" | "down" | "none", "definition": str,
         "value": int | float, "change": int | float | null,
         "status": "green" | "amber" | "red" | "none",
         "thresholds": {"green": number, "amber": number} | null,
         "series": [{"at": str, "value": int | float}]}   # one point per UTC day, oldest first; last = now
      ],
      "off_track": [{"record": record, "health": "red" | "amber", "owner": str | null, "reasons": [str]}],
      "decisions": {"limit_days": int,   # TB104's days
                    "items": [{"record": record, "decision_owner": str | null, "days_in_decide": int | null}]},
      "handoffs": [{"deal": record, "closed": str | null, "deliveries": [record], "idle_days": int | null,
                    "owner": str | null, "problems": [{"code": str, "text": str}]}]
    }

CSV: one table (RFC 4180, every field quoted, CRLF) as the report's CSV: a `section` column, then `measure` rows
(item = key, value, limit = "green/amber" thresholds, health = status, detail = label and kind), `off_track` rows
(the record, health, owner, detail = reasons), `decision` rows (value = days in decide, limit = TB104's days,
owner = decision owner) and `handoff` rows (the deal, value = idle days, detail = deliveries and problems). Every
cell goes through the audit CSV's `cell` (no spreadsheet formulas from tracker text).
"""

from __future__ import annotations

import csv as _csv
from typing import Any, TextIO

from trackerbridge.emitters.csv import cell
from trackerbridge.emitters.json import dumps
from trackerbridge.report import csv as report_csv
from trackerbridge.report import json as report_json
from trackerbridge.report.team import TeamPage

SCHEMA = "trackerbridge.team/v1"
COLUMNS = report_csv.COLUMNS


def document(page: TeamPage) -> dict[str, Any]:
    """The page as plain data, in the documented key order."""
    record = report_json._record
    return {
        "schema": SCHEMA,
        "team": page.team,
        "generated_at": page.generated_at.isoformat(),
        "scorecard": [
            {
                "key": m.headline.metric.key,
                "label": m.headline.metric.label,
                "kind": m.kind,
                "type": m.headline.metric.kind,
                "better": m.headline.metric.better,
                "definition": m.headline.metric.help,
                "value": m.headline.value,
                "change": m.headline.change,
                "status": m.status,
                "thresholds": {"green": m.thresholds[0], "amber": m.thresholds[1]} if m.thresholds else None,
                "series": [{"at": at.isoformat(), "value": v} for at, v in m.headline.series],
            }
            for m in page.measures
        ],
        "off_track": [
            {"record": record(o.record), "health": o.flag, "owner": o.owner, "reasons": list(o.reasons)}
            for o in page.off_track
        ],
        "decisions": {
            "limit_days": page.decide_days,
            "items": [
                {"record": record(d.record), "decision_owner": d.decision_owner, "days_in_decide": d.days_in_decide}
                for d in page.decisions
            ],
        },
        "handoffs": [
            {
                "deal": record(h.deal),
                "closed": h.closed.isoformat() if h.closed else None,
                "deliveries": [record(d) for d in h.deliveries],
                "idle_days": h.idle_days,
                "owner": h.owner,
                "problems": [{"code": r.code, "text": r.text} for r in h.problems],
            }
            for h in page.handoffs
        ],
    }


def json_page(page: TeamPage, out: TextIO) -> None:
    out.write(dumps(document(page), indent=2) + "\n")


def rows(page: TeamPage) -> list[dict[str, Any]]:
    """The table's rows as dicts keyed by COLUMNS (missing keys are empty cells); every row names the team."""
    record = report_csv._record
    out: list[dict[str, Any]] = []
    for m in page.measures:
        h = m.headline
        limit = f"{m.thresholds[0]:g}/{m.thresholds[1]:g}" if m.thresholds else ""
        out.append(
            {
                "section": "measure",
                "item": h.metric.key,
                "value": h.value,
                "limit": limit,
                "health": m.status,
                "detail": f"{h.metric.label} ({m.kind})",
            }
        )
    for o in page.off_track:
        out.append(
            {
                "section": "off_track",
                **record(o.record),
                "health": o.flag,
                "owner": o.owner,
                "detail": "; ".join(o.reasons),
            }
        )
    for d in page.decisions:
        out.append(
            {
                "section": "decision",
                **record(d.record),
                "value": d.days_in_decide,
                "limit": page.decide_days,
                "owner": d.decision_owner,
            }
        )
    for ho in page.handoffs:
        delivery = " ".join(d.key for d in ho.deliveries) or "no delivery record"
        out.append(
            {
                "section": "handoff",
                **record(ho.deal),
                "value": ho.idle_days,
                "owner": ho.owner,
                "code": " ".join(r.code for r in ho.problems),
                "detail": "; ".join([f"delivery: {delivery}", *(r.text for r in ho.problems)]),
            }
        )
    return [{**r, "team": page.team} for r in out]


def csv_page(page: TeamPage, out: TextIO) -> None:
    """A header row, then the rows; open the file with newline="" (rows end with CRLF)."""
    writer = _csv.writer(out, quoting=_csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows(page):
        writer.writerow([cell(row.get(column)) for column in COLUMNS])
