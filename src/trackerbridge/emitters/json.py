"""The audit as one JSON document, for people's own tools.

Schema ``trackerbridge.audit/v1`` (keys appear in this order; lists are sorted, so the same audit gives
the same bytes; UTF-8, not ASCII-escaped; indent 2; times ISO 8601)::

    {
      "schema": "trackerbridge.audit/v1",
      "generated_at": str,        # the audit's "now" (ISO 8601), not the wall clock: reruns compare equal
      "sources": [                # one per connector read, by name
        {"name": str, "system": "jira" | "salesforce", "flavor": str, "version": str, "url": str,
         "records": int, "api_calls": int}
      ],
      "summary": {
        "initiatives": int,       # records read
        "health": {"red": int, "amber": int, "green": int},
        "findings": int,          # live findings (not waived)
        "waived": int,            # findings a waiver covers
        "by_rule": {code: int}    # live findings per rule code, by code; rules without findings left out
      },
      "rules": [                  # the rules that ran, by code
        {"code": "TB101", "name": "owner-missing", "severity": "error" | "warning", "summary": str}
      ],
      "findings": [               # live and waived, by source, key (numbers in keys compare as numbers), code
        {"id": str,               # stable across runs: same rule, record and detail give the same id
         "code": str, "rule": str, "severity": "error" | "warning", "source": str, "key": str, "url": str,
         "title": str,            # "" when the record has none
         "message": str,
         "waived_by": str | null} # the waiver's text when a waiver covers the finding
      ],
      "health": [                 # every record read, by source and key
        {"source": str, "key": str, "url": str, "title": str, "flag": "red" | "amber" | "green",
         "reasons": [str]}        # "TB101 no owner", worst first
      ]
    }

The finding object, the orders of findings and the text clean-up live here: jsonl and csv must agree
with this document byte for byte, and the other formats list findings in the same orders.
"""

from __future__ import annotations

import json as _json
import re
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from trackerbridge.health import Flag

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult
    from trackerbridge.rules.base import Finding

SCHEMA = "trackerbridge.audit/v1"

_DIGITS = re.compile(r"([0-9]+)")
_SEVERITY_RANK = {"error": 2, "warning": 1}


def text(value: object) -> str:
    """Tracker text as a str that can always be written as UTF-8.

    None becomes "" (titles are optional in trackers); a lone surrogate (JSON from a tracker may carry
    one) becomes U+FFFD instead of failing the write at the very end of an audit."""
    if value is None:
        return ""
    s = value if isinstance(value, str) else str(value)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return s


def natural(value: object) -> tuple[tuple[int, int, str], ...]:
    """Sort key where OPS-9 comes before OPS-10; ASCII digits only, so odd digits never crash int()."""
    parts = _DIGITS.split(text(value))
    return tuple((0, int(p), p) if i % 2 else (1, 0, p) for i, p in enumerate(parts) if p)


def finding_order(f: Finding) -> tuple[Any, ...]:
    """The canonical order: by record, then rule; ties broken on every field so input order never shows."""
    return (natural(f.source), natural(f.key), text(f.code), text(f.detail), text(f.message), text(f.waived_by))


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=finding_order)


def worst_first(result: AuditResult, findings: Iterable[Finding]) -> list[Finding]:
    """The order for people: findings on red records first, then amber; within that errors, then by code."""

    def key(f: Finding) -> tuple[Any, ...]:
        health = result.health.get(f.ref)
        rank = _SEVERITY_RANK.get(severity(f.severity), 0)
        flag = health.flag.rank if health is not None else rank
        return (-flag, -rank, text(f.code), *finding_order(f))

    return sorted(findings, key=key)


def severity(value: object) -> str:
    """The enum's value ("error"), tolerating a plain string from a third-party rule."""
    return text(getattr(value, "value", value))


def finding_record(f: Finding) -> dict[str, Any]:
    """One finding as JSON, JSON Lines and CSV show it."""
    return {
        "id": f.identity,
        "code": text(f.code),
        "rule": text(f.rule),
        "severity": severity(f.severity),
        "source": text(f.source),
        "key": text(f.key),
        "url": text(f.url),
        "title": text(f.title),
        "message": text(f.message),
        "waived_by": None if f.waived_by is None else text(f.waived_by),
    }


def live_counts(result: AuditResult) -> dict[str, int]:
    """Live findings per code, by code; counted from the findings so the summary always adds up."""
    counts = Counter(text(f.code) for f in result.findings if f.waived_by is None)
    return {code: counts[code] for code in sorted(counts)}


def by_count(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Most frequent rule first; ties by code."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def source_names(result: AuditResult) -> list[str]:
    """Connectors read: the summaries when the audit ran against trackers, else those the records name."""
    return sorted({text(s.name) for s in result.sources} | {text(i.source) for i in result.initiatives}, key=natural)


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text that is also safe for line-based tools and JavaScript: U+2028/U+2029 are escaped."""
    separators = (",", ": ") if indent is not None else (",", ":")
    out = _json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)
    # They can only occur inside strings, where the escape means the same character.
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")


def document(result: AuditResult) -> dict[str, Any]:
    """The audit as plain data, in the documented key order."""
    by_ref = {i.ref: i for i in result.initiatives}
    flags = result.flag_counts()
    health = []
    for ref, h in result.health.items():
        initiative = by_ref.get(ref)
        source, _, key = ref.partition(":")
        health.append(
            {
                "source": text(initiative.source if initiative else source),
                "key": text(initiative.key if initiative else key),
                "url": text(initiative.url if initiative else ""),
                "title": text(initiative.title if initiative else ""),
                "flag": text(h.flag.value),
                "reasons": [text(r) for r in h.reasons],
            }
        )
    health.sort(key=lambda h: (natural(h["source"]), natural(h["key"])))
    return {
        "schema": SCHEMA,
        "generated_at": result.now.isoformat(),
        "sources": [
            {
                "name": text(s.name),
                "system": text(s.server.system),
                "flavor": text(s.server.flavor),
                "version": text(s.server.version),
                "url": text(s.server.url),
                "records": s.records,
                "api_calls": s.api_calls,
            }
            for s in sorted(result.sources, key=lambda s: natural(s.name))
        ],
        "summary": {
            "initiatives": len(result.initiatives),
            "health": {flag.value: flags.get(flag, 0) for flag in (Flag.RED, Flag.AMBER, Flag.GREEN)},
            "findings": sum(1 for f in result.findings if f.waived_by is None),
            "waived": sum(1 for f in result.findings if f.waived_by is not None),
            "by_rule": live_counts(result),
        },
        "rules": [
            {"code": text(r.code), "name": text(r.name), "severity": severity(r.severity), "summary": text(r.summary)}
            for r in sorted(result.rules.values(), key=lambda r: text(r.code))
        ],
        "findings": [finding_record(f) for f in ordered(result.findings)],
        "health": health,
    }


def emit(result: AuditResult, out: TextIO) -> None:
    """Write the documented JSON document, ending with a newline."""
    out.write(dumps(document(result), indent=2) + "\n")
