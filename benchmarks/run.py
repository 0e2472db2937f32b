"""trackerbridge benchmarks (issue 7): API calls against the theoretical minimum, and speed against
the scripts people write instead. One command:

    python benchmarks/run.py [--sizes 1000,10000,100000] [--latency 20] [--out benchmarks/results.json]

Per size, one sandbox process per Jira flavour (`trackerbridge sandbox serve`); its Salesforce
org is benchmarked with the Cloud sandbox. Every measured phase runs in a fresh child process
(`benchmarks/worker.py`), so wall time, CPU time and peak RSS are trackerbridge's alone.
Call counts come from the sandbox's own accounting (`/_sandbox/requests`)."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Page sizes and batch limits of the real APIs (not of our connectors): the minimum is computed from these.
JIRA_CLOUD_PAGE = 100  # enhanced search (search/jql) with fields
JIRA_IDS_PAGE = 5000  # enhanced search, ids only (the two-phase read's first phase)
JIRA_FETCH = 100  # bulk fetch (issue/bulkfetch) by default, and whenever changelogs are read
JIRA_FETCH_EFFICIENT = 1000  # bulk fetch with explicit fields, none multi-valued, no changelog (the demo's qualify)
JIRA_DC_PAGE = 1000  # Data Center search, default jira.search.views.default.max
SF_QUERY_PAGE = 2000  # Salesforce query / queryMore batch
SF_COLLECTION = 200  # composite/sobjects records per collection
SF_COMPOSITE = 5 * SF_COLLECTION  # records per API call: 5 collections in one Composite request
# Fixed calls a cold client cannot avoid, counted in the minimum of full reads (see README): Jira
# serverInfo (flavour), field (resolve field names to ids); Salesforce: describe of the sObject
# (resolve field names, check they are updateable). A later run can keep what they said.
JIRA_FIXED = {"serverInfo", "field"}
# Salesforce: the object's describe, and who we are (UserInfo; a password or JWT sign-in learns it
# from the token answer): records last changed by that user were changed by trackerbridge itself.
SF_FIXED = {"describe", "userinfo"}

JIRA = "sandbox-jira"
SALESFORCE = "sandbox-salesforce"
SCOPE_JQL = "project in (OPS, DEL)"


# --- the sandbox ------------------------------------------------------------------------------------


class SandboxProcess:
    """`trackerbridge sandbox serve --port 0` in its own process; `.env` is what it prints to export."""

    def __init__(self, size: int, latency_ms: int, flavor: str) -> None:
        self.flavor = flavor
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cmd = [
            sys.executable,
            "-m",
            "trackerbridge",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--size",
            str(size),
            "--latency",
            str(latency_ms),
            "--jira-flavor",
            flavor,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.env: dict[str, str] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("export "):
                name, _, value = line[len("export ") :].partition("=")
                self.env[name] = shlex.split(value)[0]  # printed quoted for bash
                if name == "TB_SANDBOX_CA_BUNDLE":
                    break
        if "TB_SANDBOX_CA_BUNDLE" not in self.env:
            raise RuntimeError(f"the sandbox did not start: {cmd}")
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
        self.session.verify = self.env["TB_SANDBOX_CA_BUNDLE"]

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        r = self.session.request(method, f"{self.env['TB_SANDBOX_JIRA_URL']}/_sandbox/{path}", json=body, timeout=60)
        r.raise_for_status()
        return r.json() if r.content else None

    def close(self) -> None:
        self.session.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def subprocess_runner(env: dict[str, str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def run(job: dict[str, Any]) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, str(HERE / "worker.py"), json.dumps(job)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if out.returncode != 0:
            raise RuntimeError(f"phase {job['kind']} failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    return run


# --- accounting -------------------------------------------------------------------------------------


JIRA_WRITE_GETS = ("/bulk/queue/", "/task/", "/mypermissions", "/context")
"""Jira GETs that serve a write, not the read: bulk edit's polls and task polls, the Bulk change permission,
the select options' ids (issue 15)."""


def is_write(method: str, endpoint: str) -> bool:
    if method == "GET":
        return any(p in endpoint for p in JIRA_WRITE_GETS)
    return not (method == "POST" and ("search" in endpoint or endpoint.endswith(("/query", "/bulkfetch"))))


