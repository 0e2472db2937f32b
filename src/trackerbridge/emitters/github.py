"""Findings as GitHub Actions workflow commands, so a CI job annotates its run.

One `::error` or `::warning` line per live finding (waived findings are not annotated), then one
`::notice::` summary. Tracker text is escaped as the Actions runner unescapes it: in the message
% -> %25, CR -> %0D, LF -> %0A; in property values also : -> %3A and , -> %2C. Without that, a
newline in a title would start a new line the runner reads as a command of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from trackerbridge.emitters.json import live_counts, ordered, severity, source_names, text
from trackerbridge.health import Flag

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult

COMMANDS = {"error": "error", "warning": "warning"}


def escape_data(value: object) -> str:
    """A command's message: the runner turns %25, %0D and %0A back into %, CR and LF."""
    return text(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: object) -> str:
    """A property value (title=...): additionally : and , which delimit properties."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def emit(result: AuditResult, out: TextIO) -> None:
    """`::error title=TB101 owner-missing::jira-ops OPS-12 <title>: <message> <url>` per live finding."""
    for f in ordered(result.live):
        command = COMMANDS.get(severity(f.severity), "notice")
        record = " ".join(p for p in (text(f.source), text(f.key), text(f.title)) if p)
        data = " ".join(p for p in (f"{record}: {text(f.message)}", text(f.url)) if p)
        title = f"{text(f.code)} {text(f.rule)}"
        out.write(f"::{command} title={escape_property(title)}::{escape_data(data)}\n")
    flags = result.flag_counts()
    live = sum(live_counts(result).values())
    waived = len(result.findings) - len(result.live)
    summary = (
        f"trackerbridge audit: {_plural(len(result.initiatives), 'initiative')} from "
        f"{_plural(len(source_names(result)), 'source')}; "
        + ", ".join(f"{flags.get(flag, 0)} {flag.value}" for flag in (Flag.RED, Flag.AMBER, Flag.GREEN))
        + f"; {_plural(live, 'finding')}, {waived} waived"
    )
    out.write(f"::notice::{escape_data(summary)}\n")
