"""The audit as a rich table, for a person at a terminal.

A headline (how many records, initiatives and active initiatives from how many sources, and how
many records are red, amber, green: each count coloured and labelled in words, so colour is never
the only signal), the live findings worst first, one line each at any width (columns narrow in a
fixed order, see NARROWING), how many waived findings were left out, and the counts per rule.

Tracker text goes in as rich `Text`, never markup, so "[bold]" in a title is shown, not obeyed; and
control characters (ESC starts terminal escape sequences) and bidi overrides are replaced before
they reach the terminal. Without colour no escape codes are written at all, and the width is fixed
unless the output is a terminal, so the same audit prints the same bytes.
"""

from __future__ import annotations

import io
import os
import re
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group
from rich.style import Style
from rich.table import Table
from rich.text import Text

from trackerbridge.emitters.json import by_count, live_counts, severity, source_names, text, worst_first
from trackerbridge.health import Flag

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult
    from trackerbridge.rules.base import Finding

DEFAULT_WIDTH = 120  # when the output is not a terminal
TITLE_CHARS = 40
MESSAGE_CHARS = 300  # the full text is in the JSON; a terminal gets a few lines at most
FLAG_STYLES = {Flag.RED: "bold red", Flag.AMBER: "bold yellow", Flag.GREEN: "bold green"}
SEVERITY_STYLES = {"error": "red", "warning": "yellow"}
# C0/C1 controls (ESC, CR, ...), line separators, and the bidi embeddings, overrides and isolates
# that would let a title reorder the rest of its row. Plain right-to-left letters are kept.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_LINK_ID = re.compile("\x1b\\]8;id=[^;\x1b]*;([^\x1b]*)\x1b\\\\")
_URL_SAFE = ":/?#[]@!$&'()*+,;=-._~%"


def clean(value: object) -> str:
    """Tracker text made safe to print: one line, no escape sequences."""
    return _UNSAFE.sub(" ", text(value)).strip()


