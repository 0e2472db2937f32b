"""One measured phase (audit, sync or baseline) in its own process, so wall time, client CPU time
and peak memory are this phase's and trackerbridge's alone (the sandbox runs in another process).

Reads a JSON job on argv[1], prints one JSON line with the measurements."""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks.baseline`


class ComputeTimer:
    """CPU time spent in mapping (`to_initiative`), rules and health (`assess`) and planning (`plan`):
    the client-side work per record, without HTTP, JSON and the state store. Wraps the functions
    where trackerbridge looks them up, for the duration of one phase."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - t0

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def __enter__(self) -> ComputeTimer:
        import trackerbridge.audit
        import trackerbridge.sync
        from trackerbridge.mapping import CompiledMapping

        self.wrap(CompiledMapping, "to_initiative")
        self.wrap(trackerbridge.audit, "assess")
        self.wrap(trackerbridge.sync, "assess")
        self.wrap(trackerbridge.sync, "plan")
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()


def run_phase(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one phase; returns its own measurements (wall, CPU) and what it did. Importable, so the
    smoke test can run phases in-process. `single_pass`: the Jira Cloud read as before issue 15's
    two-phase read (to compare wall times), for this phase only."""
    if not job.get("single_pass"):
        return _run_phase(job, env)
    from trackerbridge.connectors.jira.fetch import TwoPhaseRead

    wanted = TwoPhaseRead.wanted
    TwoPhaseRead.wanted = lambda self, ids, expand: False  # type: ignore[method-assign]
    try:
        return _run_phase(job, env)
    finally:
        TwoPhaseRead.wanted = wanted  # type: ignore[method-assign]


def _run_phase(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
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
    if job.get("tracemalloc"):  # where a phase's memory goes: the top allocations still held at its end
        import tracemalloc

        tracemalloc.start(int(job["tracemalloc"]))
    compute = ComputeTimer().__enter__() if kind != "baseline" else None
    written0 = _bytes_written()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    if kind == "audit":
        result = run_audit(project, names, now, env)
        out["records"] = len(result.initiatives)
    elif kind == "sync":
        store = StateStore.open(job["state"])
        try:
            floor = now - timedelta(minutes=2)  # as the CLI does without --as-of
            res = run_sync(
                project, names, now, store, env, full=bool(job.get("full")), watermark_floor=floor, clock=lambda: now
            )
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
        if job["connector"] == "sandbox-jira":  # the Jira Cloud bulk-edit minimum needs the plan's groups
            from trackerbridge.connectors.jira.bulk import bulk_plan

            plan = bulk_plan(res.plan.changes)
            out["jira_bulk"] = {"tasks": list(plan.tasks), "stamped": plan.stamped, "puts": plan.puts}
    elif kind == "baseline":
        from benchmarks.baseline import run_baseline

        out.update(run_baseline(job, env))
    else:
        raise ValueError(kind)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    if job.get("tracemalloc"):
        import tracemalloc

        held = tracemalloc.take_snapshot().statistics("traceback" if int(job["tracemalloc"]) > 1 else "lineno")
        out["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
        out["tracemalloc_top"] = [
            {"mb": round(st.size / 1e6, 1), "count": st.count, "where": [str(f) for f in st.traceback][-6:]}
            for st in held[:25]
        ]
        tracemalloc.stop()
    out["wall_s"] = time.perf_counter() - wall0
    out["cpu_s"] = time.process_time() - cpu0
    written = _bytes_written()
    if written is not None and written0 is not None:
        out["written_mb"] = round((written - written0) / 1e6, 1)
    if compute is not None:
        compute.__exit__()
        out["compute_s"] = compute.seconds
        out["compute_us_per_record"] = round(compute.seconds / max(out.get("records", 0), 1) * 1e6, 1)
    return out


def _bytes_written() -> int | None:
    """Bytes this process handed to write() so far (Linux `/proc/self/io` wchar: the state store's
    SQLite file and WAL, mostly), or None where that is not available."""
    try:
        with open("/proc/self/io") as io:
            return next(int(line.split(":")[1]) for line in io if line.startswith("wchar:"))
    except (OSError, StopIteration, ValueError):
        return None


def main() -> None:
    import os

    job = json.loads(sys.argv[1])
    out = run_phase(job, dict(os.environ))
    # ru_maxrss is in KiB on Linux: the peak of this whole process (interpreter and imports included)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
