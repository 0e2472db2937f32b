"""The initiative-sprawl report: what an operations lead mails to leadership every month.

`model` builds a `Report` from an audit and past runs' metrics (pure); one module per format renders it
to a text stream (`render(report, out)`), never reading trackers, the state store or the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from trackerbridge.report.model import Report

Renderer = Callable[["Report", TextIO], None]

SUFFIXES = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".csv": "csv",
    ".txt": "table",
}


def renderers() -> dict[str, Renderer]:
    """Every report format by the name `--format` takes: the built-ins and plugins' (hook
    `trackerbridge_report_formats`)."""
    from trackerbridge.plugins import merged

    return merged("trackerbridge_report_formats", "report format")
