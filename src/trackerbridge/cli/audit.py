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
    FAIL_ON,
    check_output,
    destination,
    exit_for,
    fail,
    format_for,
    output_options,
    parse_moment,
    progress_bar,
    project_environment,
    project_options,
)
from trackerbridge.cli.group import main

if TYPE_CHECKING:
    from trackerbridge.audit import AuditResult
    from trackerbridge.config.project import Project

__all__ = ["FAIL_ON", "SUFFIXES", "audit_command", "exit_code", "render_audit", "rules_command"]
SUFFIXES = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".sarif": "sarif",
    ".txt": "table",
}  # --output's suffix, without --format


@main.command("audit")
@click.argument("connectors", nargs=-1)
@output_options(
    format_help="table, json, jsonl, csv, markdown, github or sarif (default: from --output's suffix, .json .jsonl "
    ".csv .md .sarif .txt; else table on a terminal, json off one).",
    fail_on="red",
    output_help="Write here, not stdout.",
)
@click.option("--as-of", metavar="TIME", help="Evaluate as of this time (ISO; default now). Reproduces past audits.")
@click.option(
    "--select",
    "select",
    multiple=True,
    metavar="RULES",
    help="Only these rules: codes, prefixes or names, comma-separated or repeated (instead of rules.select).",
)
@click.option(
    "--ignore",
    "ignore",
    multiple=True,
    metavar="RULES",
    help="Leave these rules out too: codes, prefixes or names (added to rules.ignore).",
)
@click.option("--preview", is_flag=True, help="Also run preview rules that the selection picks by prefix.")
@project_options
def audit_command(
    connectors: tuple[str, ...],
    fmt: str | None,
    fail_on: str,
    output: Path | None,
    as_of: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    preview: bool,
    project_dir: Path,
    sandbox_flavor: str | None,
) -> None:
    """Read every connector (or those named), check the conventions, print the verdict. Writes nothing.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or configuration error,
    3 a tracker could not be read.
    """
    from trackerbridge.rules.registry import load_rules
    from trackerbridge.rules.settings import command_line_rules

    now = parse_moment(as_of, "time") or datetime.now(timezone.utc)
    with project_environment(project_dir, sandbox_flavor) as (project, env):
        project = command_line_rules(project, load_rules(), select=select, ignore=ignore, preview=preview)
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
    from trackerbridge.plugins import audit_formats

    formats = audit_formats()
    fmt = format_for(fmt, output, SUFFIXES, terminal="table", otherwise="json")
    if fmt not in formats:
        fail(f"unknown format {fmt!r}; choose one of {', '.join(formats)}", EXIT_CONFIG)
    check_output(output)
    with progress_bar() as progress:
        result = run_audit(project, names, now, env, progress)
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
    return exit_for(result.worst().rank, fail_on)


@main.command("rules")
@click.argument("rule", required=False)
def rules_command(rule: str | None) -> None:
    """List the convention rules, or explain one (by code like TB105 or by name)."""
    from trackerbridge.rules.base import Status
    from trackerbridge.rules.engine import RULE_CRASHED
    from trackerbridge.rules.registry import load_rules, resolve

    rules = load_rules()
    if rule is None:
        for r in rules.values():
            status = "" if r.status is Status.STABLE else f" [{r.status.value}]"
            click.echo(f"{r.code}  {r.name:<36} {r.severity.value:<8} {r.summary}{status}")
        return
    found, old = resolve({RULE_CRASHED.code: RULE_CRASHED, **rules}, rule)
    if found is None:
        from trackerbridge.config.errors import suggest

        hint = suggest(rule.upper(), list(rules), "codes") or ""
        fail(f"no rule {rule!r}. {hint}".strip(), EXIT_CONFIG)
    if old is not None:
        click.echo(f"{old} is now {found.code} ({found.name})\n")
    status = "" if found.status is Status.STABLE else f", {found.status.value}"
    click.echo(f"{found.code} {found.name} ({found.severity.value}{status})")
    if found.replacement:
        replacement = rules.get(found.replacement)
        named = f" ({replacement.name})" if replacement is not None else ""
        click.echo(f"Replaced by {found.replacement}{named}.")
    click.echo(f"\n{found.summary}\n")
    click.echo(f"What: {found.what}")
    click.echo(f"Why:  {found.why}")
    click.echo(f"Fix:  {found.fix}")
    if found.params:
        click.echo("\nParameters (set under rules.params in trackerbridge.yaml):")
        for name, param in found.params.items():
            click.echo(f"  {name} = {param.default!r}  {param.help}")
    click.echo(f"\nApplies to: {', '.join(found.systems)} records ({found.scope} rule)")
    if found.redirects:
        click.echo(f"Formerly:   {', '.join(found.redirects)}")
    if found.url:
        click.echo(f"Docs:       {found.url}")
