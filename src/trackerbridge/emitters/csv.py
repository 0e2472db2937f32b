"""Findings as CSV (RFC 4180), for spreadsheets.

Every field is quoted and rows end with CRLF, as RFC 4180 describes; open the output file with
newline="" or Windows doubles the CR. Live and waived findings both appear, waived ones with
`waived_by` filled, in the JSON document's order.

Tracker text ends up in a spreadsheet, so a title like `=HYPERLINK(...)` must not become a formula:
following OWASP's CSV-injection guidance, a cell starting with =, +, -, @, tab or carriage return
gets a leading apostrophe, which spreadsheets read as "this is text". Quoting every field also keeps
a spreadsheet that splits on ";" from starting a new cell inside a title.

A NUL in tracker text becomes U+FFFD: Python 3.10's csv module refuses to write one ("need to
escape") while 3.11+ writes it raw, and no spreadsheet shows it; the replacement keeps the output
the same on every supported Python.
"""

from __future__ import annotations

import csv as _csv
from typing import TYPE_CHECKING, TextIO

from trackerbridge.emitters.json import finding_record, ordered

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult

COLUMNS = ("id", "code", "rule", "severity", "source", "key", "title", "message", "url", "waived_by")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """A field a spreadsheet shows as text, never evaluates."""
    s = "" if value is None else str(value).replace("\x00", "\ufffd")
    return "'" + s if s.startswith(FORMULA_STARTS) else s


def emit(result: AuditResult, out: TextIO) -> None:
    """A header row, then one row per finding."""
    writer = _csv.writer(out, quoting=_csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for f in ordered(result.findings):
        record = finding_record(f)
        writer.writerow([cell(record[column]) for column in COLUMNS])
