"""The `trackerbridge` command: parses options, calls the library, renders. Nothing else.

Exit codes (documented in the README): 0 ok, 1 findings at the --fail-on threshold, 2 usage or
configuration error, 3 connector error, 4 some writes failed, 75 another run holds the lock.
"""

from __future__ import annotations

import click

from trackerbridge import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trackerbridge")
def main() -> None:
    """Keep execution conventions honest inside Jira and Salesforce."""


from trackerbridge.cli import audit, check, conflicts, report, sandbox, setup, sync  # noqa: E402  - commands register on import

__all__ = ["audit", "check", "conflicts", "main", "report", "sandbox", "setup", "sync"]