def calls(target: Any) -> dict[str, Any]:
    """The sandbox's accounting since the last reset, split into reads and writes by endpoint."""
    summary = target.admin("GET", "requests")
    reads: dict[str, int] = {}
    writes: dict[str, int] = {}
    for row in summary["by_endpoint"]:
        key = f"{row['service']} {row['method']} {row['endpoint']}"
        if row["status"] != 200 and row["status"] != 201 and row["status"] != 204:
            key += f" [{row['status']}]"
        bucket = writes if is_write(row["method"], row["endpoint"]) else reads
        bucket[key] = bucket.get(key, 0) + row["count"]
    return {
        "reads": sum(reads.values()),
        "writes": sum(writes.values()),
        "read_endpoints": reads,
        "write_endpoints": writes,
    }


def fixed_calls(read_endpoints: dict[str, int], fixed: set[str]) -> int:
    return sum(
        n
        for k, n in read_endpoints.items()
        if any(k.rstrip("/").split("/")[-1].startswith(f) or f"/{f}" in k for f in fixed)
    )


# --- the minimum ------------------------------------------------------------------------------------


def read_page(system: str, flavor: str) -> int:
    if system == "salesforce":
        return SF_QUERY_PAGE
    return JIRA_CLOUD_PAGE if flavor == "cloud" else JIRA_DC_PAGE


def minimum(
    system: str, flavor: str, records: int, writes: int, notes: int, cold: bool = True, batch: int = JIRA_FETCH
) -> dict[str, int]:
    """Theoretical minimum calls: the fixed calls (only on a cold start: what they say can be kept
    between runs), the fewest search calls for the records (at least one, to learn there is nothing),
    and writes at the APIs' batch limits. Jira Cloud reads min(ceil(N/100), ceil(N/5000) + ceil(N/B)):
    one pass of 100 a page, or ids only (5000 a page) then bulk fetch of B (issue 15; B is 100 when
    changelogs are read, so the single pass is the minimum then). Jira can add a comment in the same edit
    (`update.comment`), so a turned-red note costs no extra call; Salesforce updates and Tasks go 1000 a
    call (Composite: 5 collections of 200)."""
    fixed = 0 if not cold else len(JIRA_FIXED) if system == "jira" else len(SF_FIXED)
    pages = max(1, math.ceil(records / read_page(system, flavor)))
    if system == "jira" and flavor == "cloud":
        pages = min(pages, max(1, math.ceil(records / JIRA_IDS_PAGE)) + math.ceil(records / batch))
    w = writes if system == "jira" else math.ceil(writes / SF_COMPOSITE) + math.ceil(notes / SF_COMPOSITE)
    return {"fixed": fixed, "pages": pages, "reads": fixed + pages, "writes": w}


def jira_cloud_writes(plan: dict[str, Any], polls: int = 1) -> dict[str, int]:
    """Jira Cloud writes through bulk edit (issue 15), each part counted on its own: `bulk`, the sum over task
    groups of ceil(W_g/1000) x (1 + polls); `stamps`, the activity stamps' ceil(S/100) x (1 + polls) (bulk set
    issue properties, polled: the issue's formula predates the stamps, which a script without trackerbridge's
    activity clock does not pay); `puts`, one PUT per change whose note (or synced field) cannot ride in a bulk
    edit, and per change of a group that costs fewer calls as PUTs than in bulk (`bulk.choose`). The worker
    groups the plan (`bulk.bulk_plan`)."""
    from trackerbridge.connectors.jira.bulk import BulkPlan, minimum_calls

    plan_ = BulkPlan(tuple(plan["tasks"]), int(plan["stamped"]), int(plan["puts"]))
    bulk = minimum_calls(plan_.tasks, 0, polls)
    stamps = minimum_calls((), plan_.stamped, polls)
    out = {"bulk": bulk, "stamps": stamps, "puts": plan_.puts, "writes": bulk + stamps + plan_.puts}
    assert out["writes"] == plan_.calls(polls)
    return out


# --- people editing records ------------------------------------------------------------------------


