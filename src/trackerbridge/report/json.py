"""The report as one JSON document, for people's own dashboards.

Schema ``trackerbridge.report/v1`` (keys in this order; lists in the report's order, which is
deterministic; UTF-8, not ASCII-escaped; indent 2; times ISO 8601, dates YYYY-MM-DD; a record is
``{"source": str, "system": "jira" | "salesforce" | "", "key": str, "url": str, "title": str}``)::

    {
      "schema": "trackerbridge.report/v1",
      "generated_at": str,          # the audit's "now"
      "since": str | null,          # trends and hand-offs start here
      "sources": [str],             # connector names
      "records": int,               # records read (initiatives, deals, epics)
      "initiatives": int,           # of them, records in the owner rule's scope (`active` counts the active ones)
      "read_at": str | null,        # when the records were read (the last sync's start, or the --pull), ISO 8601
      "headline": [                 # in this order: active, share_owner, share_integrator, share_end_date,
                                    # overdue, stuck_in_decide, red, amber, green
        {"key": str, "label": str,
         "kind": "count" | "share", # a share is a fraction in [0, 1]
         "better": "up" | "down" | "none",
         "definition": str,
         "value": int | float,
         "change": int | float | null,   # against the previous point; null without one
         "series": [{"at": str, "value": int | float}]}   # one point per UTC day (its last run), oldest
                                    # first, at most 60; the last point is this report
      ],
      "owners": [                   # TB107's count, overloaded first
        {"name": str, "active": int, "capacity": int, "over": int, "basis": str}
      ],
      "teams": [ same as owners ],  # TB108's count; basis "configured" or "N owners x M"
      "sunset_candidates": {
        "long_overdue_days": int,   # an overdue reason counts from this many days late
        "items": [{"record": record, "owner": str | null, "team": str | null, "stage": str | null,
                   "end": str | null, "reasons": [{"code": str, "text": str}]}]
      },
      "handoffs": {
        "limit_days": int,          # TB110's allowed idle days
        "items": [{"deal": record, "closed": str | null, "deliveries": [record], "started": str | null,
                   "idle_days": int | null,   # to the first delivery record, or so far without one
                   "owner": str | null,
                   "problems": [{"code": str, "text": str}]}]
      },
      "findings_by_rule": [         # errors first, then most findings
        {"code": str, "rule": str, "severity": "error" | "warning", "summary": str, "count": int,
         "waived": int, "findings": [{"record": record, "message": str, "health": "red" | "amber" | "green"}]}
      ],
      "slips": {                    # active initiatives later than their baseline (TB117), largest first
        "with_reason": int, "without_reason": int,   # whether the latest move has a reason
        "items": [{"record": record, "owner": str | null, "team": str | null,
                   "baseline": str,           # the first end date committed
                   "baseline_from": "attribute" | "history" | "current",   # a mapped target date, the
                                              # changelog's first end date, or (no history) the end date
                   "end": str, "slip_days": int, "moves": int,   # times the end date moved later
                   "last_moved": str | null, "reason": str | null}]
      }
    }
"""

from __future__ import annotations

from datetime import date
from typing import Any, TextIO

from trackerbridge.emitters.json import dumps
from trackerbridge.report import slips as _slips
from trackerbridge.report.model import Load, RecordRef, Report

SCHEMA = "trackerbridge.report/v1"


def _record(r: RecordRef) -> dict[str, str]:
    return {"source": r.source, "system": r.system, "key": r.key, "url": r.url, "title": r.title}


def _day(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _load(lo: Load) -> dict[str, Any]:
    return {"name": lo.name, "active": lo.active, "capacity": lo.capacity, "over": lo.over, "basis": lo.basis}


def document(report: Report) -> dict[str, Any]:
    """The report as plain data, in the documented key order."""
    return {
        "schema": SCHEMA,
        "generated_at": report.generated_at.isoformat(),
        "since": report.since.isoformat() if report.since else None,
        "sources": list(report.sources),
        "records": report.records,
        "initiatives": report.initiatives,
        "read_at": report.read_at.isoformat() if report.read_at else None,
        "headline": [
            {
                "key": h.metric.key,
                "label": h.metric.label,
                "kind": h.metric.kind,
                "better": h.metric.better,
                "definition": h.metric.help,
                "value": h.value,
                "change": h.change,
                "series": [{"at": at.isoformat(), "value": v} for at, v in h.series],
            }
            for h in report.headline
        ],
        "owners": [_load(lo) for lo in report.owners],
        "teams": [_load(lo) for lo in report.teams],
        "sunset_candidates": {
            "long_overdue_days": report.long_overdue_days,
            "items": [
                {
                    "record": _record(c.record),
                    "owner": c.owner,
                    "team": c.team,
                    "stage": c.stage,
                    "end": _day(c.end),
                    "reasons": [{"code": r.code, "text": r.text} for r in c.reasons],
                }
                for c in report.sunset
            ],
        },
        "handoffs": {
            "limit_days": report.handoff_limit,
            "items": [
                {
                    "deal": _record(h.deal),
                    "closed": _day(h.closed),
                    "deliveries": [_record(d) for d in h.deliveries],
                    "started": _day(h.started),
                    "idle_days": h.idle_days,
                    "owner": h.owner,
                    "problems": [{"code": r.code, "text": r.text} for r in h.problems],
                }
                for h in report.handoffs
            ],
        },
        "findings_by_rule": [
            {
                "code": g.code,
                "rule": g.name,
                "severity": g.severity,
                "summary": g.summary,
                "count": g.count,
                "waived": g.waived,
                "findings": [{"record": _record(f.record), "message": f.message, "health": f.flag} for f in g.findings],
            }
            for g in report.rules
        ],
        "slips": _slips.json_items(report, _record),
    }


def render(report: Report, out: TextIO) -> None:
    """Write the documented JSON document, ending with a newline."""
    out.write(dumps(document(report), indent=2) + "\n")
