"""Options and helpers shared by commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

import click

if TYPE_CHECKING:
    from trackerbridge.config.project import Project

EXIT_OK, EXIT_FINDINGS, EXIT_CONFIG, EXIT_CONNECTOR, EXIT_WRITES_FAILED, EXIT_LOCKED = 0, 1, 2, 3, 4, 75
PACKAGED_DEMO = Path(__file__).resolve().parent.parent / "demo_project"
FAIL_ON = {"red": 2, "amber": 1, "never": 99}  # the flag rank at which a command exits 1
FAIL_ON_HELP = "Exit 1 when any initiative is at least this unhealthy."
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


_warning_sinks: list[Callable[[str], None]] = []


@contextmanager
def shown_warnings() -> Iterator[None]:
    """Warnings about the rules (`RuleWarning`: a deprecated rule, a redirected code) reach the user once
    per command, as `warning: ...` on stderr (or through `warnings_to`'s sink); other warnings as Python
    shows them."""
    import warnings

    from trackerbridge.rules.base import RuleWarning

    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always", RuleWarning)  # the once-per-run is ours: a test process runs many
        original = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if not issubclass(category, RuleWarning):
                original(message, category, filename, lineno, file, line)
                return
            text = str(message)
            if text in seen:
                return
            seen.add(text)
            if _warning_sinks:
                _warning_sinks[-1](text)
            else:
                click.echo(f"warning: {text}", err=True)

        warnings.showwarning = show
        yield


@contextmanager
def warnings_to(sink: Callable[[str], None]) -> Iterator[None]:
    """Send the rules' warnings to `sink` (sync's logger: a JSON event with --log-format json)."""
    _warning_sinks.append(sink)
    try:
        yield
    finally:
        _warning_sinks.pop()


def parse_moment(value: str | None, what: str = "date") -> datetime | None:
    """ISO dates or times from the command line; naive ones are UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO {what} such as 2026-11-25 or 2026-11-25T09:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def demo_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The demo organisation's options, for every command that starts a sandbox."""
    options = [
        click.option("--seed", type=int, default=7, show_default=True, help="Seed of the demo organisation."),
        click.option(
            "--size",
            type=click.IntRange(min=1),
            default=400,
            show_default=True,
            help="Number of Jira initiatives and epics (opportunities scale with it).",
        ),
        click.option(
            "--jira-flavor",
            type=click.Choice(["cloud", "datacenter"]),
            default="cloud",
            show_default=True,
            help="Which Jira the emulator claims to be.",
        ),
        click.option("--anchor", metavar="DATE", help="The demo's 'today' (default: today, UTC)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def project_dir_option(help: str = "Project directory holding connectors/ and mappings/.") -> Any:
    """--project (default: here, or $TRACKERBRIDGE_PROJECT), as every command spells it."""
    return click.option(
        "--project",
        "project_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=".",
        envvar="TRACKERBRIDGE_PROJECT",
        show_default=True,
        help=help,
    )


def project_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--project and --sandbox, for every command that reads a project."""
    command = click.option(
        "--sandbox",
        "sandbox_flavor",
        type=click.Choice(["cloud", "datacenter"]),
        default=None,
        help="Run against an embedded sandbox of this Jira flavour (sets the TB_SANDBOX_* variables).",
    )(command)
    return project_dir_option()(command)


def output_options(
    *,
    format_help: str | None = None,
    format_choices: Sequence[str] | None = None,
    format_default: str | None = None,
    output_help: str | None = None,
    output_directory: bool = False,
    output_short: bool = True,
    fail_on: str | None = None,
    fail_on_help: str = FAIL_ON_HELP,
) -> Callable[[F], F]:
    """`--format`, `--output` and `--fail-on` in one decorator (sqlite-utils' style), so every command
    spells them alike: `fmt`, `output` (a Path) and `fail_on` (a key of FAIL_ON). A command gets the
    options it asks for: `--format` with `format_help` or `format_choices` (free text with metavar
    FORMAT, checked against the formats the plugins offer, or a fixed choice), `--output` with
    `output_help` (`-o` too unless `output_short` is off; a directory with `output_directory`),
    `--fail-on` with a default."""
    options: list[Callable[[Any], Any]] = []
    if format_choices is not None:
        options.append(
            click.option(
                "--format",
                "fmt",
                type=click.Choice(list(format_choices)),
                default=format_default,
                show_default=True,
                help=format_help,
            )
        )
    elif format_help is not None:
        options.append(click.option("--format", "fmt", default=None, metavar="FORMAT", help=format_help))
    if fail_on is not None:
        options.append(
            click.option(
                "--fail-on", type=click.Choice(list(FAIL_ON)), default=fail_on, show_default=True, help=fail_on_help
            )
        )
    if output_help is not None:
        names = ("--output", "-o") if output_short else ("--output",)
        kind = click.Path(file_okay=False, path_type=Path) if output_directory else click.Path(path_type=Path)
        options.append(click.option(*names, "output", type=kind, default=None, help=output_help))

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def format_for(
    fmt: str | None, output: Path | None, suffixes: Mapping[str, str], *, terminal: str, otherwise: str
) -> str:
    """--format, else what --output's suffix says (another suffix is exit 2: never guess a format the
    file's name does not say), else `terminal` on a terminal and `otherwise` off one or into a file."""
    if fmt is None and output is not None:
        fmt = suffixes.get(output.suffix.lower())
        if fmt is None:
            fail(
                f"cannot tell the format from {output.name!r}: give --format, or a suffix ({', '.join(suffixes)})",
                EXIT_CONFIG,
            )
    return fmt or (terminal if output is None and sys.stdout.isatty() else otherwise)


def exit_for(worst_rank: int, fail_on: str) -> int:
    """Exit 1 when the unhealthiest initiative is at least as bad as --fail-on says."""
    return EXIT_FINDINGS if worst_rank >= FAIL_ON[fail_on] else EXIT_OK


def load_project(project_dir: Path) -> Project:
    """The project; a configuration error is exit 2 with its message (the `main` group's handler)."""
    from trackerbridge.config.project import Project

    return Project.load(project_dir)


@contextmanager
def project_environment(project_dir: Path, sandbox_flavor: str | None) -> Iterator[tuple[Project, Mapping[str, str]]]:
    """The loaded project (config errors exit 2) and the environment to connect with. On a terminal,
    each retry of a transient error shows as "retrying (n/N)" instead of a silent pause."""
    project = load_project(project_dir)
    with terminal_retry_notices(), _sandboxed(project, sandbox_flavor) as env:
        yield project, env


@contextmanager
def _sandboxed(project: Project, sandbox_flavor: str | None) -> Iterator[Mapping[str, str]]:
    """This environment, or the project's own embedded sandbox (kept between commands)."""
    if sandbox_flavor is None:
        yield os.environ
        return
    import pickle
    from contextlib import ExitStack

    from trackerbridge.sandbox.runner import SandboxConfig, sandbox_environment

    data_dir = sandbox_dir(project.root, sandbox_flavor)
    port_file = data_dir / "port" if data_dir is not None else None
    with ExitStack() as stack:
        try:
            # The same port as last time when it is free, so the organisation keeps its URL between commands.
            for port in dict.fromkeys([_kept_port(port_file), 0]):
                config = SandboxConfig(port=port, jira_flavor=sandbox_flavor, data_dir=data_dir)
                try:
                    sb, env = stack.enter_context(sandbox_environment(config))
                    break
                except OSError:
                    if port == 0:
                        raise
        except (ValueError, EOFError, pickle.UnpicklingError) as exc:
            fail(
                f"cannot load the project's sandbox organisation in {data_dir} ({exc}); "
                "`trackerbridge sandbox reset` starts a fresh one",
                EXIT_CONFIG,
            )
        if port_file is not None:
            port_file.write_text(sb.info.url.rsplit(":", 1)[1], encoding="utf-8")
        yield env


@contextmanager
def terminal_retry_notices() -> Iterator[None]:
    if not sys.stderr.isatty():
        yield
        return
    from trackerbridge.connectors.http import retry_notices
    from trackerbridge.redact import mask_text

    def notice(n: int, total: int, request: str, reason: str) -> None:
        click.echo(f"retrying ({n}/{total}): {mask_text(request)} ({reason})", err=True)

    with retry_notices(notice):
        yield


def _kept_port(port_file: Path | None) -> int:
    try:
        return int(port_file.read_text(encoding="utf-8")) if port_file is not None else 0
    except (OSError, ValueError):
        return 0


def sandbox_dir(root: Path, flavor: str) -> Path | None:
    """Where `--sandbox` keeps the project's own sandbox organisation between commands, so a second
    `sync --sandbox` carries on from the first; None (a fresh organisation each time) when the
    project directory cannot be written, like the packaged demo in a read-only install."""
    directory = root / ".trackerbridge" / f"sandbox-{flavor}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return directory if os.access(directory, os.W_OK) else None


def check_output(output: Path | None) -> None:
    """Refuse an --output that cannot be written before any work (exit 2, one line), rather than fail after a pull."""
    if output is None:
        return
    parent = output.parent if str(output.parent) else Path(".")
    if output.is_dir():
        fail(f"cannot write {output}: it is a directory", EXIT_CONFIG)
    if not parent.is_dir():
        fail(f"cannot write {output}: the directory {parent} does not exist (create it first)", EXIT_CONFIG)
    if not os.access(parent, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        fail(f"cannot write {output}: permission denied", EXIT_CONFIG)


@contextmanager
def destination(output: Path | None) -> Iterator[TextIO]:
    """stdout, or the file; a file that cannot be opened is exit 2 with one line, never a traceback."""
    if output is None:
        yield sys.stdout
        return
    try:  # 0600: reports name every record's owners and titles
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_CONFIG)
    with open(fd, "w", encoding="utf-8", newline="") as fh:
        yield fh


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int], None] | None]:
    """A progress line on stderr while pulling, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=Console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task("reading", total=None)

        def update(connector: str, count: int) -> None:
            bar.update(task, description=f"reading {connector}: {count} records")

        yield update


def state_url(project_root: Path, configured: str) -> str:
    """Relative SQLite paths are taken from the project root, so cron's working directory doesn't matter."""
    url = os.environ.get("TRACKERBRIDGE_STATE_URL") or configured
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str(project_root / url[len(prefix) :])
    return url
