"""The `trackerbridge` command: parses options, calls the library, renders. Nothing else.

Exit codes (documented in the README): 0 ok, 1 findings at the --fail-on threshold, 2 usage or
configuration error (or an unusable state store), 3 connector error (or an unreachable state store),
4 some writes failed, 5 the state store failed mid-run, 6 the run lost its lock, 75 another run holds
the lock, 130/143 stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

from trackerbridge.cli import (  # commands register on `main` on import
    audit,
    check,
    conflicts,
    report,
    sandbox,
    setup,
    state,
    sync,
)
from trackerbridge.cli.group import main

__all__ = ["audit", "check", "conflicts", "main", "report", "sandbox", "setup", "state", "sync"]
