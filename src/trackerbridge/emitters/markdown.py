"""The audit as GitHub-flavoured Markdown, for wikis and pull-request comments.

A health summary table, the live findings worst first with each record linked (`[OPS-12](url)`), the
counts per rule, and the waived findings with their waivers. Tracker text is untrusted: it is put on
one line and escaped so a title cannot end a table cell (|), open HTML (<, >, &), start emphasis,
code or a link (*, _, ~, `, [, ]), or swallow an escape (\\). Links are made only to http(s) URLs,
with characters that would end the link or the cell percent-encoded.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote

from trackerbridge.emitters.json import by_count, live_counts, severity, source_names, text, worst_first
from trackerbridge.health import Flag

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult
    from trackerbridge.rules.base import Finding

FLAG_ORDER = (Flag.RED, Flag.AMBER, Flag.GREEN)
FLAG_ICONS = {Flag.RED: "🔴", Flag.AMBER: "🟠", Flag.GREEN: "🟢"}
_ESCAPES = {
    "\\": "\\\\",
    "|": "\\|",
    "*": "\\*",
    "_": "\\_",
    "~": "\\~",
    "`": "\\`",
    "[": "\\[",
    "]": "\\]",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
    "@": "&#64;",  # no @team mentions from a tracker title in a PR comment
    "#": "&#35;",  # no #123 cross-references either
}
# Anything that ends a line, other control characters, and bidi overrides (which could make a row
# read differently from what it says) become a space.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
# RFC 3986 characters allowed raw in a link destination; ( ) | \ < > and spaces are encoded.
_URL_SAFE = ":/?#[]@!$'*+,;=-._~%"


def cell(value: object) -> str:
    """Tracker text as inline Markdown that renders literally and stays inside its table cell."""
    return "".join(_ESCAPES.get(c, c) for c in _BREAKS.sub(" ", text(value)).strip())


def link(label: object, url: object) -> str:
    """`[label](url)` for an http(s) URL; the bare escaped label for anything else (javascript:, empty)."""
    target = text(url).strip()
    if not re.match(r"https?://", target, re.IGNORECASE):
        return cell(label)
    # & is kept as an entity because CommonMark decodes entities inside link destinations.
    return f"[{cell(label)}]({quote(target, safe=_URL_SAFE + '&').replace('&', '&amp;')})"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def emit(result: AuditResult, out: TextIO) -> None:
    """Summary, findings, counts per rule, waived findings; sections without content are left out."""
    flags = result.flag_counts()
    live = worst_first(result, result.live)
    waived = worst_first(result, (f for f in result.findings if f.waived_by is not None))
    lines = [
        "## trackerbridge audit",
        "",
        f"{_plural(len(result.initiatives), 'initiative')} from {_plural(len(source_names(result)), 'source')}, "
        f"{_plural(len(live), 'finding')} ({len(waived)} waived), as of {result.now.isoformat()}.",
        "",
        *_table(
            ["Health", "Initiatives"],
            ["---", "---:"],
            [[f"{FLAG_ICONS[flag]} {flag.value}", str(flags.get(flag, 0))] for flag in FLAG_ORDER],
        ),
    ]
    if live:
        lines += ["", "### Findings", ""]
        lines += _table(
            ["Severity", "Code", "Rule", "Source", "Record", "Title", "Message"],
            ["---"] * 7,
            [[*_row(f), cell(f.message)] for f in live],
        )
        names = {code: rule.name for code, rule in result.rules.items()}
        names.update({f.code: f.rule for f in result.live if f.code not in names})
        lines += ["", "### By rule", ""]
        lines += _table(
            ["Code", "Rule", "Findings"],
            ["---", "---", "---:"],
            [[cell(code), cell(names.get(code)), str(n)] for code, n in by_count(live_counts(result))],
        )
    if waived:
        lines += ["", "### Waived", ""]
        lines += _table(
            ["Severity", "Code", "Rule", "Source", "Record", "Title", "Waived by"],
            ["---"] * 7,
            [[*_row(f), cell(f.waived_by)] for f in waived],
        )
    out.write("\n".join(lines) + "\n")


def _row(f: Finding) -> list[str]:
    return [cell(severity(f.severity)), cell(f.code), cell(f.rule), cell(f.source), link(f.key, f.url), cell(f.title)]
