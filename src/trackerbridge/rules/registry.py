"""All rules, built-in and from plugins, by stable code. A code claimed twice stops the program."""

from __future__ import annotations

import re
from typing import cast

from trackerbridge.plugins import PluginError, plugin_manager
from trackerbridge.rules.base import CODE_PATTERN, NAME_PATTERN, Rule


def load_rules() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    owners: dict[str, str] = {}
    names: dict[str, str] = {}
    for impl in plugin_manager().hook.trackerbridge_rules.get_hookimpls():
        for rule in cast("list[Rule]", impl.function()):
            where = impl.plugin_name
            if not re.match(CODE_PATTERN, rule.code):
                raise PluginError(f"rule code {rule.code!r} from {where} is not of the form TB123")
            if not re.match(NAME_PATTERN, rule.name):
                raise PluginError(f"rule name {rule.name!r} from {where} is not kebab-case")
            if rule.code in rules:
                first, second = sorted((owners[rule.code], where))
                raise PluginError(f"rule code {rule.code} is registered twice: by {first} and by {second}")
            if rule.name in names:
                raise PluginError(f"rule name {rule.name!r} is registered twice: by {rule.code} and {names[rule.name]}")
            rules[rule.code] = rule
            owners[rule.code] = where
            names[rule.name] = rule.code
    return dict(sorted(rules.items()))


def find_rule(rules: dict[str, Rule], ref: str) -> Rule | None:
    """By code (TB105, tb105) or by name (past-end-date)."""
    upper = ref.upper()
    return rules.get(upper) or next((r for r in rules.values() if r.name == ref.lower()), None)
