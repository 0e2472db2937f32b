"""The demo's sections after the audit (slips, health roll-up, conflict review, the weekly page per team) as text
fitted to the terminal: every item one line at any width (cells narrow in a fixed order and are cut with an
ellipsis, as the audit table's are, `emitters.table.fit`), prose wrapped, record keys as hyperlinks on a terminal.
Pure: the caller gives the width, whether it is a terminal, and where the team pages were written.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from trackerbridge.emitters.table import clean, fit, grid

if TYPE_CHECKING:
    from trackerbridge.report.model import Report
    from trackerbridge.report.team import TeamPage

INDENT = 2


def prose(text: str, width: int) -> str:
    """A heading wrapped to `width`; continuation lines indented. Words (paths, commands) are never split."""
    lines = textwrap.wrap(text, width, subsequent_indent=" " * INDENT, break_long_words=False, break_on_hyphens=False)
    return "".join(f"{line}\n" for line in lines)


_SLIP_COLUMNS = ("key", "base", "end", "days", "moved", "reason")
_SLIP_NARROWING: tuple[tuple[str, str, int], ...] = (
    ("shrink", "reason", 40),
    ("short", "moved", 0),  # "moved 2 times" -> "2 moves"
    ("short", "days", 0),  # "+52 days" -> "+52d"
    ("shrink", "reason", 24),
    ("drop", "base", 0),  # the end date and the slip stay; the baseline is in the report and the JSON
    ("shrink", "reason", 1),
)


def slips(report: Report, width: int, color: bool = False) -> str:
    from trackerbridge.report import slips as section

    out = "\n" + prose("Slips: " + section.lede(report), width)
    found = section.table_rows(report)
    if not found:
        return out
    days_width = max(len(days) for _, _, _, days, _, _ in found)
    rows, short, links = [], [], []
    for ref, base, end, days, moved, reason in found:
        rows.append(
            {
                "key": clean(ref.key),
                "base": f"{base} ->",
                "end": end,
                "days": f"{days:>{days_width}} days",
                "moved": f"moved {moved}",
                "reason": clean(reason),
            }
        )
        times = {"once": "1 move", "—": "-"}.get(moved, moved.replace(" times", " moves"))
        short.append({"moved": times, "days": f"{days:>{days_width}}d"})
        links.append({"key": ref.url})
    layout = fit(rows, _SLIP_COLUMNS, width - INDENT, _SLIP_NARROWING, short=short)
    return out + grid(rows, _SLIP_COLUMNS, layout, short=short, links=links, color=color, indent=INDENT, link_ids="tbs")


def rollups(found: Sequence[tuple[str, list[str]]], width: int) -> str:
    out = "\n" + prose(
        f"Health roll-up: {len(found)} records take a child's verdict "
        "(a closed-won deal is as healthy as its major delivery epic):",
        width,
    )
    if not found:
        return out
    rows = [{"key": clean(key), "reasons": clean("; ".join(reasons))} for key, reasons in found]
    layout = fit(rows, ("key", "reasons"), width - INDENT, (("shrink", "reasons", 1),))
    return out + grid(rows, ("key", "reasons"), layout, indent=INDENT)


def conflicts_heading(planted: int, width: int) -> str:
    return "\n" + prose(
        f"Conflict review: after a first sync, people changed {planted} synced fields on both sides differently; "
        "`trackerbridge conflicts` lists them and `conflicts resolve` settles one:",
        width,
    )


def team_headline(page: TeamPage) -> tuple[str, str]:
    """What the weekly review opens with: what is off track (how much of it red) and the decisions pending;
    and the same in fewer characters."""
    red = sum(o.flag == "red" for o in page.off_track)
    off, pending = len(page.off_track), len(page.decisions)
    return (
        f"{off} off track ({red} red), {pending} decision{'s' if pending != 1 else ''} pending",
        f"{off} off ({red} red), {pending} pending",
    )


_TEAM_COLUMNS = ("team", "headline", "file")
_TEAM_NARROWING: tuple[tuple[str, str, int], ...] = (
    ("shrink", "team", 16),
    ("short", "headline", 0),
    ("shrink", "team", 10),
    ("shrink", "headline", 1),
)


def team_pages(pages: Sequence[TeamPage], files: Sequence[str], directory: str, width: int) -> str:
    """One line per team: its scorecard headline and its page (`files`: the HTML page's name in `directory`)."""
    out = "\n" + prose(
        f"Weekly page per team: {len(pages)} teams, each as HTML, Markdown, JSON and CSV "
        f"(`trackerbridge report --by team --output DIR`), written to {directory}",
        width,
    )
    rows, short = [], []
    for page, name in zip(pages, files, strict=True):
        full, brief = team_headline(page)
        rows.append({"team": clean(page.team), "headline": full, "file": name})
        short.append({"headline": brief})
    if not rows:
        return out
    layout = fit(rows, _TEAM_COLUMNS, width - INDENT, _TEAM_NARROWING, short=short)
    return out + grid(rows, _TEAM_COLUMNS, layout, short=short, indent=INDENT)
