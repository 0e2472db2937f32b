"""All rules, built-in and from plugins, by stable code. A code claimed twice stops the program.

A rule is found by its code, its name, or a code or name it had before (`Rule.redirects`); `resolve`
says which, so callers can warn about a redirect."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import cast

from trackerbridge.plugins import PluginError, plugin_manager
from trackerbridge.rules.base import CODE_PATTERN, NAME_PATTERN, Rule, Status


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
            _check_lifecycle(rule, where)
            rules[rule.code] = rule
            owners[rule.code] = where
            names[rule.name] = rule.code
    _check_redirects(rules, owners)
    return dict(sorted(rules.items()))


def _check_lifecycle(rule: Rule, where: str) -> None:
    if not isinstance(rule.status, Status):
        raise PluginError(
            f"rule {rule.code} from {where}: status {rule.status!r} is not one of {', '.join(s.value for s in Status)}"
        )
    if rule.replacement is not None and not re.match(CODE_PATTERN, rule.replacement):
        raise PluginError(f"rule {rule.code} from {where}: replacement {rule.replacement!r} is not a code like TB123")
    if rule.url and not re.match(r"^https?://\S+$", rule.url):
        raise PluginError(f"rule {rule.code} from {where}: url {rule.url!r} is not an http(s) URL")


def _check_redirects(rules: Mapping[str, Rule], owners: Mapping[str, str]) -> None:
    """An old code or name may point at one rule only, and never at a code or name a rule holds now."""
    taken = {**{code: code for code in rules}, **{r.name: r.code for r in rules.values()}}
    seen: dict[str, str] = {}
    for rule in rules.values():
        for old in rule.redirects:
            key = _key(old)
            if key in taken:
                raise PluginError(
                    f"rule {rule.code} from {owners[rule.code]} redirects {old!r}, which is "
                    f"rule {taken[key]}'s own code or name"
                )
            if key in seen and seen[key] != rule.code:
                raise PluginError(f"{old!r} redirects to two rules: {seen[key]} and {rule.code}")
            seen[key] = rule.code
    for rule in rules.values():
        if rule.replacement is not None and rule.replacement not in rules:
            raise PluginError(
                f"rule {rule.code} from {owners[rule.code]} names replacement {rule.replacement}, "
                "which no plugin registers"
            )


def _key(ref: str) -> str:
    """Codes compare upper case, names lower case."""
    return ref.upper() if re.match(CODE_PATTERN, ref.upper()) else ref.lower()


def redirects(rules: Mapping[str, Rule]) -> dict[str, str]:
    """Every earlier code or name -> the code of the rule that carries it now."""
    return {_key(old): r.code for r in rules.values() for old in r.redirects}


def resolve(rules: Mapping[str, Rule], ref: str) -> tuple[Rule | None, str | None]:
    """The rule `ref` means (code, name, or an earlier code or name), and the old spelling when it was redirected."""
    upper = ref.upper()
    found = rules.get(upper) or next((r for r in rules.values() if r.name == ref.lower()), None)
    if found is not None:
        return found, None
    target = redirects(rules).get(_key(ref))
    return (rules[target], ref) if target is not None else (None, None)


def find_rule(rules: dict[str, Rule], ref: str) -> Rule | None:
    """By code (TB105, tb105), by name (past-end-date), or by a code or name it had before."""
    return resolve(rules, ref)[0]