@dataclass
class People:
    """Edits through the trackers' APIs as a person would (a demo user in Jira; Salesforce's API)."""

    env: dict[str, str]
    flavor: str
    jira_keys: list[str] = field(default_factory=list)
    sf_ids: list[str] = field(default_factory=list)
    person: str = ""

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
        s.verify = self.env["TB_SANDBOX_CA_BUNDLE"]
        return s

    def load(self) -> None:
        s = self.session()
        url = f"{self.env['TB_SANDBOX_JIRA_URL']}/rest/api/2"
        auth = (self.env["TB_SANDBOX_JIRA_EMAIL"], self.env["TB_SANDBOX_JIRA_TOKEN"])
        users = s.get(
            f"{url}/user/search", params={"query": "example", "username": ".", "maxResults": 50}, auth=auth, timeout=60
        ).json()
        bot = self.env["TB_SANDBOX_JIRA_EMAIL"]
        for u in users:
            ident = u.get("emailAddress") if self.flavor == "cloud" else u.get("name")
            if ident and "bot" not in ident and ident != bot:
                self.person = ident
                break
        self.jira_keys = []
        token: str | None = None
        start = 0
        while True:
            if self.flavor == "cloud":
                params: dict[str, Any] = {"jql": f"{SCOPE_JQL} ORDER BY key ASC", "fields": "key", "maxResults": 5000}
                if token:
                    params["nextPageToken"] = token
                body = s.get(f"{url}/search/jql", params=params, auth=auth, timeout=120).json()
            else:
                params = {"jql": f"{SCOPE_JQL} ORDER BY key ASC", "fields": "key", "maxResults": 1000, "startAt": start}
                body = s.get(f"{url}/search", params=params, auth=auth, timeout=120).json()
            issues = body.get("issues", [])
            self.jira_keys += [i["key"] for i in issues]
            if self.flavor == "cloud":
                token = body.get("nextPageToken")
                if not token or body.get("isLast"):
                    break
            else:
                start += len(issues)
                if not issues or start >= body.get("total", 0):
                    break
        sf = f"{self.env['TB_SANDBOX_SF_URL']}/services/data/v59.0"
        headers = {"Authorization": f"Bearer {self.env['TB_SANDBOX_SF_TOKEN']}"}
        body = s.get(
            f"{sf}/query", params={"q": "SELECT Id FROM Opportunity ORDER BY Id"}, headers=headers, timeout=120
        ).json()
        self.sf_ids = [r["Id"] for r in body["records"]]
        while not body.get("done", True):
            body = s.get(
                f"{self.env['TB_SANDBOX_SF_URL']}{body['nextRecordsUrl']}", headers=headers, timeout=120
            ).json()
            self.sf_ids += [r["Id"] for r in body["records"]]

    @staticmethod
    def pick(items: list[str], fraction: float, offset: int) -> list[str]:
        n = max(1, round(len(items) * fraction))
        step = len(items) / n
        return [items[(int(i * step) + offset) % len(items)] for i in range(n)]

    def edit_jira(self, fraction: float, offset: int) -> int:
        keys = self.pick(self.jira_keys, fraction, offset)
        url = f"{self.env['TB_SANDBOX_JIRA_URL']}/rest/api/2/issue"
        auth = (self.person, self.env["TB_SANDBOX_JIRA_TOKEN"])

        def edit(batch: list[str]) -> None:
            s = self.session()
            for i, key in enumerate(batch):
                # a person's edits: a label of their own, and every other one drops the due date
                body: dict[str, Any] = {"update": {"labels": [{"add": f"edited-{offset}"}]}}
                if i % 2 == 0:
                    body["fields"] = {"duedate": None}
                r = s.put(f"{url}/{key}", json=body, auth=auth, timeout=60)
                r.raise_for_status()

        self._parallel(keys, edit)
        return len(keys)

    def edit_salesforce(self, fraction: float, offset: int) -> int:
        ids = self.pick(self.sf_ids, fraction, offset)
        url = f"{self.env['TB_SANDBOX_SF_URL']}/services/data/v59.0/sobjects/Opportunity"
        headers = {"Authorization": f"Bearer {self.env['TB_SANDBOX_SF_TOKEN']}"}

        def edit(batch: list[str]) -> None:
            s = self.session()
            for i, rid in enumerate(batch):
                body: dict[str, Any] = {"Amount": 250000 + offset} if i % 2 == 0 else {"StageName": "Prospecting"}
                s.patch(f"{url}/{rid}", json=body, headers=headers, timeout=60).raise_for_status()

        self._parallel(ids, edit)
        return len(ids)

    @staticmethod
    def _parallel(items: list[str], fn: Callable[[list[str]], None], workers: int = 8) -> None:
        chunks = [items[i::workers] for i in range(workers) if items[i::workers]]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fn, chunks))


