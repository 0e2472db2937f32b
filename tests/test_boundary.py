"""The core/I-O boundary, checked on the source (like datasette's and sqlite-utils' meta-tests).

The core (model, mapping, rules, health, planning, report building, emitters) is plain functions of their
inputs: it imports no connector, no state store, no HTTP or database library and no click, and reads no
clock (time comes in as `now`). These tests walk `src/trackerbridge` with `ast` so that a new import that
breaks the boundary fails here, naming the chain of modules that leads to it.

Imports are counted wherever they stand (a function-level import to dodge a cycle is still an import),
except under `if TYPE_CHECKING:`, which never runs. A module's implicit run of its own package's
`__init__` is not counted as an import of it (a package importing its submodules is no cycle), and
names given to `importlib.import_module` (how the plugin manager loads the built-ins) are not imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "trackerbridge"

# The pure core, spelled out. An entry ending in `.*` is a package and every module in it.
CORE = (
    "trackerbridge.activity",
    "trackerbridge.assessment",  # AuditResult and assess: what every emitter and report reads
    "trackerbridge.changes",
    "trackerbridge.check_warnings",  # what `check` warns about an opened connector (checking.py connects)
    "trackerbridge.conflict_views",  # the pure part of conflict review (trackerbridge.conflicts runs the sync)
    "trackerbridge.converters",  # how tracker values become attribute values (used by mapping)
    "trackerbridge.emitters.*",
    "trackerbridge.health",
    "trackerbridge.mapping",
    "trackerbridge.model",
    "trackerbridge.people",
    "trackerbridge.planner",
    "trackerbridge.records",  # the connector data types (RawRecord, FieldInfo, Catalog, ServerInfo)
    "trackerbridge.report.*",
    "trackerbridge.rollup",
    "trackerbridge.rules.*",
    "trackerbridge.slips",
)

# What the core must not reach, directly or through other trackerbridge modules.
FORBIDDEN_LIBRARIES = (
    "requests",
    "urllib3",
    "jira",
    "simple_salesforce",
    "sqlalchemy",
    "click",
    "http.client",
    "urllib.request",
    "socket",
)
FORBIDDEN_MODULES = (
    "trackerbridge.connectors",
    "trackerbridge.state",
    "trackerbridge.cli",
    "trackerbridge.sandbox",
    "trackerbridge.sources",
    "trackerbridge.sync",
    "trackerbridge.audit",
    "trackerbridge.net",
)
# Reading the clock: `datetime.now()`, `date.today()`, `time.time()` and the like.
CLOCK_METHODS = {"now", "utcnow", "today"}
CLOCK_FUNCTIONS = {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"}

MAX_LINES = 600  # a module a maintainer reads whole
GRAMMARS = ("trackerbridge.sandbox.jql", "trackerbridge.sandbox.soql")  # one parser transformer each: the exception


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    package: bool


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts.pop()
        found[".".join(parts)] = Module(".".join(parts), path, package)
    return found


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, skipping the bodies of `if TYPE_CHECKING:` (their `else` still runs)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node.test):
            for other in node.orelse:
                yield other
                yield from _nodes(other)
            continue
        yield node
        yield from _nodes(node)


@cache
def _tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].path.read_text(), filename=str(modules()[name].path))


@cache
def imported(name: str) -> frozenset[str]:
    """The dotted names module `name` imports (`from a import b` gives `a` and `a.b`)."""
    module = modules()[name]
    names = set()
    for node in _nodes(_tree(name)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if module.package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{a.name}" for a in node.names)
    return frozenset(names)


def edges(name: str) -> set[str]:
    """The trackerbridge modules that importing `name` runs (besides itself)."""
    return {n for n in imported(name) if n in modules() and n != name}


def core_modules() -> list[str]:
    chosen = []
    for entry in CORE:
        if entry.endswith(".*"):
            chosen += [m for m in modules() if _within(m, (entry[:-2],))]
        else:
            chosen.append(entry)
    return sorted(set(chosen))


def packages_of(name: str) -> set[str]:
    """The packages whose `__init__` runs before module `name` does (trackerbridge.report for report.html)."""
    parts = name.split(".")
    return {".".join(parts[:n]) for n in range(1, len(parts))} & set(modules())


def chain_to(start: str) -> dict[str, list[str]]:
    """Every trackerbridge module importing `start` runs (its imports, and their packages' `__init__`), with
    the import chain that gets there."""
    paths = {start: [start]}
    todo = [start]
    while todo:
        current = todo.pop(0)
        for nxt in sorted(edges(current) | packages_of(current)):
            if nxt not in paths:
                paths[nxt] = paths[current] + [nxt]
                todo.append(nxt)
    return paths


def test_every_core_entry_names_modules_that_exist() -> None:
    # a renamed module must not silently leave the core list
    for entry in CORE:
        if entry.endswith(".*"):
            assert entry[:-2] in modules() and modules()[entry[:-2]].package, entry
        else:
            assert entry in modules(), entry
    assert len(core_modules()) > 40


def test_the_core_imports_no_connector_store_http_or_click() -> None:
    problems = []
    for start in core_modules():
        for reached, chain in chain_to(start).items():
            if any(_within(m, FORBIDDEN_MODULES) for m in chain[:-1]):
                continue  # named once, where the chain first leaves the core
            if _within(reached, FORBIDDEN_MODULES):
                problems.append(" -> ".join(chain))
                continue
            for name in imported(reached):
                if _within(name, FORBIDDEN_LIBRARIES):
                    problems.append(" -> ".join(chain) + f" imports {name}")
    assert not problems, "the pure core reaches I/O:\n" + "\n".join(sorted(set(problems)))


def test_the_core_reads_no_clock() -> None:
    problems = []
    for name in core_modules():
        for node in _nodes(_tree(name)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            func = node.func
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if func.attr in CLOCK_METHODS or (owner == "time" and func.attr in CLOCK_FUNCTIONS):
                problems.append(f"{modules()[name].path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}")
        for node in _nodes(_tree(name)):
            if isinstance(node, ast.ImportFrom) and node.module == "time":
                problems += [f"{name} imports time.{a.name}" for a in node.names if a.name in CLOCK_FUNCTIONS]
    assert not problems, "time comes in as an argument (`now`):\n" + "\n".join(problems)


def test_the_checker_sees_what_it_forbids() -> None:
    # the walk itself: an I/O module is seen reaching its library, a TYPE_CHECKING import is not counted
    assert "sqlalchemy" in {n.split(".")[0] for m in chain_to("trackerbridge.state.store") for n in imported(m)}
    assert "trackerbridge.sources" in chain_to("trackerbridge.audit")
    assert "trackerbridge.assessment" in chain_to("trackerbridge.audit")
    assert "trackerbridge.rules.builtin" in chain_to("trackerbridge.rules.builtin.tb101_owner_missing")
    plugins = ast.parse(modules()["trackerbridge.plugins"].path.read_text())
    hidden = {a.name for n in ast.walk(plugins) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "Connector" in hidden  # imported for typing only ...
    assert "trackerbridge.connectors.base" not in imported("trackerbridge.plugins")  # ... and not counted


def test_importing_the_core_loads_no_client_library() -> None:
    # what Python really loads, in a fresh interpreter, importing every core module (AuditResult's, the
    # emitters', the reports')
    targets = core_modules()
    assert "trackerbridge.assessment" in targets and "trackerbridge.emitters.json" in targets
    script = (
        "import importlib, sys\n"
        f"for name in {targets!r}:\n"
        "    importlib.import_module(name)\n"
        "from trackerbridge.assessment import AuditResult, assess\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'requests', 'urllib3', 'sqlalchemy', 'jira',"
        " 'simple_salesforce', 'click'})\n"
        "ours = sorted(m for m in sys.modules if m.startswith(('trackerbridge.connectors', 'trackerbridge.state')))\n"
        "print(loaded, ours)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=SRC.parent)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[] []", run.stdout


def test_the_io_side_still_loads_its_libraries() -> None:
    # the subprocess check can fail: the modules that read trackers and the store do load requests and SQLAlchemy
    script = (
        "import sys, trackerbridge.audit, trackerbridge.connectors.http\n"
        "print(all(m in sys.modules for m in ('requests', 'sqlalchemy', 'trackerbridge.state.store')))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=SRC.parent)
    assert run.stdout.strip() == "True", run.stdout + run.stderr


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_no_import_cycles() -> None:
    graph = {name: edges(name) for name in modules()}
    cycles = _cycles(graph)
    assert not cycles, "modules that import each other (directly or round a circle):\n" + "\n".join(
        ", ".join(c) for c in cycles
    )


def test_the_cycle_finder_finds_a_cycle() -> None:
    # on a made-up graph, so that an empty answer above means something
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": set()}
    assert sorted(_cycles(graph)) == [["a", "b", "c"], ["d", "e"]]
    # and a function-level import counts: the report/html pair once imported each other that way
    assert "trackerbridge.plugins" in edges("trackerbridge.report")
    # while one under `if TYPE_CHECKING:` does not (bulk edit names its connector's type only for annotations)
    assert "if TYPE_CHECKING:\n    from trackerbridge.connectors.jira.search import" in modules()[
        "trackerbridge.connectors.jira.bulk"
    ].path.read_text(encoding="utf-8")
    assert "trackerbridge.connectors.jira.search" not in edges("trackerbridge.connectors.jira.bulk")


def test_no_module_is_over_600_lines_but_the_two_grammars() -> None:
    sizes = {name: len(m.path.read_text(encoding="utf-8").splitlines()) for name, m in modules().items()}
    assert all(sizes[g] > MAX_LINES for g in GRAMMARS), "a grammar that fits needs no exception: drop it"
    long = {name: n for name, n in sizes.items() if n > MAX_LINES and name not in GRAMMARS}
    assert not long, f"modules over {MAX_LINES} lines (split them along what they hold): {long}"


def test_the_sandbox_package_imports_none_of_its_modules_when_loaded() -> None:
    """Importing one of its parts (a model, a parser) must not start the server stack through the package's
    `__init__`: it loads the runner lazily (`__getattr__`), so its own module-level imports name no submodule."""
    init = modules()["trackerbridge.sandbox"]
    top = ast.parse(init.path.read_text(encoding="utf-8")).body
    eager = [n for n in top if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not [n for n in eager if isinstance(n, ast.ImportFrom) and n.level], "a relative import of a submodule"
    names = {a.name for n in eager if isinstance(n, ast.Import) for a in n.names}
    names |= {f"{n.module}.{a.name}" for n in eager if isinstance(n, ast.ImportFrom) for a in n.names}
    names |= {n.module for n in eager if isinstance(n, ast.ImportFrom) and n.module}
    assert not {n for n in names if _within(n, ("trackerbridge.sandbox",))}, sorted(names)
    assert "def __getattr__" in init.path.read_text(encoding="utf-8")
