"""The set-up a newcomer follows: README's two commands, the CI job that runs them, the package's metadata."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pytest brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Set up") : readme.index("## A project")]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_both_readme_commands_make_and_use_their_own_virtual_environment() -> None:
    demo, tests = setup_commands()
    for command in (demo, tests):  # Debian's python3 refuses a bare `pip install` (externally managed)
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -e "), command
        assert re.search(r"(^|&& )(pip|pytest|trackerbridge) ", command) is None, command
    assert demo.endswith("&& .venv/bin/trackerbridge demo")
    assert tests.endswith("&& .venv/bin/pytest") and "'.[test]'" in tests


def test_ci_runs_readme_test_command_verbatim_under_ci_true_on_two_pythons() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    _, tests = setup_commands()
    assert tests in ci
    assert re.search(r"^export CI=true\b", ci, re.MULTILINE)
    assert "apt-get install -y -qq chromium" in ci
    assert '"3.10"' in ci and "python -m build" in ci and "twine check" in ci
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], capture_output=True).returncode == 0


def test_license_is_an_spdx_expression_with_the_apache_text_beside_it() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["license"] == "Apache-2.0"
    assert meta["project"]["license-files"] == ["LICENSE"]
    floor = [r for r in meta["build-system"]["requires"] if r.startswith("setuptools")]
    assert floor and int(re.search(r">=(\d+)", floor[0]).group(1)) >= 77  # PEP 639 support
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    extras = " ".join(meta["project"]["optional-dependencies"]["test"])
    assert "build" in extras and "twine" in extras


# Imported from src but not a run-time dependency, with the reason.
NOT_RUNTIME = {
    "pytest": "trackerbridge.sandbox.pytest_plugin is loaded only by pytest (the `test` extra)",
}


def _imported_top_levels() -> dict[str, str]:
    """Top-level modules src imports (any depth, lazily or not), to the first file that does."""
    import ast
    import sys

    found: dict[str, str] = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in ("trackerbridge", "msvcrt", "tomli"):
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    return {re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower().replace("_", "-") for spec in wanted}


def test_every_third_party_module_src_imports_is_a_declared_dependency() -> None:
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    declared = _declared()
    missing = []
    for module, where in _imported_top_levels().items():
        if module in NOT_RUNTIME:
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if not names & declared:
            missing.append(f"{module} (imported by {where}; distribution {', '.join(sorted(names))})")
    assert not missing, "imported but not in [project] dependencies: " + "; ".join(missing)


def test_the_declared_dependencies_are_all_imported_somewhere() -> None:
    from importlib.metadata import packages_distributions

    imported = set()
    for module in _imported_top_levels():
        imported |= {d.lower().replace("_", "-") for d in packages_distributions().get(module, [module])}
    assert _declared() - imported == set()