# --- one connector's run of phases ------------------------------------------------------------------


def project_copy(directory: Path) -> Path:
    for part in ("connectors", "mappings"):
        shutil.copytree(ROOT / part, directory / part)
    shutil.copy(ROOT / "trackerbridge.yaml", directory / "trackerbridge.yaml")
    return directory


class Clock:
    """The sandbox's clock, pinned, moved forward between phases (records' `updated` times)."""

    def __init__(self, target: Any, start: datetime | None = None) -> None:
        self.target = target
        self.now = start or datetime.now(timezone.utc).replace(second=0, microsecond=0)
        self.target.admin("PUT", "clock", {"now": self.now.isoformat()})

    def advance(self, minutes: int = 5) -> str:
        self.now += timedelta(minutes=minutes)
        self.target.admin("PUT", "clock", {"now": self.now.isoformat()})
        return self.now.isoformat()


def bench_connector(
    target: Any,
    runner: Callable[[dict[str, Any]], dict[str, Any]],
    people: People,
    system: str,
    flavor: str,
    size: int,
    workdir: Path,
    *,
    baseline: bool = True,
    profile_dir: Path | None = None,
    log: Callable[[str], None] = print,
    start: datetime | None = None,
    audit_only: bool = False,
    efficient: bool = True,
    first_sync_only: bool = False,
) -> list[dict[str, Any]]:
    """Audit, first sync, incremental syncs (echo of our own writes, no change, 1% and 10% changed)
    and the baseline scripts (naive, and the efficient one where bulk writes exist), for one connector; each
    phase's calls, time, memory and minimum."""
    connector = JIRA if system == "jira" else SALESFORCE
    project = project_copy(workdir / f"project-{system}-{flavor}")
    state = f"sqlite:///{workdir / f'state-{system}-{flavor}.db'}"
    clock = Clock(target, start)
    population = len(people.jira_keys) if system == "jira" else len(people.sf_ids)
    edit = people.edit_jira if system == "jira" else people.edit_salesforce
    results: list[dict[str, Any]] = []

    def phase(case: str, kind: str, changed: int | None, **job: Any) -> dict[str, Any]:
        target.admin("DELETE", "requests")
        job = {
            "kind": kind,
            "project": str(project),
            "connector": connector,
            "state": state,
            "now": clock.now.isoformat(),
            **job,
        }
        if "in_project" in job:
            job["project"] = str(job.pop("in_project"))
        out = runner(job)
        counted = calls(target)
        records = out.get("records", 0)
        read = out.get("read", records)
        # the minimum reads the records that must be read: all of them on a full read, only the
        # ones people changed on an incremental one (re-reading our own writes is not needed)
        must_read = population if changed is None else changed
        writes = out.get("changes", 0) if kind == "sync" else 0
        mini = minimum(
            system,
            flavor,
            must_read,
            writes,
            out.get("notes", 0),
            cold=changed is None,
            batch=job.get("batch", JIRA_FETCH),
        )
        if system == "jira" and flavor == "cloud" and out.get("jira_bulk"):
            mini.update(jira_cloud_writes(out["jira_bulk"]))
        row = {
            "system": system if system == "salesforce" else f"jira-{flavor}",
            "case": case,
            "size": size,
            "population": population,
            "changed_by_people": changed,
            "records_read": read,
            "echo_read": (read - changed) if changed is not None else None,
            **out,
            **counted,
            "minimum": mini,
            "read_ratio": round(counted["reads"] / mini["reads"], 3),
            "write_ratio": round(counted["writes"] / mini["writes"], 3) if mini["writes"] else None,
            "cpu_us_per_record": round(out["cpu_s"] / max(records, 1) * 1e6, 1),
        }
        results.append(row)
        log(
            f"  {row['system']:<16} {case:<14} reads {counted['reads']:>6} (min {mini['reads']:>5}) "
            f"writes {counted['writes']:>6} (min {mini['writes']:>5}) wall {out['wall_s']:7.2f}s "
            f"rss {out.get('peak_rss_mb', 0):6.0f}MB"
        )
        return row

    if not first_sync_only:
        phase("audit", "audit", None)
    if system == "jira" and flavor == "cloud" and not first_sync_only:  # the two-phase read: no changelogs
        bare = project_copy(workdir / f"project-{system}-{flavor}-nohistory")
        spec = bare / "mappings" / "demo-jira.yaml"
        spec.write_text(spec.read_text().replace("\nhistory: true", "\nhistory: false"))
        phase("audit-nohistory", "audit", None, in_project=bare, batch=JIRA_FETCH_EFFICIENT)
        phase("audit-nohistory-single", "audit", None, in_project=bare, batch=JIRA_FETCH_EFFICIENT, single_pass=True)
    if profile_dir is not None:  # a separate, profiled audit: cProfile's overhead stays out of the measured one
        phase("audit-profiled", "audit", None, profile=str(profile_dir / f"{system}-{flavor}-{size}-audit.prof"))
    if audit_only:
        return results
    clock.advance()
    phase("sync-full", "sync", None, full=True)
    if first_sync_only:  # e.g. the 100,000 first sync's memory
        return results
    clock.advance()
    phase("sync-echo", "sync", 0)  # right after the first sync: nobody changed anything, we re-read our writes
    clock.advance()
    phase("sync-nochange", "sync", 0)
    for pct, offset in ((1, 1), (10, 3)):
        clock.advance()
        n = edit(pct / 100, offset)
        clock.advance()
        phase(f"sync-{pct}pct", "sync", n)
        clock.advance()
        phase(f"sync-{pct}pct-echo", "sync", 0)
    kw = {"system": system, "jql": SCOPE_JQL, "sobject": "Opportunity"}
    ours = next(r for r in results if r["case"] == "sync-10pct")
    scripts = [("baseline-10pct", {})] if baseline else []
    if efficient and (system == "salesforce" or flavor == "cloud"):  # Jira's efficient script needs bulk edit
        scripts.append(("efficient-10pct", {"efficient": True}))
    for case, extra in scripts:
        clock.advance()
        phase(case, "baseline", None, **kw, **extra)
        base = results[-1]
        base["ours_over_baseline"] = {
            "calls": round((ours["reads"] + ours["writes"]) / max(base["reads"] + base["writes"], 1), 4),
            "wall": round(ours["wall_s"] / max(base["wall_s"], 1e-9), 4),
        }
        if case.startswith("efficient"):  # stateless: each of its runs is a full read and a write of every record
            base["ours_over_efficient"] = {
                r["case"]: {
                    "reads": round(r["reads"] / max(base["reads"], 1), 4),
                    "writes": round(r["writes"] / max(base["writes"], 1), 4),
                    "calls": round((r["reads"] + r["writes"]) / max(base["reads"] + base["writes"], 1), 4),
                    "wall": round(r["wall_s"] / max(base["wall_s"], 1e-9), 4),
                }
                for r in results
                if r["case"] in ("sync-full", "sync-10pct")
            }
    return results


