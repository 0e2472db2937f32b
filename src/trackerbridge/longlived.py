"""Keeping CPython's garbage collector off the records a run holds on purpose.

A run keeps every initiative it reads until the rules have seen them all (some rules compare
records: capacity per owner, links between systems). Each full collection walks every container
object alive: at 100,000 Jira initiatives (about a million objects, plus every imported module)
an audit made 21 such passes of 0.1-0.3 s, a fifth of its CPU time, and the passes grow with the
run, which is why a large run cost more per record than a small one. They found nothing: what a
run keeps forms no reference cycles.

During a `long_lived()` run, what is alive when it starts, and what survives each full collection,
is moved into CPython's permanent generation (`gc.freeze`), so the next pass walks only what came
since; when the run ends everything is put back (`gc.unfreeze`). Frozen objects are still freed as
soon as nothing refers to them; only reference cycles among them wait until the run ends. A process
that froze objects itself (a pre-fork server, say) or switched the collector off keeps its own
policy: then this does nothing.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def long_lived() -> Iterator[bool]:
    """Around a run (`with long_lived():` or `@long_lived()`); says whether it took effect."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield False
        return
    gc.freeze()  # the interpreter, imports and connections: long-lived too
    gc.callbacks.append(_freeze_survivors)
    try:
        yield True
    finally:
        gc.callbacks.remove(_freeze_survivors)
        gc.unfreeze()


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    """What a full collection leaves alive during a run is held for the rest of it."""
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()
