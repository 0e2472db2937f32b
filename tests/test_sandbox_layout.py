"""The sandbox's modules form no import cycle and stay readable in size (issue 17).

The imports are read with `ast`, not by importing: every `import` and `from ... import` anywhere in a module counts,
including those inside functions (a function-level import that dodges a cycle at load time is still a cycle in the
design), except those under `if TYPE_CHECKING:` (annotations only).

`from trackerbridge.sandbox import jira_model` depends on the package's namespace, its `__init__` (whose lazy
`__getattr__` imports the runner, so the whole server stack), and counts as importing it; `import
trackerbridge.sandbox.jira_model` and `from trackerbridge.sandbox.jira_model import X` name only the module. Python
runs a package's `__init__` before any submodule either way, which is harmless as long as the `__init__` imports
none of its submodules at load time (the last test says so).
"""

from __future__ import annotations

import ast
from pathlib import Path

import trackerbridge.sandbox

PACKAGE = "trackerbridge.sandbox"
ROOT = Path(trackerbridge.sandbox.__file__).resolve().parent
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join((PACKAGE, *parts))] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every module name imported, absolute, and for `from X import y` both X and X.y (y may be a module)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = set(_imports(tree, name, path.name == "__init__.py")) & set(modules) - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the path of module names round it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := walk(node)):
            return found
    return None


def test_the_walk_sees_every_kind_of_import() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import trackerbridge.sandbox.a\n"
        "from . import b\n"
        "from .c import thing\n"
        "if TYPE_CHECKING:\n    from trackerbridge.sandbox.d import D\n"
        "def f():\n    from trackerbridge.sandbox import e\n"
    )
    found = set(_imports(tree, "trackerbridge.sandbox.x", False))
    assert {
        "trackerbridge.sandbox.a",
        "trackerbridge.sandbox.b",
        "trackerbridge.sandbox.c",
        "trackerbridge.sandbox.e",
    } <= found
    assert not any(name.startswith("trackerbridge.sandbox.d") for name in found)
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_sandbox_has_no_import_cycle() -> None:
    graph = _graph()
    assert len(graph) > 10 and any(graph.values()), "the walk found the sandbox's modules and their imports"
    cycle = _cycle(graph)
    assert cycle is None, "import cycle in the sandbox: " + " -> ".join(cycle or [])


def test_no_sandbox_module_is_over_600_lines() -> None:
    """The two grammars' parsers (jql.py, soql.py) are one transformer each, the exception issue 17 names."""
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in _modules().items()}
    long = {name: n for name, n in sizes.items() if n > MAX_LINES and name.rsplit(".", 1)[-1] not in ("jql", "soql")}
    assert not long, f"sandbox modules over {MAX_LINES} lines: {long}"


def test_package_inits_import_no_submodule_at_load_time() -> None:
    """Importing one part (a model, a parser) must not load the server stack through its package's `__init__`."""
    for name, path in _modules().items():
        if path.name != "__init__.py":
            continue
        top = ast.parse(path.read_text(encoding="utf-8")).body
        eager = [n for n in top if isinstance(n, (ast.Import, ast.ImportFrom))]
        loaded = set(_imports(ast.Module(body=eager, type_ignores=[]), name, True)) & set(_modules()) - {name}
        assert not loaded, f"{name} imports {sorted(loaded)} at load time"
