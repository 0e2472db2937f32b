"""The `trackerbridge` command group that every command module registers on. Apart from the package's
`__init__`, which imports the command modules, so that they need not import the package back."""

from __future__ import annotations

import click

from trackerbridge import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trackerbridge")
def main() -> None:
    """Keep execution conventions honest inside Jira and Salesforce."""