def shorten(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _link(url: object) -> str | None:
    """An http(s) URL, percent-encoded to printable ASCII so it cannot end the terminal's link sequence."""
    target = quote(text(url).strip(), safe=_URL_SAFE)
    return target if re.fullmatch(r"https?://[\x21-\x7e]+", target, re.IGNORECASE) else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _headline(result: AuditResult, color: bool) -> Text:
    from trackerbridge.report.model import population, population_text

    flags = result.flag_counts()
    line = Text(
        f"{population_text(*population(result))} from {_plural(len(source_names(result)), 'source')}\n"
        f"Health of the {_plural(len(result.initiatives), 'record')}: "
    )
    for n, flag in enumerate((Flag.RED, Flag.AMBER, Flag.GREEN)):
        if n:
            line.append(", ")
        line.append(f"{flags.get(flag, 0)} {flag.value}", style=FLAG_STYLES[flag] if color else "")
    return line


# The findings table at any width: one line per finding. Columns start at their content's width (capped), then
# shrink, shorten or go, in this fixed order, until the row fits; the message takes what is left. Every cell is
# cut with an ellipsis, never wrapped.
COLUMNS = ("severity", "code", "record", "owner", "title", "message")
CAPS = {"record": 24, "owner": 20, "title": TITLE_CHARS}
SHORT_SEVERITY = {"error": "err", "warning": "warn"}
NO_OWNER = "-"
GAP = 2  # between columns: a cell's right padding and the box's blank divider
NARROWING: tuple[tuple[str, str, int], ...] = (
    ("shrink", "message", 40),
    ("shrink", "title", 24),
    ("shrink", "owner", 16),
    ("short", "severity", 4),
    ("shrink", "record", 10),  # Jira keys fit; an 18-character Salesforce Id keeps its start
    ("shrink", "title", 14),
    ("shrink", "owner", 12),
    ("shrink", "message", 26),
    ("shrink", "title", 10),
    ("shrink", "owner", 10),
    ("drop", "title", 0),
    ("drop", "owner", 0),
    ("drop", "severity", 0),
    ("shrink", "message", 1),
)


def layout(rows: list[dict[str, str]], width: int) -> tuple[dict[str, int], bool]:
    """Column widths (absent = dropped) that fit `width` with GAP blanks between columns, and whether the
    severity is shortened (err, warn)."""
    natural = {c: max([cell_len(c), *(cell_len(r[c]) for r in rows)]) for c in COLUMNS}
    widths = {c: min(natural[c], CAPS.get(c, natural[c])) for c in COLUMNS}
    short = False

    def total() -> int:
        return sum(widths.values()) + GAP * (len(widths) - 1)

    for action, column, floor in NARROWING:
        excess = total() - width
        if excess <= 0:
            break
        if action == "shrink":
            widths[column] = max(floor, widths[column] - excess)
        elif action == "short":
            short = True
            widths[column] = min(widths[column], floor)
        else:
            del widths[column]
    return widths, short


def _findings(live: list[Finding], owners: dict[str, str], color: bool, width: int) -> Table:
    rows = [
        {
            "severity": clean(severity(f.severity)),
            "code": clean(f.code),
            "record": clean(f.key),
            "owner": clean(owners.get(f.ref)) or NO_OWNER,
            "title": clean(f.title),
            "message": clean(f.message),
        }
        for f in live
    ]
    widths, short = layout(rows, width)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for column in COLUMNS:
        if column in widths:
            header = "sev" if column == "severity" and short else column
            table.add_column(header, no_wrap=True, overflow="ellipsis", width=widths[column])
    for f, row in zip(live, rows, strict=True):
        cells: list[Text] = []
        for column in COLUMNS:
            if column not in widths:
                continue
            value = row[column]
            if column == "severity":
                style = SEVERITY_STYLES.get(value, "") if color else ""
                cells.append(Text(SHORT_SEVERITY.get(value, value) if short else value, style=style))
            elif column == "record":
                record = Text(value)
                url = _link(f.url) if color else None
                if url:
                    record.stylize(Style(link=url))
                cells.append(record)
            else:
                cells.append(Text(shorten(value, max(widths[column], 1) * 2 + MESSAGE_CHARS)))
        table.add_row(*cells)
    return table


def _per_rule(result: AuditResult) -> Table:
    names = {code: rule.name for code, rule in result.rules.items()}
    names.update({f.code: f.rule for f in result.live if f.code not in names})
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("code", no_wrap=True)
    table.add_column("rule")
    table.add_column("count", justify="right", no_wrap=True)
    for code, n in by_count(live_counts(result)):
        table.add_row(Text(clean(code)), Text(clean(names.get(code))), Text(str(n)))
    return table


def emit_table(result: AuditResult, out: TextIO, *, color: bool, width: int | None = None) -> None:
    """Render for a terminal; with color=False plain text only. width=None: the terminal's, else 120."""
    if width is None and not _isatty(out):
        width = DEFAULT_WIDTH
    live = worst_first(result, result.live)
    waived = len(result.findings) - len(result.live)
    parts: list[Text | Table] = [_headline(result, color), Text()]
    if live:
        owners = {i.ref: i.owner.label for i in result.initiatives if i.owner is not None}
        parts.append(_findings(live, owners, color, width or _terminal_width()))
    else:
        parts.append(Text("No findings."))
    if waived:
        parts.append(Text(f"{waived} waived (not shown)"))
    if live:
        parts += [Text(), Text("Findings per rule"), _per_rule(result)]
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        force_interactive=False,
        force_jupyter=False,
        color_system="standard" if color else None,
        no_color=not color,
        markup=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
    )
    console.print(Group(*parts))
    rendered = buffer.getvalue()
    if not color:  # rich pads every cell; trailing blanks only get in the way when pasted
        rendered = "\n".join(line.rstrip(" ") for line in rendered.split("\n"))
    out.write(_stable_links(rendered))


def _stable_links(rendered: str, prefix: str = "tb") -> str:
    """rich gives each hyperlink a random id; number them by URL instead, so output repeats exactly."""
    ids: dict[str, int] = {}

    def renumber(m: re.Match[str]) -> str:
        url = m.group(1)
        if not url:
            return m.group(0)
        number = ids.setdefault(url, len(ids) + 1)
        return f"\x1b]8;id={prefix}{number};{url}\x1b\\"

    return _LINK_ID.sub(renumber, rendered)


def _terminal_width() -> int:
    return Console(force_terminal=True).size.width


