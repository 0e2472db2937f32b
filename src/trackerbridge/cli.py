"""The `trackerbridge` command: parses options, calls the library, renders. Nothing else."""

from __future__ import annotations

import gc
import json
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import click

from trackerbridge import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_CONFIG, EXIT_CONNECTOR = 0, 1, 2, 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trackerbridge")
def main() -> None:
    """Keep execution conventions honest inside Jira and Salesforce."""


def _parse_day(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date such as 2026-11-25") from None
    return day if day.tzinfo else day.replace(tzinfo=timezone.utc)


def sandbox_options(command: click.Command) -> click.Command:
    """The options every command that starts a sandbox shares."""
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


@main.group()
def sandbox() -> None:
    """A local Jira and Salesforce to run, sync and break against."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind (only).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8443,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@sandbox_options
@click.option(
    "--latency",
    "latency_ms",
    type=click.IntRange(min=0),
    default=0,
    metavar="MS",
    help="Added latency per request, in milliseconds.",
)
@click.option(
    "--faults",
    default="",
    metavar="SPEC",
    help="Seeded fault spec, e.g. 'rate-limit:every=5,retry_after=1;error:rate=0.05;drop:rate=0.01'.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the data (and the CA) here, so the sandbox survives a restart.",
)
def serve(
    host: str,
    port: int,
    seed: int,
    size: int,
    jira_flavor: str,
    anchor: str | None,
    latency_ms: int,
    faults: str,
    data_dir: Path | None,
) -> None:
    """Start the emulator on loopback over HTTPS and print how to connect."""
    from trackerbridge.sandbox import Sandbox, SandboxConfig
    from trackerbridge.sandbox.faults import FaultSpecError

    try:
        config = SandboxConfig(
            host=host,
            port=port,
            seed=seed,
            size=size,
            jira_flavor=jira_flavor,
            anchor=_parse_day(anchor),
            latency_ms=latency_ms,
            faults=faults,
            data_dir=data_dir,
        )
        sb = Sandbox(config)
    except (ValueError, FaultSpecError) as exc:
        raise click.UsageError(str(exc)) from None
    try:
        sb.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    def stop(signum: int, frame: FrameType | None) -> None:
        sb.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    gc.freeze()  # the demo data lives as long as the process; keep it out of every collection
    info = sb.info
    click.echo(f"trackerbridge sandbox on {info.url} (Jira {info.jira_flavor}, Salesforce)")
    click.echo(f"CA bundle: {info.ca_bundle}")
    if sb.summary:
        for line in sb.summary.lines():
            click.echo(f"  {line}")
    click.echo("Connect with:")
    for name, value in info.as_env().items():
        click.echo(f"  export {name}={value}")
    click.echo("Press Ctrl+C to stop.", err=True)
    try:
        sb.wait()
    except KeyboardInterrupt:
        sb.stop()


@main.command()
@sandbox_options
def demo(seed: int, size: int, jira_flavor: str, anchor: str | None) -> None:
    """Start the sandbox, read it through the real Jira and Salesforce clients, and say what it holds."""
    from trackerbridge.sandbox import Sandbox, SandboxConfig
    from trackerbridge.sandbox.tour import tour

    config = SandboxConfig(port=0, seed=seed, size=size, jira_flavor=jira_flavor, anchor=_parse_day(anchor))
    with Sandbox(config) as sb:
        click.echo(f"Sandbox on {sb.info.url}; demo organisation (seed {seed}, {size} issues):")
        for line in sb.summary.lines() if sb.summary else []:
            click.echo(f"  {line}")
        click.echo("Read back through the real clients:")
        for line in tour(sb.info):
            click.echo(f"  {line}")


def project_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--project and --sandbox, shared by every command that reads a project."""
    command = click.option(
        "--sandbox",
        "sandbox_flavor",
        type=click.Choice(["cloud", "datacenter"]),
        default=None,
        help="Run against an embedded sandbox of this Jira flavour (sets the TB_SANDBOX_* variables).",
    )(command)
    return click.option(
        "--project",
        "project_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=".",
        envvar="TRACKERBRIDGE_PROJECT",
        show_default=True,
        help="Project directory holding connectors/ and mappings/.",
    )(command)


@contextmanager
def project_environment(project_dir: Path, sandbox_flavor: str | None) -> Iterator[tuple[Any, Mapping[str, str]]]:
    """Load the project (config errors exit 2) and the environment to connect with."""
    import os

    from trackerbridge.config.errors import ConfigError
    from trackerbridge.config.project import Project

    try:
        project = Project.load(project_dir)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    if sandbox_flavor is None:
        yield project, os.environ
        return
    from trackerbridge.sandbox.runner import SandboxConfig, sandbox_environment

    with sandbox_environment(SandboxConfig(port=0, jira_flavor=sandbox_flavor)) as (_, env):
        yield project, env


def fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


@main.command("check")
@click.argument("connectors", nargs=-1)
@project_options
def check_command(connectors: tuple[str, ...], project_dir: Path, sandbox_flavor: str | None) -> None:
    """Connect to each connector and resolve its mapping against the live field catalog.

    Exits 0 only when every mapped field resolves; 2 for configuration problems, 3 when a
    tracker cannot be reached or refuses the credentials.
    """
    from trackerbridge.checking import check
    from trackerbridge.config.errors import ConfigError

    with project_environment(project_dir, sandbox_flavor) as (project, env):
        try:
            results = check(project, list(connectors), env)
        except ConfigError as exc:
            fail(str(exc), EXIT_CONFIG)
    code = EXIT_OK
    for r in results:
        if r.server is not None:
            s = r.server
            click.echo(f"{r.name}: {s.system} {s.flavor} {s.version} at {s.url}, signed in as {s.user}")
        if r.mapping is not None:
            for line in describe_mapping(r.mapping):
                click.echo(f"  {line}")
            click.echo(f"  ok: mapping {r.mapping.name!r} resolves ({len(r.mapping.fields)} fields)")
        if r.failure is not None:
            click.echo(f"{r.name}: {r.failure}", err=True)
            code = max(code, EXIT_CONNECTOR)
        if r.errors:
            click.echo(f"{r.name}: mapping does not resolve:", err=True)
            for error in r.errors:
                click.echo(f"  {error}", err=True)
            code = max(code, EXIT_CONFIG) if code != EXIT_CONNECTOR else code
    sys.exit(code)


def describe_mapping(mapping: Any) -> Iterator[str]:
    for r in [*mapping.attributes, *mapping.extra]:
        yield f"{r.attribute:<18} <- {r.field.name} ({r.field.id}, {r.field.type})"
    for system, fi in mapping.links:
        yield f"{'link ' + system:<18} <- {fi.name} ({fi.id})"
    for role, fi in mapping.write_fields.items():
        yield f"{'writes ' + role.split(':')[0]:<18} -> {fi.name} ({fi.id}, {fi.type}, updateable, owned)"


@main.command("schema")
@click.argument("kind", type=click.Choice(["connector", "mapping"]))
def schema_command(kind: str) -> None:
    """Print the JSON Schema of connector or mapping files, for editors."""
    from trackerbridge.config.schema import json_schema

    click.echo(json.dumps(json_schema(kind), indent=2))  # type: ignore[arg-type]
