"""The `trackerbridge` command: parses options, calls the library, renders. Nothing else.

Exit codes (documented in the README): 0 ok, 1 findings at the --fail-on threshold, 2 usage or
configuration error (or an unusable state store), 3 connector error (or an unreachable state store),
4 some writes failed, 5 the state store failed mid-run, 6 the run lost its lock, 75 another run holds
the lock, 130/143 stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import click

from trackerbridge import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trackerbridge")
def main() -> None:
    """Keep execution conventions honest inside Jira and Salesforce."""


from trackerbridge.cli import (  # noqa: E402  - commands register on import
    audit,
    check,
    conflicts,
    report,
    sandbox,
    setup,
    state,
    sync,
)

__all__ = ["audit", "check", "conflicts", "main", "report", "sandbox", "setup", "state", "sync"]
