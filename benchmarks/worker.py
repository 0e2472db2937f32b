"""One measured phase (audit, sync or baseline) in its own process, so wall time, client CPU time
and peak memory are this phase's and trackerbridge's alone (the sandbox runs in another process).

Reads a JSON job on argv[1], prints one JSON line with the measurements."""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks.baseline`


def run_phase(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one phase; returns its own measurements (wall, CPU) and what it did. Importable, so the
    smoke test can run phases in-process."""
    from trackerbridge.audit import run_audit
    from trackerbridge.config.project import Project
    from trackerbridge.state.store import StateStore
    from trackerbridge.sync import run_sync

    kind = job["kind"]
    now = datetime.fromisoformat(job["now"])
    project = Project.load(Path(job["project"]))
    names = [job["connector"]]
    profile = job.get("profile")
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    out: dict[str, Any] = {"kind": kind}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    if kind == "audit":
        result = run_audit(project, names, now, env)
        out["records"] = len(result.initiatives)
    elif kind == "sync":
        store = StateStore.open(job["state"])
        try:
            res = run_sync(project, names, now, store, env, full=bool(job.get("full")))
        finally:
            store.close()
        out.update(
            records=len(res.audit.initiatives),
            read=sum(res.read.values()),
            changes=len(res.plan.changes),
            written=res.written,
            failed=len(res.failed),
            notes=sum(len(c.notes) for c in res.plan.changes),
            stopped=res.stopped,
        )
    elif kind == "baseline":
        from benchmarks.baseline import run_baseline

        out.update(run_baseline(job, env))
    else:
        raise ValueError(kind)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    out["wall_s"] = time.perf_counter() - wall0
    out["cpu_s"] = time.process_time() - cpu0
    return out


def main() -> None:
    import os

    job = json.loads(sys.argv[1])
    out = run_phase(job, dict(os.environ))
    # ru_maxrss is in KiB on Linux: the peak of this whole process (interpreter and imports included)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
