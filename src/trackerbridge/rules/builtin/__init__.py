"""The built-in rules, one per module, registered through the same hook as any plugin's.

Each module defines `RULE`. Codes are stable and never reused: a retired rule's code stays retired
(status `removed`, naming its replacement), a renamed one lists its old code in `redirects`.
Each built-in's documentation is its section of docs/rules.md (`rules.base.DOCS`), generated from the rules
themselves by `python -m trackerbridge.rules.docs`.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import replace

from trackerbridge.plugins import hookimpl
from trackerbridge.rules.base import Rule, doc_url


@hookimpl
def trackerbridge_rules() -> list[Rule]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("tb"):
            rule = importlib.import_module(f"{__name__}.{info.name}").RULE
            found.append(rule if rule.url else replace(rule, url=doc_url(rule)))
    return found
