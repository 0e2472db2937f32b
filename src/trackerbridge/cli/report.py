"""`trackerbridge report`: the initiative-sprawl report, from the state store or a fresh pull."""

from __future__ import annotations

import os
import sys
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

HISTORY_RUNS = 20_000  # a year of 15-minute cron runs is 35,000; the report keeps one point a day anyway
# runs whose metrics may describe half a read
UNUSABLE = frozenset({"running", "crashed", "failed", "interrupted", "lock-lost", "store-failed"})
NO_STATE = (
    "no runs in the state store at {url}: run `trackerbridge sync` first, or pass --pull to read the trackers now"
)


@main.command("report")
@click.option(
    "--format",
    "fmt",
    default=None,
    metavar="FORMAT",
    help="html, markdown, json, csv or table (plugins may add more). Default: from --output's suffix "
    "(.html, .md, .json, .csv), else table on a terminal, else html.",
)
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="Write here, not stdout (with --by team: a directory, one page per team).")
@click.option("--by", "by", type=click.Choice(["team"]), default=None,
              help="One weekly page per team (HTML, Markdown, JSON and CSV) into the --output directory.")
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
    from trackerbridge.plugins import PluginError
    from trackerbridge.report.model import build_report

    try:
        formats = renderers()
    except PluginError as exc:
        fail(str(exc), EXIT_CONFIG)
    if fmt is not None and fmt not in formats:
        fail(f"unknown format {fmt!r}; choose one of {', '.join(formats)}", EXIT_CONFIG)
    now = parse_moment(as_of, "time") or datetime.now(timezone.utc)
    start = parse_moment(since, "date")
    if by is not None:
        if output is None or (output.exists() and not output.is_dir()):
            fail("--by team writes one page per team: give --output DIR (a directory)", EXIT_CONFIG)
    elif output is not None and output.is_dir():
        fail(f"--output {output} is a directory: give a file (or --by team)", EXIT_CONFIG)
    if fmt is None and by is None and output is not None:
        fmt = SUFFIXES.get(output.suffix.lower())
        if fmt is None:  # as `audit`: never guess a format the file's name does not say
            fail(f"cannot tell the format from {output.name!r}: give --format, or a suffix "
                 f"({', '.join(SUFFIXES)})", EXIT_CONFIG)
    fmt = fmt or ("table" if output is None and sys.stdout.isatty() else "html")
    if by is None:
        check_output(output)
    else:
        assert output is not None
        _check_directory(output)
    with project_environment(project_dir, sandbox_flavor) as (project, env):
        url = _state_url(project, state)
        if pull:
            result = _pull(project, now, env)
            history = read_history(url, start)
            read_at = now
        else:
            history = read_history(url, start, required=True)
            result = _from_state(project, url, now)
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


def _team_pages(result: AuditResult, report: Any, url: str, since: datetime | None, directory: Path,
                configured: Any = None) -> None:
    """<team>.html, .md, .json and .csv per team; the cross-team summary is the report without --by."""
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
        for suffix, render in ((".html", html_page), (".md", markdown_page), (".json", json_page),
                               (".csv", csv_page)):
            with destination(directory / f"{name}{suffix}") as fh:  # 0600, as the report: it names people
                render(page, fh)
        click.echo(f"{page.team}: {directory / name}.html, .md, .json, .csv")


def read_team_history(url: str, since: datetime | None) -> list[tuple[datetime, Mapping[str, Any]]]:
    """(time, per-team metrics) of past syncs that finished and stored them; none without a store."""
    from sqlalchemy.exc import SQLAlchemyError

    from trackerbridge.state.store import StateStoreError

    try:
        store = _open(url)
        if store is None:
            return []
        with store:
            runs = store.runs(limit=HISTORY_RUNS, since=since)
    except (StateStoreError, SQLAlchemyError) as exc:
        fail(f"cannot read the state store at {_safe(url)}: {exc}", EXIT_CONFIG)
    return [(r.started_at, r.metrics["teams"]) for r in runs
            if r.status not in UNUSABLE and isinstance(r.metrics.get("teams"), Mapping)]


def _state_url(project: Project, given: str | None) -> str:
    return given or state_url(project.root, project.config.state.url)


