"""`trackerbridge check` and `trackerbridge schema`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from trackerbridge.cli.common import EXIT_CONFIG, EXIT_OK, project_environment, project_options
from trackerbridge.cli.group import main
from trackerbridge.mapping import CompiledMapping

if TYPE_CHECKING:
    from trackerbridge.config.errors import ConfigError
    from trackerbridge.config.project import Project


@main.command("check")
@click.argument("connectors", nargs=-1)
@project_options
def check_command(connectors: tuple[str, ...], project_dir: Path, sandbox_flavor: str | None) -> None:
    """Connect to each connector and resolve its mapping against the live field catalog.

    Exits 0 only when every mapped field resolves; 2 for configuration problems, 3 when a
    tracker cannot be reached or refuses the credentials.
    """
    from trackerbridge.checking import check
    from trackerbridge.connectors.http import fail_fast_when_unreachable

    with project_environment(project_dir, sandbox_flavor) as (project, env), fail_fast_when_unreachable():
        results = check(project, list(connectors), env)
    code = EXIT_OK
    for r in results:
        for warning in r.warnings:
            click.echo(f"{r.name}: warning: {warning}", err=True)
        if r.server is not None:
            s = r.server
            click.echo(f"{r.name}: {s.system} {s.flavor} {s.version} at {s.url}, signed in as {s.user}")
        if r.mapping is not None:
            for line in describe_mapping(r.mapping):
                click.echo(f"  {line}")
            click.echo(f"  ok: mapping {r.mapping.name!r} resolves ({len(r.mapping.fields)} fields)")
            if r.failure is None:
                click.echo(f"  ok: the scope query runs ({r.sampled} sample records read)")
        for warning in r.warnings:
            click.echo(f"{r.name}: warning: {warning}", err=True)
        if r.failure is not None:
            click.echo(f"{r.name}: {r.failure}", err=True)
            code = max(code, r.failure.exit_code)
        if r.errors:
            click.echo(f"{r.name}: not ready:", err=True)
            for error in r.errors:
                click.echo(f"  {error}", err=True)
            hint = next_step(project, r.name, r.errors)
            if hint:
                click.echo(f"  next: {hint}", err=True)
            code = max(code, EXIT_CONFIG)
    sys.exit(code)


def next_step(project: Project, name: str, errors: list[ConfigError]) -> str | None:
    """When fields the write-back or a sync needs are missing from the tracker, the command that makes them."""
    from trackerbridge.setup import wanted_fields

    wanted = {f.ref for f in wanted_fields(project, name)}
    if not any(e.message == f"no field {ref!r} in the live catalog" for e in errors for ref in wanted):
        return None
    if project.connectors[name].type == "salesforce":
        return (
            f"`trackerbridge setup salesforce {name}` prints the missing fields as a metadata package to deploy "
            "(`sf project deploy start`), then run `trackerbridge check` again"
        )
    return (
        f"`trackerbridge setup jira {name}` lists the missing fields (`--apply` creates them; needs Administer "
        "Jira), then run `trackerbridge check` again"
    )


def describe_mapping(mapping: CompiledMapping) -> Iterator[str]:
    for r in [*mapping.attributes, *mapping.extra]:
        yield f"{r.attribute:<18} <- {r.field.name} ({r.field.id}, {r.field.type})"
    for system, fi in mapping.links:
        yield f"{'link ' + system:<18} <- {fi.name} ({fi.id})"
    for role, fi in mapping.write_fields.items():
        yield f"{'writes ' + role.split(':')[0]:<18} -> {fi.name} ({fi.id}, {fi.type}, updateable, owned)"


@main.command("schema")
@click.argument("kind", type=click.Choice(["connector", "mapping", "project"]))
def schema_command(kind: str) -> None:
    """Print the JSON Schema of connector, mapping or project files, for editors."""
    from trackerbridge.config.schema import json_schema

    click.echo(json.dumps(json_schema(kind), indent=2))  # type: ignore[arg-type]
