"""`trackerbridge state prune`: apply the retention setting to the run history and audit log now."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from trackerbridge.cli.common import load_project, project_dir_option, state_url
from trackerbridge.cli.group import main


@main.group("state")
def state_group() -> None:
    """Look after the state store."""


@state_group.command("prune")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    metavar="DAYS",
    help="Keep runs of the last DAYS days (default: state.retention_days in trackerbridge.yaml, 90).",
)
@click.option("--dry-run", is_flag=True, help="Say what would go, remove nothing.")
@click.option(
    "--state", "given", metavar="URL", help="State store URL (default: state.url, or $TRACKERBRIDGE_STATE_URL)."
)
@project_dir_option("Project directory holding trackerbridge.yaml.")
def prune_command(days: int | None, dry_run: bool, given: str | None, project_dir: Path) -> None:
    """Remove runs older than the retention and their audit rows; the last write of each record and
    field always stays. Takes the run lock, so it never races a sync (exit 75 while one runs)."""
    from trackerbridge.state.held import held_store

    project = load_project(project_dir)
    url = given or state_url(project.root, project.config.state.url)
    keep = days or project.config.state.retention_days
    before = datetime.now(timezone.utc) - timedelta(days=keep)
    with held_store(url, project.root) as store:  # Locked (75) and store errors: `main` prints them
        runs, rows = store.prune(before, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {runs} runs and {rows} audit rows from before {before:%Y-%m-%d} (kept: {keep} days, "
        "and the last write of each record and field)"
    )
