"""The audit as a rich table, for a person at a terminal.

A headline (how many initiatives from how many sources, and how many are red, amber, green: each
count coloured and labelled in words, so colour is never the only signal), the live findings worst
first, how many waived findings were left out, and the counts per rule.

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
from rich.console import Console, Group
from rich.style import Style
from rich.table import Table
from rich.text import Text

from trackerbridge.emitters.json import by_count, live_counts, severity, source_names, text, worst_first
from trackerbridge.health import Flag

if TYPE_CHECKING:
    from trackerbridge.audit import AuditResult
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
    flags = result.flag_counts()
    line = Text(
        f"{_plural(len(result.initiatives), 'initiative')} from {_plural(len(source_names(result)), 'source')}: "
    )
    for n, flag in enumerate((Flag.RED, Flag.AMBER, Flag.GREEN)):
        if n:
            line.append(", ")
        line.append(f"{flags.get(flag, 0)} {flag.value}", style=FLAG_STYLES[flag] if color else "")
    return line


def _findings(live: list[Finding], color: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("severity", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("record", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=TITLE_CHARS)
    table.add_column("message", overflow="fold", ratio=1)
    for f in live:
        sev = severity(f.severity)
        record = Text(clean(f.key))
        url = _link(f.url) if color else None
        if url:
            record.stylize(Style(link=url))
        table.add_row(
            Text(clean(sev), style=SEVERITY_STYLES.get(sev, "") if color else ""),
            Text(clean(f.code)),
            record,
            Text(shorten(clean(f.title), TITLE_CHARS)),
            Text(shorten(clean(f.message), MESSAGE_CHARS)),
        )
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
        parts.append(_findings(live, color))
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


def _stable_links(rendered: str) -> str:
    """rich gives each hyperlink a random id; number them by URL instead, so output repeats exactly."""
    ids: dict[str, int] = {}

    def renumber(m: re.Match[str]) -> str:
        url = m.group(1)
        if not url:
            return m.group(0)
        number = ids.setdefault(url, len(ids) + 1)
        return f"\x1b]8;id=tb{number};{url}\x1b\\"

    return _LINK_ID.sub(renumber, rendered)


def _isatty(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


def emit(result: AuditResult, out: TextIO) -> None:
    """The registered emitter: colour only on a terminal that has not asked for none (NO_COLOR)."""
    emit_table(result, out, color=_isatty(out) and not os.environ.get("NO_COLOR"))
