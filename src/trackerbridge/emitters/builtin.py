"""The built-in audit formats."""

from __future__ import annotations

from trackerbridge.emitters import Emitter
from trackerbridge.plugins import hookimpl


@hookimpl
def trackerbridge_audit_formats() -> dict[str, Emitter]:
    from trackerbridge.emitters import csv, github, json, jsonl, markdown, sarif, table

    return {
        "table": table.emit,
        "json": json.emit,
        "jsonl": jsonl.emit,
        "csv": csv.emit,
        "markdown": markdown.emit,
        "github": github.emit,
        "sarif": sarif.emit,
    }
