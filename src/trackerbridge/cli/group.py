"""The `trackerbridge` command group that every command module registers on. Apart from the package's
`__init__`, which imports the command modules, so that they need not import the package back."""

from __future__ import annotations

import sys
from typing import Any

import click

from trackerbridge import __version__
from trackerbridge.cli.common import shown_warnings


class ExitOnError(click.Group):
    """The one place an exception becomes an exit code. trackerbridge's errors carry their own
    `exit_code` (ConfigError 2, ConnectorError 3, Locked 75, the state store's 2/3/5/6, ...): the
    message goes to stderr as one line and the process exits with that code, never a traceback.
    Click's own exceptions (usage errors, --help, Abort) and exceptions without an `exit_code` pass
    through unchanged. Subcommands and subgroups all run inside this `invoke`, which also shows the
    rules' warnings once each (`common.shown_warnings`)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with shown_warnings():
                return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            code = getattr(exc, "exit_code", None)
            if not isinstance(code, int) or isinstance(code, bool):
                raise
            click.echo(str(exc), err=True)
            sys.exit(code)


@click.group(cls=ExitOnError, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trackerbridge")
def main() -> None:
    """Keep execution conventions honest inside Jira and Salesforce."""
