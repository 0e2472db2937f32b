"""The CLI's one exception-to-exit handler and its one output-options decorator: an exception that carries an
`exit_code` is one line on stderr and that exit code, whichever command raised it; click's own errors and
exceptions without a code are left alone; no command spells out its own `except X: fail(str(exc), ...)`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.config.errors import ConfigError
from trackerbridge.state.lock import Locked
from trackerbridge.state.store import StoreUnreachable

CLI = Path(__file__).resolve().parent.parent / "src" / "trackerbridge" / "cli"


class Odd(Exception):
    exit_code = 42


@contextmanager
def command_raising(exc: BaseException) -> Iterator[str]:
    """A throwaway subcommand of `main` that raises `exc` (inside a subgroup too, as `state prune` is)."""

    @click.command("raise-for-test")
    def raiser() -> None:
        raise exc

    group = click.Group("nested-for-test", commands=[raiser])
    main.add_command(raiser)
    main.add_command(group)
    try:
        yield raiser.name or ""
    finally:
        main.commands.pop("raise-for-test")
        main.commands.pop("nested-for-test")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ConfigError("trackerbridge.yaml:3: rules.select: no rule 'TB999'"), 2),
        (StoreUnreachable("cannot reach the state store at postgresql://tb:***@db/tb"), 3),
        (Locked("another run holds the lock .trackerbridge/run.lock (pid 12)"), 75),
        (Odd("a plugin's own error"), 42),
    ],
)
def test_an_exception_with_an_exit_code_is_its_message_on_stderr_and_that_code(exc: Exception, code: int) -> None:
    with command_raising(exc):
        for args in (["raise-for-test"], ["nested-for-test", "raise-for-test"]):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == code, result.output
            assert result.stderr == f"{exc}\n" and result.stdout == ""
            assert "Traceback" not in result.output


def test_an_exception_without_an_exit_code_is_not_swallowed() -> None:
    with command_raising(KeyError("boom")):
        result = CliRunner().invoke(main, ["raise-for-test"])
    assert isinstance(result.exception, KeyError) and result.exit_code == 1


def test_click_usage_errors_keep_clicks_own_handling() -> None:
    with command_raising(click.UsageError("no such thing")):
        result = CliRunner().invoke(main, ["raise-for-test"])
    assert result.exit_code == 2 and "Usage:" in result.stderr and "Error: no such thing" in result.stderr


def _handlers_that_only_forward(tree: ast.AST) -> Iterator[int]:
    """`except E as exc: fail(str(exc), <anything>)`: a block that repeats what the handler does."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.name and len(node.body) == 1:
            stmt = node.body[0]
            if (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Call)
                and getattr(stmt.value.func, "id", None) == "fail"
                and stmt.value.args
                and ast.unparse(stmt.value.args[0]) == f"str({node.name})"
            ):
                yield node.lineno


def test_no_command_maps_exceptions_to_exit_codes_by_hand() -> None:
    found = {
        f"{path.name}:{line}"
        for path in CLI.glob("*.py")
        for line in _handlers_that_only_forward(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert found == set()


def _options(*path: str) -> dict[str, click.Option]:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return {p.name or "": p for p in command.params if isinstance(p, click.Option)}


def test_output_options_are_spelled_alike_by_every_command() -> None:
    audit, report, sync, conflicts, setup = (
        _options("audit"),
        _options("report"),
        _options("sync"),
        _options("conflicts"),
        _options("setup"),
    )
    # --fail-on: the same choices everywhere, each command's own default
    for options, default in ((audit, "red"), (sync, "never")):
        fail_on = options["fail_on"]
        assert fail_on.opts == ["--fail-on"] and fail_on.default == default and fail_on.show_default
        assert isinstance(fail_on.type, click.Choice) and list(fail_on.type.choices) == ["red", "amber", "never"]
    # --format: free text checked against the plugins' formats, or conflicts' fixed choice
    for options in (audit, report):
        assert options["fmt"].opts == ["--format"] and options["fmt"].metavar == "FORMAT"
        assert options["fmt"].default is None
    assert isinstance(conflicts["fmt"].type, click.Choice) and conflicts["fmt"].default == "table"
    # --output: a path, -o too (setup's is a directory, without -o, as before)
    for options in (audit, report):
        assert options["output"].opts == ["--output", "-o"]
        assert isinstance(options["output"].type, click.Path) and options["output"].type.file_okay
    assert setup["output"].opts == ["--output"] and not setup["output"].type.file_okay  # type: ignore[attr-defined]
    assert audit["output"].help == "Write here, not stdout."
    assert sync["fail_on"].help == "Also exit 1 when any initiative is at least this unhealthy."


def test_the_history_library_loads_without_the_cli() -> None:
    import subprocess
    import sys

    code = (
        "import sys, trackerbridge.history as h; "
        "assert not any(m == 'click' or m.startswith('trackerbridge.cli') for m in sys.modules); "
        "print(h.read_history.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "trackerbridge.history", done.stderr
