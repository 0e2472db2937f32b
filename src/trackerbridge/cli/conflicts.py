"""`trackerbridge conflicts`: review the synced fields both sides changed, and resolve one."""

from __future__ import annotations

import io
import json
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


def table(found: Sequence[ConflictView]) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from trackerbridge.emitters.table import DEFAULT_WIDTH, clean

    def who(s: Side) -> str:
        when = s.changed_at.strftime("%Y-%m-%d %H:%M") if s.changed_at else "?"
        return clean(f"{s.changed_by or 'last activity'} {when}")

    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for column in ("field", "base", "source", "value", "changed", "target", "value ", "changed ", "links"):
        grid.add_column(column.strip())
    for v in found:
        grid.add_row(
            *(
                Text(x)
                for x in (
                    clean(v.attribute),
                    clean(str(_plain(v.base))),
                    clean(f"{v.source.system} {v.source.key}"),
                    clean(str(_plain(v.source.value))),
                    who(v.source),
                    clean(f"{v.target.system} {v.target.key}"),
                    clean(str(_plain(v.target.value))),
                    who(v.target),
                    clean(f"{v.source.url} {v.target.url}"),
                )
            )
        )
    buffer = io.StringIO()
    Console(
        file=buffer,
        width=DEFAULT_WIDTH * 2,
        force_terminal=False,
        color_system=None,
        no_color=True,
        markup=False,
        emoji=False,
        highlight=False,
    ).print(grid)
    text = "\n".join(line.rstrip(" ") for line in buffer.getvalue().split("\n"))
    return text + f"{len(found)} open conflict{'s' if len(found) != 1 else ''}\n"


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
        click.echo(table(found), nl=False)
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
