"""The connector modules import each other in one direction only: no import cycles.

A cycle is what makes a module impossible to read (or load) alone; here it is checked by reading the
source with `ast`, not by importing it. Every import counts, at module level or inside a function (a
function-level import that dodges a cycle is still the cycle), except those under `if TYPE_CHECKING:`,
which never run."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
SCOPE = "trackerbridge.connectors"


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module below `root` (a package's is its __init__.py)."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: anywhere but in the body of an `if TYPE_CHECKING:`."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The modules of the tree one import statement loads (a name imported from a package is the package)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    base = node.module or ""
    if node.level:
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([base] if base else [])])
    out = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in known:
            out.add(sub)
        elif base in known:
            out.add(base)
    return out


def import_graph(root: Path, scope: str) -> dict[str, set[str]]:
    """module -> the modules it imports, both inside `scope` (a dotted package name)."""
    modules = _modules(root)
    known = set(modules)

    def inside(m: str) -> bool:
        return m == scope or m.startswith(scope + ".")

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if not inside(name):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found: set[str] = set()
        for node in _imports(tree):
            found |= {t for t in _targets(name, path, node, known) if inside(t) and t != name}
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_no_import_cycle_among_connector_modules() -> None:
    graph = import_graph(SRC, SCOPE)
    assert f"{SCOPE}.base" in graph  # the walk found the connector modules
    assert cycles(graph) == []


def test_the_cycle_check_sees_function_level_imports_and_skips_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.low import thing\n")
    (pkg / "sub" / "low.py").write_text("def thing():\n    from pkg.sub.high import other\n    return other\n")
    (pkg / "sub" / "high.py").write_text("from .low import thing\nother = thing\n")
    (pkg / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.user import User\nX = 1\n"
    )
    (pkg / "user.py").write_text("from pkg.typed import X\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.sub"] == {"pkg.sub.low"}
    assert graph["pkg.typed"] == set()
    assert cycles(graph) == [["pkg.sub.high", "pkg.sub.low"]]


def test_no_connector_module_over_600_lines() -> None:
    root = SRC / "trackerbridge" / "connectors"
    sizes = {
        p.relative_to(root).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in root.rglob("*.py")
    }
    assert "jira/search.py" in sizes and "salesforce/query.py" in sizes  # the packages, not the old modules
    assert {name: n for name, n in sizes.items() if n > 600} == {}
