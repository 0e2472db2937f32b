"""`trackerbridge sandbox serve` and `trackerbridge demo`."""

from __future__ import annotations

import errno
import gc
import shlex
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import click

from trackerbridge.cli.common import (
    EXIT_CONFIG,
    PACKAGED_DEMO,
    demo_options,
    fail,
    parse_moment,
    project_dir_option,
)
from trackerbridge.cli.group import main


def export_lines(env: dict[str, str]) -> list[str]:
    """`export NAME='value'` lines safe to paste into bash or eval: single quotes, so the `!` of the
    Salesforce token is not history expansion and no value is split or expanded."""
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


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
@demo_options
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
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help='Also write the export lines here once listening, for scripts: eval "$(cat FILE)" or . FILE.',
)
@click.option(
    "--salesforce-daily-limit",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="Salesforce DailyApiRequests; past it every call gets REQUEST_LIMIT_EXCEEDED.",
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
    env_file: Path | None,
    salesforce_daily_limit: int,
) -> None:
    """Start the emulator on loopback over HTTPS and print how to connect.

    Exit codes: 0 stopped (Ctrl+C or SIGTERM), 2 a bad option, or the port is in use."""
    from trackerbridge.sandbox import Sandbox, SandboxConfig
    from trackerbridge.sandbox.faults import FaultSpecError

    try:
        config = SandboxConfig(
            host=host,
            port=port,
            seed=seed,
            size=size,
            jira_flavor=jira_flavor,
            anchor=parse_moment(anchor),
            latency_ms=latency_ms,
            faults=faults,
            data_dir=data_dir,
            daily_api_limit=salesforce_daily_limit,
        )
        sb = Sandbox(config)
    except (ValueError, FaultSpecError) as exc:
        raise click.UsageError(str(exc)) from None
    try:
        sb.start()
    except OSError as exc:
        hint = " (--port 0 picks a free one)" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else ""
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}", EXIT_CONFIG)

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
    lines = export_lines(info.as_env())
    if env_file is not None:  # whole before anything is printed: a script waiting for the output may read it at once
        partial = env_file.with_name(f".{env_file.name}.partial")
        try:
            partial.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
            partial.replace(env_file)
        except OSError as exc:
            sb.stop()
            fail(f"cannot write {env_file}: {exc.strerror or exc}", EXIT_CONFIG)
    click.echo("Connect with:")
    for line in lines:
        click.echo(f"  {line}")
    if env_file is not None:
        click.echo(f"Export lines written to {env_file}", err=True)
    click.echo(f"Endpoints and credentials: {info.url}/", err=True)
    click.echo("Press Ctrl+C to stop.", err=True)
    try:
        sb.wait()
    except KeyboardInterrupt:
        sb.stop()


@sandbox.command("reset")
@project_dir_option("Project directory whose sandbox organisation to remove.")
def reset(project_dir: Path) -> None:
    """Forget the project's sandbox organisation (what --sandbox keeps in .trackerbridge/sandbox-*):
    the next --sandbox command starts from a fresh demo organisation."""
    import shutil

    found = sorted((project_dir / ".trackerbridge").glob("sandbox-*"))
    for directory in found:
        shutil.rmtree(directory)
    if not found:
        click.echo(f"no sandbox organisation kept in {project_dir / '.trackerbridge'}; nothing to reset")
        return
    click.echo(f"removed {', '.join(str(d) for d in found)}; the next --sandbox command starts a fresh organisation")
    click.echo("the state store still remembers the old one: run the next sync with --full")


@main.command()
@demo_options
@click.option("--format", "fmt", default="table", show_default=True, help="Audit output format (see `audit`).")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the weekly page per team here (default: a new directory in the system's temporary directory).",
)
def demo(seed: int, size: int, jira_flavor: str, anchor: str | None, fmt: str, output: Path | None) -> None:
    """Start the sandbox and audit its demo organisation with the shipped files, then show slips, the health
    roll-up, the conflict review and the weekly page per team (written to files; the path is printed).

    Everything goes through the real Jira and Salesforce clients over HTTPS, as against production."""
    from trackerbridge.cli.audit import render_audit
    from trackerbridge.cli.common import load_project
    from trackerbridge.emitters.table import output_width
    from trackerbridge.sandbox.demo_screen import prose
    from trackerbridge.sandbox.runner import SandboxConfig, sandbox_environment

    if output is not None and not output.is_dir() and not output.parent.is_dir():
        fail(f"cannot write {output}: the directory {output.parent} does not exist (create it first)", EXIT_CONFIG)
    project = load_project(Path("." if Path("connectors").is_dir() else PACKAGED_DEMO))
    day = parse_moment(anchor)
    config = SandboxConfig(port=0, seed=seed, size=size, jira_flavor=jira_flavor, anchor=day)
    with sandbox_environment(config) as (sb, env):
        banner = (
            f"Sandbox: Jira {jira_flavor} and Salesforce on {sb.info.url}, demo organisation "
            f"(seed {seed}, {size} issues)"
        )
        click.echo(prose(banner, output_width(sys.stderr)), err=True, nl=False)
        now = datetime.now(timezone.utc) if day is None else day.replace(hour=9)
        try:
            render_audit(project, [], now, env, fmt, fail_on="never")
        except SystemExit as done:
            if done.code or fmt != "table":
                raise
        _showcase(project, sb, env, output)


def _showcase(project: Any, sb: Any, env: dict[str, str], output: Path | None) -> None:
    """After the table: slips, roll-ups, the weekly page per team and (after a first sync and people's edits) the
    open conflicts, each fitted to the terminal's width like the audit table."""
    import os
    import tempfile

    from trackerbridge.cli.conflicts import table
    from trackerbridge.emitters.table import output_width
    from trackerbridge.sandbox import demo_screen as screen
    from trackerbridge.sandbox.showcase import show

    out = sys.stdout
    width = output_width(out)
    color = out.isatty() and not os.environ.get("NO_COLOR")
    shown = show(project, sb, env)
    click.echo(screen.slips(shown.report, width, color), nl=False)
    click.echo(screen.rollups(shown.rollups, width), nl=False)
    directory = output if output is not None else Path(tempfile.mkdtemp(prefix="trackerbridge-demo-"))
    pages, files = write_team_pages(shown, directory, project.config.report.scorecard)
    click.echo(screen.team_pages(pages, files, str(directory), width), nl=False)
    click.echo(screen.conflicts_heading(len(shown.planted), width), nl=False)
    click.echo(table(shown.conflicts, width, color), nl=False)


def write_team_pages(shown: Any, directory: Path, configured: Any = None) -> tuple[list[Any], list[str]]:
    """The pages `report --by team` writes (HTML, Markdown, JSON, CSV per team), from the demo's first sync; no
    history yet, so each measure's trend is today's point. Returns the pages and each one's HTML file name."""
    from trackerbridge.cli.common import destination
    from trackerbridge.report.team import scorecard, team_pages
    from trackerbridge.report.team_data import csv_page, json_page
    from trackerbridge.report.team_render import html_page, markdown_page, slug

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot write {directory}: {exc.strerror or exc}", EXIT_CONFIG)
    pages = list(team_pages(shown.audit, shown.report, (), scorecard(configured)))
    names: list[str] = []
    for page in pages:
        name = slug(page.team)
        while f"{name}.html" in names:
            name += "-"
        for suffix, render in ((".html", html_page), (".md", markdown_page), (".json", json_page), (".csv", csv_page)):
            with destination(directory / f"{name}{suffix}") as fh:  # 0600, as the report: it names people
                render(page, fh)
        names.append(f"{name}.html")
    return pages, names