# --- targets ----------------------------------------------------------------------------------------


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 7's targets, met or missed, per row they apply to."""
    out = []

    def check(row: dict[str, Any], name: str, ok: bool, detail: str) -> None:
        out.append(
            {
                "system": row["system"],
                "size": row["size"],
                "case": row["case"],
                "target": name,
                "met": ok,
                "detail": detail,
            }
        )

    for r in rows:
        if r["case"].endswith("-profiled"):
            continue
        if r["kind"] == "baseline" and r["case"].startswith("efficient"):
            ratio = r["ours_over_baseline"]
            check(
                r,
                "calls <= 1.0x the efficient script's",
                ratio["calls"] <= 1.0,
                f"ours/efficient calls {ratio['calls']}",
            )
            check(r, "faster than the efficient script", ratio["wall"] < 1.0, f"ours/efficient wall {ratio['wall']}")
            for case, each in (r.get("ours_over_efficient") or {}).items():  # Jira: per phase of ours (issue 15)
                check(
                    r,
                    f"{case}: calls <= 1.0x the efficient script's",
                    each["calls"] <= 1.0,
                    f"ours/efficient calls {each['calls']} (reads {each['reads']}, writes {each['writes']})",
                )
                check(
                    r,
                    f"{case}: faster than the efficient script",
                    each["wall"] < 1.0,
                    f"ours/efficient wall {each['wall']}",
                )
            continue
        if r["kind"] == "baseline":
            ratio = r["ours_over_baseline"]
            check(r, ">=10x fewer calls than baseline", ratio["calls"] <= 0.1, f"ours/baseline calls {ratio['calls']}")
            check(r, ">=5x less wall time than baseline", ratio["wall"] <= 0.2, f"ours/baseline wall {ratio['wall']}")
            continue
        if r["case"] in ("audit", "sync-full"):
            check(
                r,
                "reads <= 1.05 x minimum",
                r["read_ratio"] <= 1.05,
                f"{r['reads']} reads, minimum {r['minimum']['reads']}",
            )
        if r["case"] == "audit-nohistory":
            check(
                r,
                "full read without changelogs <= 1.1 x the two-phase minimum",
                r["read_ratio"] <= 1.1,
                f"{r['reads']} reads, minimum {r['minimum']['reads']}",
            )
        if r["case"] in ("sync-nochange", "sync-echo") or r["case"].endswith("-echo"):
            search = r["reads"] - fixed_calls(
                r["read_endpoints"], JIRA_FIXED if r["system"] != "salesforce" else SF_FIXED
            )
            check(
                r,
                "no change: <= 1 read call per scope",
                r["reads"] <= 1,
                f"{r['reads']} reads ({r['reads'] - search} fixed, {search} other); {r['echo_read']} records re-read",
            )
            check(r, "no change: no writes", r["writes"] == 0, f"{r['writes']} writes")
        if r["kind"] == "sync" and r.get("changes"):
            check(
                r,
                "writes at the minimum (Jira 1/changed issue, SF ceil(W/1000))",
                r["writes"] <= r["minimum"]["writes"],
                f"{r['writes']} writes for {r['changes']} changed records, minimum {r['minimum']['writes']}",
            )
        if r["case"] in ("audit", "sync-full") and r["records"] >= 1000 and "compute_us_per_record" in r:
            check(
                r,
                "mapping+rules+planning CPU < 50 us/record",
                r["compute_us_per_record"] < 50,
                f"{r['compute_us_per_record']} us/record (whole process: {r['cpu_us_per_record']} us/record "
                "incl. HTTP, JSON, state store)",
            )
        if r["case"] == "audit" and r["size"] >= 100_000:
            check(r, "audit of 100k < 400 MB peak", r.get("peak_rss_mb", 0) < 400, f"{r.get('peak_rss_mb')} MB")
    return out


