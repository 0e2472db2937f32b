"""`trackerbridge setup jira|salesforce`: create (Jira) or print (Salesforce metadata) the custom fields
the write-back and syncs need, so a new user does not click through admin screens."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from trackerbridge.cli.common import (
    EXIT_CONFIG,
    EXIT_CONNECTOR,
    EXIT_FINDINGS,
    EXIT_OK,
    fail,
    output_options,
    project_environment,
    project_options,
)
from trackerbridge.cli.group import main

if TYPE_CHECKING:
    from trackerbridge.config.project import Project
    from trackerbridge.setup import ConnectorPlan


@main.command("setup")
@click.argument("system", type=click.Choice(["jira", "salesforce"]))
@click.argument("connectors", nargs=-1)
@click.option("--apply", "apply_", is_flag=True, help="Jira: create the missing fields (default: only list them).")
@output_options(
    output_help="Salesforce: write the metadata package into this directory instead of printing it.",
    output_directory=True,
    output_short=False,
)
@project_options
def setup_command(
    system: str,
    connectors: tuple[str, ...],
    apply_: bool,
    output: Path | None,
    project_dir: Path,
    sandbox_flavor: str | None,
) -> None:
    """Find the write-back and sync-target fields the mappings name but the tracker lacks.

    Jira: lists them, or creates them with --apply (needs the Administer Jira permission).
    Salesforce: prints a metadata package (CustomField files and package.xml) to deploy with
    `sf project deploy start`, or writes it into --output DIR. Exits 0 when nothing is missing or all
    was created (or the Salesforce package printed or written); 1 when the Jira dry run (no --apply)
    finds fields missing; 2 for configuration problems, 3 when a tracker cannot be reached or refuses.
    """
    from trackerbridge import setup

    if system == "salesforce" and apply_:
        fail(
            "setup salesforce: --apply is for Jira; deploy the printed package with sf project deploy start",
            EXIT_CONFIG,
        )
    if system == "jira" and output is not None:
        fail("setup jira: --output is for Salesforce's metadata package", EXIT_CONFIG)
    with project_environment(project_dir, sandbox_flavor) as (project, env):
        plans = setup.plan(project, system, list(connectors), env)
        if not plans:
            fail(f"setup {system}: the project has no {system} connector", EXIT_CONFIG)
        for p in plans:
            s = p.server
            where = f" ({s.flavor} at {s.url}, signed in as {s.user})" if s is not None else ""
            click.echo(f"{p.name}{where}: {len(p.missing) or 'no'} missing field{'s' * (len(p.missing) != 1)}")
            for f in p.missing:
                options = f" [{', '.join(f.options)}]" if f.options else ""
                click.echo(f"  {f.ref}: {setup.KIND_WORDS[f.kind]}{options} ({f.role}, mapping {f.mapping})")
        if system == "salesforce":
            _salesforce(plans, output)
        elif apply_:
            _apply_jira(project, plans, env)
        elif any(p.missing for p in plans):
            click.echo("dry run: nothing created; run again with --apply to create these fields")
    dry_run = system == "jira" and not apply_
    sys.exit(EXIT_FINDINGS if dry_run and any(p.missing for p in plans) else EXIT_OK)


def _apply_jira(project: Project, plans: list[ConnectorPlan], env: Mapping[str, str]) -> None:
    from trackerbridge import setup
    from trackerbridge.connectors.base import ConnectorError
    from trackerbridge.sources import connect

    for p in plans:
        if not p.missing:
            continue
        connector = connect(project, p.name, env)
        try:
            created = setup.create_jira_fields(connector, p.missing)
        except ConnectorError as exc:
            fail(
                f"{exc}\n  creating fields needs an account with the Administer Jira global permission", EXIT_CONNECTOR
            )
        finally:
            connector.close()
        for c in created:
            options = f" with options {', '.join(c.field.options)}" if c.field.options else ""
            click.echo(f"{p.name}: created {c.field.name} ({c.field.id}){options}")
            if c.pending:
                click.echo(
                    f"  Jira Data Center has no REST API for options: in Jira administration > Issues > Custom fields, "
                    f"open {c.field.name!r} > Contexts and default value > Edit Options and add: {', '.join(c.pending)}"
                )
        if created:
            click.echo(
                f"{p.name}: next, add the new fields to the edit screens of the issue types in scope "
                "(Jira writes only fields that are on a screen), then run trackerbridge check"
            )


def _salesforce(plans: list[ConnectorPlan], output: Path | None) -> None:
    from trackerbridge import setup

    files = setup.salesforce_package(plans)
    if not files:
        return
    if output is None:
        for path, text in files.items():
            click.echo(f"# {path}")
            click.echo(text, nl=False)
        click.echo("# deploy: save these files, then sf project deploy start --manifest package.xml", err=True)
        return
    for path, text in files.items():
        target = output / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}")
    click.echo(
        f"deploy with: sf project deploy start --source-dir {output} (or --manifest {output / 'package.xml'}); "
        "then give the integration user edit access to the new fields (a permission set's field permissions)"
    )
