"""Third-party rules arrive through the `trackerbridge` entry-point group, like the built-ins."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.plugins import PluginError, connector_types, plugin_manager
from trackerbridge.rules.registry import load_rules

PLUGIN = """
from trackerbridge.plugins import hookimpl
from trackerbridge.rules.base import Hit, Rule, Severity


def check(initiative, ctx):
    if initiative.title and initiative.title.isupper():
        yield Hit(initiative, "title in capitals")


@hookimpl
def trackerbridge_rules():
    return [Rule(code="{code}", name="{name}", severity=Severity.WARNING, summary="Shouting titles",
                 what="Titles in capitals.", why="They shout.", fix="Write them in sentence case.", check=check)]
"""


def install(root: Path, module: str, code: str, name: str) -> None:
    """A distribution on sys.path with an entry point, as `pip install` would leave it."""
    (root / f"{module}.py").write_text(PLUGIN.format(code=code, name=name))
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[trackerbridge]\n{module} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin_manager.cache_clear()
    yield tmp_path
    plugin_manager.cache_clear()
    for name in [m for m in sys.modules if m.startswith("tb_plugin_")]:
        del sys.modules[name]


def test_an_installed_plugin_adds_a_rule_next_to_the_built_ins(site: Path) -> None:
    install(site, "tb_plugin_shout", "TB901", "shouting-title")
    rules = load_rules()
    assert "TB901" in rules and "TB101" in rules
    assert rules["TB901"].name == "shouting-title"
    listing = CliRunner().invoke(main, ["rules"])
    assert "TB901  shouting-title" in listing.output
    explained = CliRunner().invoke(main, ["rules", "shouting-title"])
    assert "Fix:  Write them in sentence case." in explained.output
    assert set(connector_types()) == {"jira", "salesforce"}


def test_a_plugin_reusing_a_built_in_code_stops_the_program(site: Path) -> None:
    install(site, "tb_plugin_clash", "TB101", "clashing-rule")
    with pytest.raises(PluginError, match="rule code TB101 is registered twice: by builtin_rules and by"):
        load_rules()
    result = CliRunner().invoke(main, ["rules"])
    assert result.exit_code == 2
    assert "registered twice" in result.output
