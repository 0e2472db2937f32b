"""`trackerbridge conflicts`: review the synced fields both sides changed, and resolve one."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from trackerbridge.cli.common import (
    EXIT_OK,
    EXIT_WRITES_FAILED,
    output_options,
    parse_moment,
    project_environment,
    project_options,
    state_url,
)
from trackerbridge.cli.group import main

if TYPE_CHECKING:  # the library loads only when a command runs
    from trackerbridge.conflicts import ConflictView, Side


def _side(s: Side) -> dict[str, Any]:
    return {
        "system": s.system,
        "connector": s.connector,
        "key": s.key,
        "url": s.url,
        "field": s.field,
        "value": _plain(s.value),
        "changed_by": s.changed_by,
        "changed_at": s.changed_at.isoformat() if s.changed_at else None,
    }


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def document(found: Sequence[ConflictView]) -> list[dict[str, Any]]:
    return [
        {"attribute": v.attribute, "base": _plain(v.base), "source": _side(v.source), "target": _side(v.target)}
        for v in found
    ]


# The review at a terminal, one line per conflict at any width: the columns narrow in this fixed order (see
# emitters.table.fit). Keys link to the records on a terminal (OSC-8); the full URLs are in --format json.
_COLUMNS = ("field", "base", "s_key", "s_value", "s_by", "s_at", "t_key", "t_value", "t_by", "t_at")
_HEADERS = {"s_key": "source", "t_key": "target", "s_value": "value", "t_value": "value"}
_HEADERS |= {f"{s}_by": "by" for s in "st"} | {f"{s}_at": "at" for s in "st"}
_GROUPS = {c: c[2:] for c in _COLUMNS if c[:2] in ("s_", "t_")}
_NARROWING: tuple[tuple[str, str, int], ...] = (
    ("short", "at", 0),  # 2026-12-04 04:50 -> 12-04 04:50
    ("shrink", "by", 12),
    ("shrink", "value", 12),
    ("short", "key", 0),  # "salesforce 0068d000000002XAAQ" -> the key alone
    ("shrink", "by", 8),
    ("shrink", "value", 8),
    ("drop", "at", 0),
    ("shrink", "by", 4),
    ("shrink", "key", 10),
    ("drop", "by", 0),
    ("shrink", "value", 1),
)
UNKNOWN = "-"  # the tracker's history does not say who (the time is then the record's last activity)


def table(found: Sequence[ConflictView], width: int | None = None, color: bool = False) -> str:
    """The open conflicts as a table fitted to `width` (default: the non-terminal width), then their count."""
    from trackerbridge.emitters.table import DEFAULT_WIDTH, clean, fit, grid

    rows: list[dict[str, str]] = []
    short: list[dict[str, str]] = []
    links: list[dict[str, str]] = []
    for v in found:
        row = {"field": clean(v.attribute), "base": clean(str(_plain(v.base)))}
        brief: dict[str, str] = {}
        link: dict[str, str] = {}
        for prefix, s in (("s_", v.source), ("t_", v.target)):
            row[f"{prefix}key"] = clean(f"{s.system} {s.key}")
            brief[f"{prefix}key"] = clean(s.key)
            link[f"{prefix}key"] = s.url
            row[f"{prefix}value"] = clean(str(_plain(s.value)))
            row[f"{prefix}by"] = clean(s.changed_by) or UNKNOWN
            row[f"{prefix}at"] = s.changed_at.strftime("%Y-%m-%d %H:%M") if s.changed_at else "?"
            brief[f"{prefix}at"] = s.changed_at.strftime("%m-%d %H:%M") if s.changed_at else "?"
        rows.append(row)
        short.append(brief)
        links.append(link)
    count = f"{len(found)} open conflict{'s' if len(found) != 1 else ''}\n"
    if not rows:
        return count
    layout = fit(rows, _COLUMNS, width or DEFAULT_WIDTH, _NARROWING, headers=_HEADERS, short=short, groups=_GROUPS)
    rendered = grid(rows, _COLUMNS, layout, headers=_HEADERS, short=short, links=links, color=color, link_ids="tbc")
    return rendered + count


@contextmanager
def _store(project_dir: Path, sandbox_flavor: str | None) -> Iterator[tuple[Any, Any, Any]]:
    from trackerbridge.state.held import held_store

    with project_environment(project_dir, sandbox_flavor) as (project, env):
        url = state_url(project.root, project.config.state.url)
        with held_store(url, project.root) as store:
            yield project, env, store


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--as-of", metavar="TIME", help="Evaluate as of this time (ISO; default now).")(command)
    command = click.option(
        "--connector", "-c", "connectors", multiple=True, metavar="NAME", help="Only these connectors."
    )(command)
    return project_options(command)


@main.group("conflicts", invoke_without_command=True)
@output_options(format_choices=["table", "json"], format_default="table")
@_common
@click.pass_context
def conflicts_command(
    ctx: click.Context,
    fmt: str,
    as_of: str | None,
    connectors: tuple[str, ...],
    project_dir: Path,
    sandbox_flavor: str | None,
) -> None:
    """List the open sync conflicts: the field, the base (last synced), each side's value, who changed it
    and when (where the tracker's history says), and links. Reads the trackers; writes nothing.

    Exit codes: 0 ok (with or without conflicts), 2 configuration, 3 connector, 75 a sync holds the lock.
    """
    if ctx.invoked_subcommand is not None:
        return
    from trackerbridge.conflicts import review

    now = parse_moment(as_of, "time") or datetime.now(timezone.utc)
    with _store(project_dir, sandbox_flavor) as (project, env, store):
        found = review(project, list(connectors), now, store, env)
    if fmt == "json":
        click.echo(json.dumps(document(found), indent=2, ensure_ascii=False))
    else:
        from trackerbridge.emitters.table import output_width

        out = sys.stdout
        color = out.isatty() and not os.environ.get("NO_COLOR")
        click.echo(table(found, output_width(out), color), nl=False)
    sys.exit(EXIT_OK)


@conflicts_command.command("resolve")
@click.argument("key")
@click.argument("field")
@click.option("--take", type=click.Choice(["jira", "salesforce"]), help="Keep this side's value.")
@click.option("--value", help="Settle on this value (one side's, as the listing shows it).")
@_common
def resolve_command(
    key: str,
    field: str,
    take: str | None,
    value: str | None,
    as_of: str | None,
    connectors: tuple[str, ...],
    project_dir: Path,
    sandbox_flavor: str | None,
) -> None:
    """Resolve the conflict on KEY (either side's record) and FIELD (the attribute or the synced field):
    written through the normal planner (owned fields only), audited in the state store, and the conflict flag
    and reason come off both records.

    Exit codes: 0 resolved, 2 no such conflict or a side trackerbridge may not write, 3 connector,
    4 the write failed, 75 a sync holds the lock.
    """
    from trackerbridge.conflicts import resolve

    now = parse_moment(as_of, "time") or datetime.now(timezone.utc)
    with _store(project_dir, sandbox_flavor) as (project, env, store):
        view, result = resolve(project, list(connectors), now, store, env, key, field, take=take, value=value)
    written = [f"{c.connector} {c.key}" for c in result.plan.changes]
    click.echo(
        f"resolved {view.attribute}: {view.target.key} takes {view.source.system}'s "
        f"{_plain(view.source.value)!r}; wrote {', '.join(written) or 'nothing'}"
    )
    sys.exit(EXIT_WRITES_FAILED if result.failed else EXIT_OK)
