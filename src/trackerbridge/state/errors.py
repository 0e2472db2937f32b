"""The state store's errors, each with the exit code the CLI gives it."""

from __future__ import annotations

from trackerbridge.redact import mask_text

EXIT_STORE_FAILED = 5  # the store failed during a run (disk full, ...): see the recovery file
EXIT_LOCK_LOST = 6  # the run lost its PostgreSQL lock mid-run: writes stopped, the next run carries on
_RECOVER = (
    "to recover, point `state.url` (or $TRACKERBRIDGE_STATE_URL) at a new store and run `trackerbridge sync --full`: "
    "the verdict comes from the trackers, so a fresh store reaches the same result"
)


class StateStoreError(RuntimeError):
    """The store cannot be used as asked (newer schema, unknown run, bad argument). The CLI prints the
    message and exits with `exit_code`."""

    exit_code = 2


class StoreUnusable(StateStoreError):
    """Refused on open: damaged, written by a newer trackerbridge, not a trackerbridge store, or a path
    that cannot hold one. Exit 2; the message says how to recover."""


class StoreUnreachable(StateStoreError):
    """The database server cannot be reached (or refused the credentials): like an unreachable tracker, exit 3."""

    exit_code = 3


class StoreFailed(StateStoreError):
    """The store failed in the middle of a run (disk full, I/O error). What had been written to a tracker
    but not recorded is in the recovery file the message names."""

    exit_code = EXIT_STORE_FAILED


class LockLost(StateStoreError):
    """The PostgreSQL advisory lock is gone (the server restarted, the connection dropped): another runner
    may hold it now, so this run must not write again."""

    exit_code = EXIT_LOCK_LOST


def _reason(exc: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's statement dump, with any URL in them masked."""
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip().splitlines()
    return mask_text(text_[0] if text_ else type(exc).__name__)[:300]
