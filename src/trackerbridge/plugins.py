"""Plugin hooks. Built-in connectors (and later rules and report formats) register through the
same `trackerbridge` entry-point group that third-party packages use, as pytest and datasette do."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from trackerbridge.connectors.base import Connector
    from trackerbridge.emitters import Emitter
    from trackerbridge.report import Renderer
    from trackerbridge.rules.base import Rule

PROJECT = "trackerbridge"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# The built-in plugins by the names pyproject.toml's entry points give them. Named, not imported: each
# imports `hookimpl` from here, and the manager loads them only when a hook is first called.
BUILTINS = {
    "builtin_connectors": "trackerbridge.connectors.builtin",
    "builtin_rules": "trackerbridge.rules.builtin",
    "builtin_formats": "trackerbridge.emitters.builtin",
    "builtin_reports": "trackerbridge.report.builtin",
}


class PluginError(Exception):
    exit_code = 2


class Specs:
    @hookspec
    def trackerbridge_connector_types(self) -> dict[str, type[Connector]]:  # type: ignore[empty-body]
        """Connector classes by the `type` a connector file names."""

    @hookspec
    def trackerbridge_rules(self) -> list[Rule]:  # type: ignore[empty-body]
        """Convention rules; codes must be unique across all plugins."""

    @hookspec
    def trackerbridge_audit_formats(self) -> dict[str, Emitter]:  # type: ignore[empty-body]
        """Audit output formats by the name `--format` takes."""

    @hookspec
    def trackerbridge_report_formats(self) -> dict[str, Renderer]:  # type: ignore[empty-body]
        """Sprawl report formats by the name `trackerbridge report --format` takes."""


@cache
def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(Specs)
    pm.load_setuptools_entrypoints(PROJECT)
    for name, module in BUILTINS.items():
        if pm.get_plugin(name) is None:  # a source tree without installed metadata
            pm.register(importlib.import_module(module), name=name)
    return pm


def merged(hook: str, what: str) -> dict[str, Any]:
    """One hook's dicts from every plugin, merged; a name two plugins claim is a startup error."""
    found: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for impl in getattr(plugin_manager().hook, hook).get_hookimpls():
        for name, value in impl.function().items():
            if name in found and found[name] is not value:
                first, second = sorted((owners[name], impl.plugin_name))
                raise PluginError(f"{what} {name!r} is registered twice: by {first} and by {second}")
            found[name] = value
            owners[name] = impl.plugin_name
    return found


def connector_types() -> dict[str, type[Connector]]:
    return merged("trackerbridge_connector_types", "connector type")


def audit_formats() -> dict[str, Emitter]:
    return merged("trackerbridge_audit_formats", "audit format")
