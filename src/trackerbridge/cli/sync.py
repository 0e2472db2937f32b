"""`trackerbridge sync`: the cron job."""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from trackerbridge.cli.common import (
    EXIT_CONNECTOR,
    EXIT_WRITES_FAILED,
    exit_for,
    fail,
    output_options,
    parse_moment,
    project_environment,
    project_options,
    state_url,
    warnings_to,
)
from trackerbridge.cli.group import main


class Logger:
    """Human lines on a terminal, JSON lines with --log-format json; both on stderr. Never secrets:
    only counts, names and messages that connectors already scrubbed."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.run = uuid.uuid4().hex[:12]

    def __call__(self, event: str, **fields: Any) -> None:
        if self.fmt == "json":
            record = {"time": datetime.now(timezone.utc).isoformat(), "run": self.run, "event": event, **fields}
            click.echo(json.dumps(record, default=str, sort_keys=True), err=True)
        else:
            detail = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            click.echo(f"{event}: {detail}", err=True)


@main.command("sync")
@click.option("--dry-run", is_flag=True, help="Print the exact change set and write nothing.")
@click.option("--connector", "-c", "connectors", multiple=True, metavar="NAME", help="Only these connectors.")
@click.option("--full", is_flag=True, help="Ignore watermarks: read every record in scope.")
@output_options(fail_on="never", fail_on_help="Also exit 1 when any initiative is at least this unhealthy.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--as-of", metavar="TIME", help="Evaluate as of this time (ISO; default now).")
@project_options
def sync_command(**options: Any) -> None:
    """Write health back and sync mapped fields: incremental, idempotent, safe to run from cron.

    Exit codes: 0 ok, 1 findings at --fail-on, 2 configuration (or an unusable state store), 3 connector
    (or an unreachable state store), 4 some writes failed, 5 the state store failed mid-run, 6 the run
    lost its lock, 75 another sync holds the lock, 130/143 stopped by SIGINT/SIGTERM.
    """
    from trackerbridge.interrupt import Interrupted, stop_on_signals

    try:
        with stop_on_signals():
            _sync(**options)  # the options by name, typed there
    except Interrupted as exc:
        fail(
            f"trackerbridge sync: stopped by {exc.name}; the writes made are recorded, the run is marked "
            "interrupted and the lock released; the next run carries on",
            exc.exit_code,
        )


def _sync(
    dry_run: bool,
    connectors: tuple[str, ...],
    full: bool,
    fail_on: str,
    log_format: str,
    as_of: str | None,
    project_dir: Path,
    sandbox_flavor: str | None,
) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from trackerbridge.redact import mask_text
    from trackerbridge.state.store import EXIT_STORE_FAILED
    from trackerbridge.sync import locked_sync

    moment = parse_moment(as_of, "time")
    log = Logger(log_format)
    started = time.monotonic()
    with (
        project_environment(project_dir, sandbox_flavor) as (project, env),
        warnings_to(lambda text: log("warning", message=text)),
    ):
        url = state_url(project.root, project.config.state.url)
        try:
            result = locked_sync(project, connectors, url, env, as_of=moment, dry_run=dry_run, full=full, log=log)
        # Locked, configuration, connector and store errors carry their exit code: `main` prints them.
        except SQLAlchemyError as exc:  # one the store did not classify: still a message, never a traceback
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            fail(f"the state store failed during the run: {mask_text(reason)[:300]}", EXIT_STORE_FAILED)
    if dry_run:
        for line in describe_plan(result.plan):
            click.echo(line)
    for conflict in result.plan.conflicts:
        log(
            "conflict",
            source=conflict.source,
            target=conflict.target,
            attribute=conflict.attribute,
            source_value=str(conflict.source_value),
            target_value=str(conflict.target_value),
        )
    for held in result.plan.held:
        log("sync-held", source=held.source, target=held.target, attribute=held.attribute, reason=held.reason)
    for outcome in result.deleted:
        log("record-deleted", connector=outcome.connector, key=outcome.key, error=outcome.error)
    for outcome in result.failed:
        log("write-failed", connector=outcome.connector, key=outcome.key, error=outcome.error)
    log(
        "summary",
        dry_run=dry_run,
        run_id=result.run_id,
        records=len(result.audit.initiatives),
        read=sum(result.read.values()),
        changes=len(result.plan.changes),
        written=result.written,
        failed=len(result.failed),
        deleted=len(result.deleted),
        conflicts=len(result.plan.conflicts),
        held=len(result.plan.held),
        rule_crashed=len(result.crashed),
        api_calls=sum(result.api_calls.values()),
        seconds=round(time.monotonic() - started, 2),
        stopped=result.stopped,
    )
    if log_format == "text" or sys.stdout.isatty():
        click.echo(closing_sentence(result))
    if result.stopped:
        sys.exit(EXIT_CONNECTOR)
    if result.failed:
        sys.exit(EXIT_WRITES_FAILED)
    sys.exit(exit_for(result.audit.worst().rank, fail_on))


def closing_sentence(result: Any) -> str:
    """What the run did, for a person: besides the logs, the one line to read at a terminal."""
    from trackerbridge.health import Flag

    flags = result.audit.flag_counts()
    turned = sum(n.kind == "turned-red" for c in result.plan.changes for n in c.notes)
    health = f"{flags.get(Flag.RED, 0)} red, {turned} turned red"
    per: dict[str, int] = {}
    for endpoint, n in result.api_calls.items():  # keyed "connector METHOD path"
        name = endpoint.split(" ", 1)[0]
        per[name] = per.get(name, 0) + n
    calls = sorted(per.items())
    if calls and len({n for _, n in calls}) == 1:
        api = f"{_count(calls[0][1], 'API call')} per connector"
    else:
        api = "API calls: " + (", ".join(f"{name} {n}" for name, n in calls) or "none")
    conflicts = _count(len(result.plan.conflicts), "conflict")
    if result.plan.held:  # synced values not written (unreadable, empty, a person without an account)
        conflicts += f"; {_count(len(result.plan.held), 'synced value')} held (see sync-held)"
    if result.dry_run:
        records = _count(len(result.plan.changes), "record")
        head = f"would write to {records} ({health}); nothing written to the trackers"
    else:
        head = f"wrote health to {_count(result.written, 'record')}: {health}"
        if result.failed:
            head += f"; {_count(len(result.failed), 'write')} failed"
    if result.crashed:  # a rule raised: those records' health is incomplete, so nothing was written to them
        conflicts += f"; {_count(len(result.crashed), 'record')} held: a rule crashed (see rule-crashed)"
    tail = f"; stopped early: {result.stopped}" if result.stopped else ""
    return f"{head}; {conflicts}; {api}{tail}"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def describe_plan(planned: Any) -> list[str]:
    """The change set, one line per record, by connector and key in natural order (DEL-2 before DEL-10),
    values whole: exactly what a real run then writes."""
    from trackerbridge.emitters.json import natural

    lines = []
    for c in sorted(planned.changes, key=lambda c: (natural(c.connector), natural(c.key))):
        parts = [f"{f.name}: {_show(f.before)} -> {_show(f.after)}" for f in c.fields]
        if c.add_labels or c.remove_labels:
            parts.append("labels " + " ".join([*(f"+{x}" for x in c.add_labels), *(f"-{x}" for x in c.remove_labels)]))
        parts += [f"note ({n.kind})" for n in c.notes]
        lines.append(f"{c.connector} {c.key}: " + "; ".join(parts))
    for held in planned.held:
        lines.append(f"held {held.target} {held.attribute}: {held.reason}")
    lines.append(
        f"{len(planned.changes)} records to change, {len(planned.conflicts)} conflicts "
        "(dry run: nothing written to the trackers)"
    )
    return lines


def _show(value: Any) -> str:
    from trackerbridge.model import Person

    if isinstance(value, Person):
        return value.email or value.label
    return repr(value) if value is not None else "∅"
