"""The built-in report formats, registered like any plugin's."""

from __future__ import annotations

from trackerbridge.plugins import hookimpl
from trackerbridge.report import Renderer


@hookimpl
def trackerbridge_report_formats() -> dict[str, Renderer]:
    from trackerbridge.report import csv, html, json, markdown, table

    return {
        "html": html.render,
        "markdown": markdown.render,
        "json": json.render,
        "csv": csv.render,
        "table": table.render,
    }
