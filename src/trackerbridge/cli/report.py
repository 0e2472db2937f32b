"""`trackerbridge report`: the initiative-sprawl report, from the state store or a fresh pull."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from trackerbridge.cli.common import (
    EXIT_CONFIG,
    check_output,
    destination,
    fail,
    format_for,
    output_options,
    parse_moment,
    progress_bar,
    project_environment,
    project_options,
    state_url,
)
from trackerbridge.cli.group import main
from trackerbridge.report import SUFFIXES, renderers

if TYPE_CHECKING:
    from trackerbridge.audit import AuditResult
    from trackerbridge.config.project import Project


@main.command("report")
@output_options(
    format_help="html, markdown, json, csv or table (plugins may add more). Default: from --output's suffix "
    "(.html, .md, .json, .csv), else table on a terminal, else html.",
    output_help="Write here, not stdout (with --by team: a directory, one page per team).",
)
@click.option(
    "--by",
    "by",
    type=click.Choice(["team"]),
    default=None,
    help="One weekly page per team (HTML, Markdown, JSON and CSV) into the --output directory.",
)
@click.option("--since", metavar="DATE", help="Trends, and hand-offs closed, from this date (ISO).")
@click.option("--pull", is_flag=True, help="Read the trackers now (read-only) instead of the last sync's records.")
@click.option(
    "--state",
    "state",
    metavar="URL",
    help="State store URL (default: state.url in trackerbridge.yaml, or $TRACKERBRIDGE_STATE_URL).",
)
@click.option("--as-of", metavar="TIME", help="Evaluate as of this time (ISO; default now).")
@project_options
def report_command(
    fmt: str | None,
    output: Path | None,
    by: str | None,
    since: str | None,
    pull: bool,
    state: str | None,
    as_of: str | None,
    project_dir: Path,
    sandbox_flavor: str | None,
) -> None:
    """Write the initiative-sprawl report: headline figures with trends, sprawl by owner and team,
    sunset candidates, hand-offs, slips and findings by rule; with --by team, one weekly page per team.
    Writes nothing to the trackers.

    Exit codes: 0 written, 2 usage or configuration error (or no state and no --pull), 3 a tracker
    could not be read.
    """
    from trackerbridge.history import audit_from_state, last_read, read_history
    from trackerbridge.report.model import build_report

    formats = renderers()
    if fmt is not None and fmt not in formats:
        fail(f"unknown format {fmt!r}; choose one of {', '.join(formats)}", EXIT_CONFIG)
    now = parse_moment(as_of, "time") or datetime.now(timezone.utc)
    start = parse_moment(since, "date")
    if by is not None:
        if output is None or (output.exists() and not output.is_dir()):
            fail("--by team writes one page per team: give --output DIR (a directory)", EXIT_CONFIG)
    elif output is not None and output.is_dir():
        fail(f"--output {output} is a directory: give a file (or --by team)", EXIT_CONFIG)
    # as `audit`: never guess a format the file's name does not say (--by team writes its four of its own)
    fmt = format_for(fmt, output, SUFFIXES, terminal="table", otherwise="html") if by is None else fmt or "html"
    if by is None:
        check_output(output)
    else:
        assert output is not None
        _check_directory(output)
    with project_environment(project_dir, sandbox_flavor) as (project, env):
        url = _state_url(project, state)
        read_at: datetime | None
        if pull:
            result = _pull(project, now, env)
            history = read_history(url, start)
            read_at = now
        else:
            history = read_history(url, start, required=True)
            result = audit_from_state(project, url, now)
            read_at = last_read(url)
    report = build_report(result, history, start, read_at=read_at, pulled=pull)
    if by is not None:
        assert output is not None
        _team_pages(result, report, url, start, output, project.config.report.scorecard)
        return
    with destination(output) as out:
        if fmt == "table":
            from trackerbridge.report.table import render as table

            table(report, out, color=output is None and out.isatty() and not os.environ.get("NO_COLOR"))
        else:
            formats[fmt](report, out)
    if output is not None:
        click.echo(f"wrote the report ({fmt}) to {output}", err=True)


def _check_directory(directory: Path) -> None:
    """--by team's directory, before any work: an existing one is written into again (the weekly job reruns)."""
    where = directory if directory.is_dir() else directory.parent if str(directory.parent) else Path(".")
    if not where.is_dir():
        fail(f"cannot write {directory}: the directory {where} does not exist (create it first)", EXIT_CONFIG)
    if not os.access(where, os.W_OK):
        fail(f"cannot write {directory}: permission denied", EXIT_CONFIG)


def _team_pages(
    result: AuditResult, report: Any, url: str, since: datetime | None, directory: Path, configured: Any = None
) -> None:
    """<team>.html, .md, .json and .csv per team; the cross-team summary is the report without --by."""
    from trackerbridge.history import read_team_history
    from trackerbridge.report.team import scorecard, team_pages
    from trackerbridge.report.team_data import csv_page, json_page
    from trackerbridge.report.team_render import html_page, markdown_page, slug

    directory.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    for page in team_pages(result, report, read_team_history(url, since), scorecard(configured)):
        name = slug(page.team)
        while name in seen:
            name += "-"
        seen.add(name)
        for suffix, render in ((".html", html_page), (".md", markdown_page), (".json", json_page), (".csv", csv_page)):
            with destination(directory / f"{name}{suffix}") as fh:  # 0600, as the report: it names people
                render(page, fh)
        click.echo(f"{page.team}: {directory / name}.html, .md, .json, .csv")


def _state_url(project: Project, given: str | None) -> str:
    return given or state_url(project.root, project.config.state.url)


def _pull(project: Project, now: datetime, env: Mapping[str, str]) -> AuditResult:
    from trackerbridge.audit import run_audit

    with progress_bar() as progress:
        return run_audit(project, [], now, env, progress)