def _isatty(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


def emit(result: AuditResult, out: TextIO) -> None:
    """The registered emitter: colour only on a terminal that has not asked for none (NO_COLOR)."""
    emit_table(result, out, color=_isatty(out) and not os.environ.get("NO_COLOR"))


# The same one-line-per-item discipline for the other tables a person reads at a terminal (the demo's sections,
# `conflicts`): each caller names its columns, a fixed narrowing order and, per cell, an optional short form.
# A step names a column or a group of columns (`groups`: column -> group), so both sides of a pair narrow together.
def fit(
    rows: list[dict[str, str]],
    columns: tuple[str, ...],
    width: int,
    narrowing: tuple[tuple[str, str, int], ...],
    *,
    headers: dict[str, str] | None = None,
    short: list[dict[str, str]] | None = None,
    groups: dict[str, str] | None = None,
    caps: dict[str, int] | None = None,
) -> tuple[dict[str, int], set[str]]:
    """Column widths (absent = dropped) that fit `width`, and the columns shown in their short form."""
    heads = headers or {}
    short_rows = short or [{} for _ in rows]
    group = groups or {}
    limits = caps or {}

    def natural(column: str, shortened: bool) -> int:
        cells = [(s.get(column, r[column]) if shortened else r[column]) for r, s in zip(rows, short_rows, strict=True)]
        return max([cell_len(heads.get(column, column)), *(cell_len(c) for c in cells)])

    widths = {c: min(natural(c, False), limits.get(c, natural(c, False))) for c in columns}
    shortened: set[str] = set()

    def total() -> int:
        return sum(widths.values()) + GAP * (len(widths) - 1)

    for action, name, floor in narrowing:
        members = [c for c in columns if c in widths and name in (c, group.get(c))]
        if total() <= width:
            break
        if action == "shrink":  # one column at a time, never wider than it was
            for column in members:
                excess = total() - width
                if excess > 0:
                    widths[column] = min(widths[column], max(floor, widths[column] - excess))
        elif action == "short":  # a group goes short, or goes, together: both sides of a pair read alike
            for column in members:
                shortened.add(column)
                widths[column] = min(widths[column], natural(column, True))
        else:
            for column in members:
                del widths[column]
    return widths, shortened


def grid(
    rows: list[dict[str, str]],
    columns: tuple[str, ...],
    layout: tuple[dict[str, int], set[str]],
    *,
    headers: dict[str, str] | None = None,
    short: list[dict[str, str]] | None = None,
    links: list[dict[str, str]] | None = None,
    color: bool = False,
    indent: int = 0,
    link_ids: str = "tbg",
) -> str:
    """Render rows laid out by `fit`: one line each, cells cut with an ellipsis; with headers, a header and a rule.
    With color (a terminal), the cells named in `links` become OSC-8 hyperlinks to those http(s) URLs."""
    widths, shortened = layout
    short_rows = short or [{} for _ in rows]
    link_rows = links or [{} for _ in rows]
    shown = [c for c in columns if c in widths]
    table = Table(
        box=box.SIMPLE_HEAD,
        show_header=headers is not None,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for column in shown:
        header = (headers or {}).get(column, column)
        table.add_column(header, no_wrap=True, overflow="ellipsis", width=widths[column])
    for row, short_row, link_row in zip(rows, short_rows, link_rows, strict=True):
        cells = []
        for column in shown:
            value = short_row.get(column, row[column]) if column in shortened else row[column]
            cell = Text(shorten(value, max(widths[column], 1) * 2 + MESSAGE_CHARS))
            url = _link(link_row[column]) if color and column in link_row else None
            if url:
                cell.stylize(Style(link=url))
            cells.append(cell)
        table.add_row(*cells)
    buffer = io.StringIO()
    Console(
        file=buffer,
        width=sum(widths.values()) + GAP * max(len(widths) - 1, 0) + 1,
        force_terminal=color,
        force_interactive=False,
        force_jupyter=False,
        color_system="standard" if color else None,
        no_color=not color,
        markup=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
    ).print(table)
    pad = " " * indent
    lines = [pad + line.rstrip(" ") for line in buffer.getvalue().split("\n")[:-1]]
    return _stable_links("".join(f"{line}\n" for line in lines), link_ids)


def output_width(out: TextIO) -> int:
    """The width everything a person reads is fitted to: the terminal's, else DEFAULT_WIDTH (stable bytes)."""
    return _terminal_width() if _isatty(out) else DEFAULT_WIDTH
