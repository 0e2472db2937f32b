"""`trackerbridge audit` and `trackerbridge rules`."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from trackerbridge.cli.common import (
    EXIT_CONFIG,
    EXIT_FINDINGS,
    EXIT_OK,
    check_output,
    destination,
    fail,
    parse_moment,
    progress_bar,
    project_environment,
    project_options,
)
from trackerbridge.cli.group import main

if TYPE_CHECKING:
    from trackerbridge.audit import AuditResult
    from trackerbridge.config.project import Project

FAIL_ON = {"red": 2, "amber": 1, "never": 99}  # the flag rank at which the audit exits 1
SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".md": "markdown",
            ".markdown": "markdown", ".sarif": "sarif", ".txt": "table"}  # --output's suffix, without --format


@main.command("audit")
@click.argument("connectors", nargs=-1)
@click.option(
    "--format",
    "fmt",
    default=None,
    metavar="FORMAT",
    help="table, json, jsonl, csv, markdown, github or sarif (default: from --output's suffix, .json .jsonl .csv "
    ".md .sarif .txt; else table on a terminal, json off one).",
)
@click.option(
    "--fail-on",
    type=click.Choice(list(FAIL_ON)),
    default="red",
    show_default=True,
    help="Exit 1 when any initiative is at least this unhealthy.",
)
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write here, not stdout.")
@click.option("--as-of", metavar="TIME", help="Evaluate as of this time (ISO; default now). Reproduces past audits.")
@project_options
def audit_command(
    connectors: tuple[str, ...],
    fmt: str | None,
    fail_on: str,
    output: Path | None,
    as_of: str | None,
    project_dir: Path,
    sandbox_flavor: str | None,
) -> None:
    """Read every connector (or those named), check the conventions, print the verdict. Writes nothing.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or configuration error,
    3 a tracker could not be read.
    """
    now = parse_moment(as_of, "time") or datetime.now(timezone.utc)
    with project_environment(project_dir, sandbox_flavor) as (project, env):
        render_audit(project, list(connectors), now, env, fmt, fail_on, output)


def render_audit(
    project: Project,
    names: Sequence[str],
    now: datetime,
    env: Mapping[str, str],
    fmt: str | None,
    fail_on: str,
    output: Path | None = None,
) -> None:
    from trackerbridge.audit import run_audit
    from trackerbridge.config.errors import ConfigError
    from trackerbridge.connectors.base import ConnectorError
    from trackerbridge.plugins import PluginError, audit_formats

    try:
        formats = audit_formats()
    except PluginError as exc:
        fail(str(exc), EXIT_CONFIG)
    stream = sys.stdout
    if fmt is None and output is not None:
        fmt = SUFFIXES.get(output.suffix.lower())
        if fmt is None:
            fail(f"cannot tell the format from {output.name!r}: give --format, or a suffix "
                 f"({', '.join(SUFFIXES)})", EXIT_CONFIG)
    fmt = fmt or ("table" if output is None and stream.isatty() else "json")
    if fmt not in formats:
        fail(f"unknown format {fmt!r}; choose one of {', '.join(formats)}", EXIT_CONFIG)
    check_output(output)
    try:
        with progress_bar() as progress:
            result = run_audit(project, names, now, env, progress)
    except (ConfigError, PluginError) as exc:
        fail(str(exc), EXIT_CONFIG)
    except ConnectorError as exc:
        fail(str(exc), exc.exit_code)
    with destination(output) as out:
        if fmt == "table":
            from trackerbridge.emitters.table import emit_table

            emit_table(result, out, color=output is None and out.isatty() and not os.environ.get("NO_COLOR"))
        else:
            formats[fmt](result, out)
    if output is not None:
        click.echo(f"wrote the audit ({fmt}) to {output}", err=True)
    sys.exit(exit_code(result, fail_on))


def exit_code(result: AuditResult, fail_on: str) -> int:
    return EXIT_FINDINGS if result.worst().rank >= FAIL_ON[fail_on] else EXIT_OK


@main.command("rules")
@click.argument("rule", required=False)
def rules_command(rule: str | None) -> None:
    """List the convention rules, or explain one (by code like TB105 or by name)."""
    from trackerbridge.plugins import PluginError
    from trackerbridge.rules.registry import find_rule, load_rules

    try:
        rules = load_rules()
    except PluginError as exc:
        fail(str(exc), EXIT_CONFIG)
    if rule is None:
        for r in rules.values():
            click.echo(f"{r.code}  {r.name:<36} {r.severity.value:<8} {r.summary}")
        return
    found = find_rule(rules, rule)
    if found is None:
        from trackerbridge.config.errors import suggest

        hint = suggest(rule.upper(), list(rules), "codes") or ""
        fail(f"no rule {rule!r}. {hint}".strip(), EXIT_CONFIG)
    click.echo(f"{found.code} {found.name} ({found.severity.value})")
    click.echo(f"\n{found.summary}\n")
    click.echo(f"What: {found.what}")
    click.echo(f"Why:  {found.why}")
    click.echo(f"Fix:  {found.fix}")
    if found.params:
        click.echo("\nParameters (set under rules.params in trackerbridge.yaml):")
        for name, param in found.params.items():
            click.echo(f"  {name} = {param.default!r}  {param.help}")
    click.echo(f"\nApplies to: {', '.join(found.systems)} records ({found.scope} rule)")
