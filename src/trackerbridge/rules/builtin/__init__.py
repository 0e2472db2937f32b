"""The built-in rules, one per module, registered through the same hook as any plugin's.

Each module defines `RULE`. Codes are stable and never reused: a retired rule's code stays retired.
"""

from __future__ import annotations

import importlib
import pkgutil

from trackerbridge.plugins import hookimpl
from trackerbridge.rules.base import Rule


@hookimpl
def trackerbridge_rules() -> list[Rule]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("tb"):
            found.append(importlib.import_module(f"{__name__}.{info.name}").RULE)
    return found