def _pull(project: Project, now: datetime, env: Mapping[str, str]) -> AuditResult:
    from trackerbridge.audit import run_audit
    from trackerbridge.config.errors import ConfigError
    from trackerbridge.connectors.base import ConnectorError
    from trackerbridge.plugins import PluginError

    try:
        with progress_bar() as progress:
            return run_audit(project, [], now, env, progress)
    except (ConfigError, PluginError) as exc:
        fail(str(exc), EXIT_CONFIG)
    except ConnectorError as exc:
        fail(str(exc), exc.exit_code)


def _open(url: str) -> Any:
    """The store, or None when it is a SQLite file that does not exist (a report never creates one)."""
    from sqlalchemy.engine import make_url

    from trackerbridge.state.store import StateStore

    parsed = make_url(url)
    db = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and db
        and db != ":memory:"
        and not db.startswith("file:")
        and not Path(db).expanduser().exists()
    ):
        return None
    return StateStore.open(url, read_only=True)  # a report never writes: also on a read-only disk


def metrics_of(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    """A run's headline figures (`report.model.headline_metrics`): under "headline" when the sync nests them, else
    the top level. Metrics without "active" were counted some other way (red over every record, say): none."""
    nested = metrics.get("headline")
    found = nested if isinstance(nested, Mapping) else metrics
    return found if "active" in found else {}


def read_history(
    url: str, since: datetime | None, *, required: bool = False
) -> list[tuple[datetime, Mapping[str, Any]]]:
    """(time, headline metrics) of past runs that finished; with `required`, no finished run is exit 2."""
    from sqlalchemy.exc import SQLAlchemyError

    from trackerbridge.state.store import StateStoreError

    try:
        store = _open(url)
        if store is None:
            runs = []
        else:
            with store:
                runs = store.runs(limit=HISTORY_RUNS, since=since)
    except StateStoreError as exc:  # says which store and what to do; unreachable is 3, like a tracker
        fail(str(exc), exc.exit_code)
    except SQLAlchemyError as exc:
        fail(f"cannot read the state store at {_safe(url)}: {_reason(exc)}", EXIT_CONFIG)
    finished = [r for r in runs if r.status not in UNUSABLE]
    if required and not finished:
        fail(NO_STATE.format(url=_safe(url)), EXIT_CONFIG)
    return [(r.started_at, m) for r in finished if (m := metrics_of(r.metrics))]


def last_read(url: str) -> datetime | None:
    """When the newest finished run started: the records in the store were read then."""
    store = _open(url)
    if store is None:
        return None
    with store:
        runs = store.runs(limit=50)
    return next((r.started_at for r in runs if r.status not in UNUSABLE), None)


def _reason(exc: Exception) -> str:
    from trackerbridge.redact import mask_text

    return mask_text(str(getattr(exc, "orig", None) or exc).splitlines()[0])[:300]


def _safe(url: str) -> str:
    from trackerbridge.redact import mask_url

    return mask_url(url)


def _from_state(project: Project, url: str, now: datetime) -> AuditResult:
    """The last read of every record (no API calls), evaluated with the project's rules as of `now`.

    Sync drift (TB113) needs the live field catalogs to resolve sync bindings, so it is only checked with --pull."""
    from sqlalchemy.exc import SQLAlchemyError

    from trackerbridge.audit import assess
    from trackerbridge.config.errors import ConfigError
    from trackerbridge.plugins import PluginError
    from trackerbridge.rules.registry import load_rules
    from trackerbridge.rules.settings import health_policy, rule_settings
    from trackerbridge.state.store import StateStoreError

    names = project.select([])
    try:
        rules = load_rules()
        settings = rule_settings(project, rules)
        store = _open(url)
        if store is None:
            fail(NO_STATE.format(url=_safe(url)), EXIT_CONFIG)
        with store:
            initiatives = [i for name in names for i in store.load_records(name)]
    except (ConfigError, PluginError) as exc:
        fail(str(exc), EXIT_CONFIG)
    except StateStoreError as exc:  # says which store and what to do; unreachable is 3, like a tracker
        fail(str(exc), exc.exit_code)
    except SQLAlchemyError as exc:
        fail(f"cannot read the state store at {_safe(url)}: {_reason(exc)}", EXIT_CONFIG)
    if not initiatives:
        fail(NO_STATE.format(url=_safe(url)), EXIT_CONFIG)
    mappings = {name: project.connectors[name].mapping for name in names}
    return assess(initiatives, rules, settings, health_policy(project), now, (), mappings)
