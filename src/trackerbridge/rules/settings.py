"""Turning `trackerbridge.yaml`'s rules section into engine settings, checked against the registry.

Codes and parameter names are only known once plugins load, so they are checked here, with
errors that point at the line of the project file like every other config error. A rule may be
named by code or by name everywhere (`select`, `ignore`, `severity`, `params`, `scope`); an earlier
code or name of a renamed rule works and warns (`RuleWarning`); naming a removed rule is an error
that names its replacement; a deprecated rule that will run warns."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

from trackerbridge.config.errors import ConfigError, ConfigErrors, did_you_mean
from trackerbridge.config.project import Project
from trackerbridge.health import Flag, HealthPolicy, Rollup
from trackerbridge.rules.base import Rule, RuleWarning, Severity, Status
from trackerbridge.rules.engine import RuleSettings, Selection, active_rules
from trackerbridge.rules.registry import redirects, resolve


def rule_settings(project: Project, rules: Mapping[str, Rule]) -> RuleSettings:
    cfg = project.config.rules
    errors: list[ConfigError] = []

    def at(path: tuple[object, ...], message: str, hint: str | None = None) -> None:
        if ("project", "trackerbridge") in project.sources:
            errors.append(project.where("project", "trackerbridge", path).error(message, hint))
        else:
            errors.append(ConfigError(message, hint=hint))

    def exact(value: str, path: tuple[object, ...], *, configures: bool = True) -> Rule | None:
        """The rule `value` names by code or name (or an earlier one: warned); a removed one is an error
        where it would be configured or selected."""
        rule, old = resolve(rules, value)
        if rule is None:
            return None
        if old is not None:
            warnings.warn(
                RuleWarning(f"{old!r} is now {rule.code} ({rule.name}): write {rule.code} in trackerbridge.yaml"),
                stacklevel=3,
            )
        if rule.status is Status.REMOVED and configures:
            instead = (
                f"use {rule.replacement} ({rules[rule.replacement].name}) instead"
                if rule.replacement
                else "remove it from trackerbridge.yaml"
            )
            at(path, f"{rule.code} ({rule.name}) was removed", instead)
        return rule

    def selectors(values: list[str], path: tuple[object, ...]) -> tuple[str, ...]:
        out = []
        for n, value in enumerate(values):
            rule = exact(value, (*path, n), configures=path[-1] != "ignore")
            if rule is not None:
                out.append(rule.code)
            elif any(code.startswith(value.upper()) for code in rules):
                out.append(value.upper())
            else:
                at((*path, n), f"{value!r} matches no rule", _hint(value, rules))
        return tuple(out)

    def code(value: str, path: tuple[object, ...]) -> str | None:
        rule = exact(value, path)
        if rule is not None:
            return rule.code
        at(path, f"no rule {value!r}", _hint(value, rules))
        return None

    selection = Selection(selectors(cfg.select, ("rules", "select")), selectors(cfg.ignore, ("rules", "ignore")))
    severity = {}
    for name, level in cfg.severity.items():
        found = code(name, ("rules", "severity", name))
        if found:
            severity[found] = Severity(level)
    params: dict[str, dict[str, object]] = {}
    for name, values in cfg.params.items():
        found = code(name, ("rules", "params", name))
        if not found:
            continue
        rule = rules[found]
        params[found] = {}
        for key, value in values.items():
            path = ("rules", "params", name, key)
            if key not in rule.params:
                known = ", ".join(rule.params) or "none"
                suggestion = did_you_mean(key, list(rule.params))
                at(
                    path,
                    f"{found} has no parameter {key!r}",
                    f"did you mean {suggestion!r}?" if suggestion else f"its parameters: {known}",
                )
                continue
            try:
                params[found][key] = rule.params[key].coerce(value)
            except ValueError as exc:
                at(path, f"{found}.{key}: {exc}", f"default: {rule.params[key].default!r}")
    scope = {}
    for connector, sel in cfg.scope.items():
        if connector not in project.connectors:
            suggestion = did_you_mean(connector, list(project.connectors))
            at(
                ("rules", "scope", connector),
                f"no connector {connector!r}",
                f"did you mean {suggestion!r}?" if suggestion else None,
            )
            continue
        base = ("rules", "scope", connector)
        scope[connector] = Selection(selectors(sel.select, (*base, "select")), selectors(sel.ignore, (*base, "ignore")))
    if errors:
        raise ConfigErrors(errors)
    settings = RuleSettings(
        selection,
        severity,
        params,
        scope,
        project.config.waivers.label_prefix,
        preview=cfg.preview,
        redirects=redirects(rules),
    )
    for rule in active_rules(rules, settings):
        if rule.status is Status.DEPRECATED:
            instead = f"; use {rule.replacement} ({rules[rule.replacement].name}) instead" if rule.replacement else ""
            warnings.warn(
                RuleWarning(
                    f"{rule.code} ({rule.name}) is deprecated and will be removed{instead}; "
                    "ignore it in trackerbridge.yaml to silence this"
                ),
                stacklevel=2,
            )
    return settings


def health_policy(project: Project) -> HealthPolicy:
    cfg = project.config.health
    rollup = tuple(
        Rollup(
            Flag(r.when),
            Flag(r.then),
            r.size,
            r.via,
            r.attribute,
            frozenset(r.systems),
            frozenset(s.value for s in r.stages),
        )
        for r in cfg.rollup
    )
    return HealthPolicy(red=frozenset(map(Severity, cfg.red)), amber=frozenset(map(Severity, cfg.amber)), rollup=rollup)


def _hint(value: str, rules: Mapping[str, Rule]) -> str | None:
    suggestion = did_you_mean(value.upper(), list(rules)) or did_you_mean(value, [r.name for r in rules.values()])
    return f"did you mean {suggestion!r}?" if suggestion else "see `trackerbridge rules`"


def command_line_rules(
    project: Project,
    rules: Mapping[str, Rule],
    *,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    preview: bool = False,
) -> Project:
    """The project as if trackerbridge.yaml said `--select` (instead of rules.select), `--ignore` (added to
    rules.ignore) and `--preview`. Values are codes, prefixes or names, comma-separated or repeated; an
    unknown or removed one is a ConfigError naming the option, a redirected one warns and means the new code.
    The project itself is not changed."""
    import copy

    errors: list[ConfigError] = []

    def codes(values: Sequence[str], option: str) -> list[str]:
        out = []
        for value in (v.strip() for chunk in values for v in chunk.split(",")):
            if not value:
                continue
            rule, old = resolve(rules, value)
            if rule is None:
                if any(code.startswith(value.upper()) for code in rules):
                    out.append(value.upper())
                else:
                    errors.append(ConfigError(f"{option}: {value!r} matches no rule", hint=_hint(value, rules)))
                continue
            if old is not None:
                warnings.warn(RuleWarning(f"{old!r} is now {rule.code} ({rule.name}): write {rule.code}"), stacklevel=3)
            if rule.status is Status.REMOVED and option == "--select":
                instead = f"use {rule.replacement} instead" if rule.replacement else "leave it out"
                errors.append(ConfigError(f"{option}: {rule.code} ({rule.name}) was removed", hint=instead))
                continue
            out.append(rule.code)
        return out

    chosen, left_out = codes(select, "--select"), codes(ignore, "--ignore")
    if errors:
        raise ConfigErrors(errors)
    if not (chosen or left_out or preview):
        return project
    cfg = project.config.rules
    update: dict[str, object] = {"ignore": [*cfg.ignore, *left_out], "preview": cfg.preview or preview}
    if chosen:
        update["select"] = chosen
    changed = copy.copy(project)
    changed.config = project.config.model_copy(update={"rules": cfg.model_copy(update=update)})
    return changed
