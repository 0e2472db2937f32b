"""Findings as JSON Lines: one object per line, for log pipelines and `jq -c`.

Each line is exactly the finding object of the JSON document (see trackerbridge.emitters.json), live
and waived alike (`waived_by` tells them apart), in the same order. Nothing else is written, so a
consumer never has to tell a summary line from a finding; an audit without findings is empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from trackerbridge.emitters.json import dumps, finding_record, ordered

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult


def emit(result: AuditResult, out: TextIO) -> None:
    """One compact JSON object per finding, each ending with "\\n" (never inside one: newlines are escaped)."""
    for f in ordered(result.findings):
        out.write(dumps(finding_record(f)) + "\n")