# --- the table ------------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "system",
        "N",
        "case",
        "read",
        "reads",
        "min",
        "ratio",
        "writes",
        "min",
        "ratio",
        "wall s",
        "cpu us/rec",
        "compute us/rec",
        "rss MB",
        "written MB",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m = r["minimum"]
        lines.append(
            "| "
            + " | ".join(
                str(x)
                for x in (
                    r["system"],
                    r["size"],
                    r["case"],
                    r["records_read"],
                    r["reads"],
                    m["reads"],
                    r["read_ratio"],
                    r["writes"],
                    m["writes"] if r["kind"] != "baseline" else "-",
                    r["write_ratio"] or "-",
                    f"{r['wall_s']:.2f}",
                    r["cpu_us_per_record"],
                    r.get("compute_us_per_record", "-"),
                    round(r.get("peak_rss_mb", 0)),
                    r.get("written_mb", "-"),
                )
            )
            + " |"
        )
    return "\n".join(lines)


def baseline_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| system | N | script | ours calls | its calls | ours/its calls | ours wall s | its wall s | ours/its wall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in (r for r in rows if r["kind"] == "baseline"):
        ours = next(
            r for r in rows if r["system"] == b["system"] and r["size"] == b["size"] and r["case"] == "sync-10pct"
        )
        script = "efficient" if b["case"].startswith("efficient") else "naive"
        lines.append(
            f"| {b['system']} | {b['size']} | {script} | {ours['reads'] + ours['writes']} | "
            f"{b['reads'] + b['writes']} | "
            f"{b['ours_over_baseline']['calls']} | {ours['wall_s']:.2f} | {b['wall_s']:.2f} | "
            f"{b['ours_over_baseline']['wall']} |"
        )
    return "\n".join(lines)


