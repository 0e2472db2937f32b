"""Audit output formats, one emitter per module, registered through the plugin hook like ruff's.

An emitter writes an `AuditResult` to a text stream; it never reads trackers or the clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult

Emitter = Callable[["AuditResult", TextIO], None]