def efficient_table(rows: list[dict[str, Any]]) -> str:
    """Ours against the efficient script, per phase: calls (reads + writes) and wall time, same run."""
    lines = [
        "| system | N | our phase | ours reads+writes | its reads+writes | ours/its calls | ours wall s | "
        "its wall s | ours/its wall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in (r for r in rows if r.get("ours_over_efficient")):
        for case, ratio in b["ours_over_efficient"].items():
            ours = next(r for r in rows if r["system"] == b["system"] and r["size"] == b["size"] and r["case"] == case)
            lines.append(
                f"| {b['system']} | {b['size']} | {case} | {ours['reads']}+{ours['writes']} | "
                f"{b['reads']}+{b['writes']} | {ratio['calls']} | {ours['wall_s']:.2f} | {b['wall_s']:.2f} | "
                f"{ratio['wall']} |"
            )
    return "\n".join(lines)


def targets_table(checks: list[dict[str, Any]]) -> str:
    lines = ["| system | N | case | target | met | detail |", "|---|---|---|---|---|---|"]
    for c in checks:
        lines.append(
            f"| {c['system']} | {c['size']} | {c['case']} | {c['target']} | "
            f"{'yes' if c['met'] else '**MISSED**'} | {c['detail']} |"
        )
    return "\n".join(lines)


def run_size(
    size: int,
    latency: int,
    flavors: list[str],
    workdir: Path,
    baseline: bool,
    profile_dir: Path | None,
    rows: list[dict[str, Any]],
    save: Callable[[], None],
    audit_only: bool = False,
    only: tuple[str, ...] = ("jira", "salesforce"),
    first_sync_only: bool = False,
) -> None:
    for flavor in flavors:
        started = time.perf_counter()
        sb = SandboxProcess(size, latency, flavor)
        print(
            f"sandbox jira-{flavor} size {size} latency {latency}ms up in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        try:
            people = People(sb.env, flavor)
            people.load()
            runner = subprocess_runner(sb.env)
            systems = [s for s in (["jira", "salesforce"] if flavor == "cloud" else ["jira"]) if s in only]
            for system in systems:
                rows += bench_connector(
                    sb,
                    runner,
                    people,
                    system,
                    flavor,
                    size,
                    workdir,
                    baseline=baseline,
                    profile_dir=profile_dir,
                    audit_only=audit_only,
                    first_sync_only=first_sync_only,
                )
                save()
        finally:
            sb.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--latency", type=int, default=20, help="added latency per request, ms")
    ap.add_argument("--flavors", default="cloud,datacenter")
    ap.add_argument("--systems", default="jira,salesforce", help="which connectors to benchmark")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile the full audit/sync phases (benchmarks/profiles)")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--audit-only", action="store_true", help="only the full audit (e.g. N=100,000 memory)")
    ap.add_argument("--first-sync-only", action="store_true", help="only the first sync (e.g. N=100,000 memory)")
    ap.add_argument("--report", metavar="JSON", nargs="+", help="only print the tables of earlier results")
    args = ap.parse_args()
    if args.report:
        print_tables([row for f in args.report for row in json.loads(Path(f).read_text())["rows"]])
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    flavors = [f for f in args.flavors.split(",") if f]
    profile_dir = HERE / "profiles" if args.profile else None
    if profile_dir:
        profile_dir.mkdir(exist_ok=True)
    rows: list[dict[str, Any]] = []

    def save() -> None:  # after every connector, so a long run keeps what it finished
        result = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "processor": platform.processor() or platform.machine(),
            },
            "latency_ms": args.latency,
            "sizes": sizes,
            "page_sizes": {
                "jira_cloud": JIRA_CLOUD_PAGE,
                "jira_datacenter": JIRA_DC_PAGE,
                "salesforce_query": SF_QUERY_PAGE,
                "salesforce_collection": SF_COLLECTION,
            },
            "fixed_calls_in_minimum": {"jira": sorted(JIRA_FIXED), "salesforce": sorted(SF_FIXED)},
            "rows": rows,
            "targets": targets(rows),
        }
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))

    with tempfile.TemporaryDirectory(prefix="tb-bench-") as tmp:
        for size in sizes:
            run_size(
                size,
                args.latency,
                flavors,
                Path(tmp) / str(size),
                not args.no_baseline,
                profile_dir,
                rows,
                save,
                args.audit_only,
                tuple(x for x in args.systems.split(",") if x),
                args.first_sync_only,
            )
    print_tables(rows)


def print_tables(rows: list[dict[str, Any]]) -> None:
    checks = targets(rows)
    print()
    print(table(rows))
    print()
    print(baseline_table(rows))
    print()
    print(efficient_table(rows))
    print()
    print(targets_table(checks))


if __name__ == "__main__":
    main()
