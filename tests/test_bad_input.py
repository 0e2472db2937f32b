"""The bad-input corpus (tests/bad_input/cases.yaml): every case gives a clear message and a documented
exit code, never a traceback, and writes nothing to the trackers.

A case names the files to change in a copy of the shipped project (`files`: write, `replace`: edit,
`delete`), environment overrides (`env`; null unsets), what to do to the sandbox's data first
(`sandbox`: operations below), the command (`--project` is added) and what to expect (`exit`,
`message`: fragments that must all appear in stdout + stderr, with `{key}` for the mutated record).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
import yaml
from click.testing import CliRunner
from urllib3.util.retry import Retry

from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.pytest_plugin import TEST_NOW
from trackerbridge.sandbox.runner import SandboxConfig

ROOT = Path(__file__).resolve().parent.parent
CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "bad_input" / "cases.yaml").read_text("utf-8"))
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 75}
WRITES = {"PUT", "PATCH", "POST", "DELETE"}
READ_ONLY_POSTS = ("/search", "/query", "/composite/sobjects")  # searches sent by POST read only


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default policy backs off for half a minute before giving up on a refused connection."""
    from trackerbridge.connectors import http
    from trackerbridge.connectors.jira import search as jira
    from trackerbridge.connectors.salesforce import query as salesforce

    def quick() -> Retry:
        return http.Retry(
            total=2,
            connect=2,
            read=2,
            status=2,
            other=0,
            allowed_methods=http.IDEMPOTENT,
            status_forcelist=http.RETRY_STATUSES,
            backoff_factor=0.01,
            raise_on_status=False,
            raise_on_redirect=False,
        )

    for module in (http, jira, salesforce):
        monkeypatch.setattr(module, "retry_policy", quick)


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandbox]:
    """One sandbox for the cases that do not change its data."""
    with Sandbox(SandboxConfig(size=30, clock=TEST_NOW)) as sb:
        yield sb


def build_project(tmp: Path, case: dict[str, Any]) -> Path:
    for part in ("connectors", "mappings"):
        shutil.copytree(ROOT / part, tmp / part)
    shutil.copy(ROOT / "trackerbridge.yaml", tmp / "trackerbridge.yaml")
    for name, text in (case.get("files") or {}).items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text, encoding="utf-8")
    for name, edits in (case.get("replace") or {}).items():
        text = (tmp / name).read_text(encoding="utf-8")
        for old, new in edits:
            assert old in text, f"{case['name']}: {old!r} is not in {name}"
            text = text.replace(old, new)
        (tmp / name).write_text(text, encoding="utf-8")
    for name in case.get("delete") or []:
        (tmp / name).unlink()
    return tmp


def value_of(spec: Any) -> Any:
    """`{repeat: TEXT, times: N}` builds huge values; anything else is taken as is."""
    if isinstance(spec, dict) and "repeat" in spec:
        return spec["repeat"] * spec["times"]
    return spec


def mutate(sb: Sandbox, ops: list[dict[str, Any]]) -> str:
    """Apply the case's sandbox operations; returns the key of the record they touched."""
    key = ""
    for op in ops:
        kind = op["op"]
        if kind == "jira_field":
            issue = sb.jira_data.issues[op.get("key") or sorted(sb.jira_data.issues)[0]]
            key = issue.key
            field = sb.jira_data.field_by_clause(op["field"])
            assert field is not None, op
            issue.fields[field.id] = value_of(op["value"])
        elif kind == "jira_status":  # a status the mapping does not know, as a real workflow may add
            from trackerbridge.sandbox.jira_model import Status

            template = next(iter(sb.jira_data.statuses.values()))
            status = Status(**{**template.__dict__, "id": "99999", "name": op["name"]})
            sb.jira_data.statuses[status.id] = status
            issue = sb.jira_data.issues[sorted(sb.jira_data.issues)[0]]
            key = issue.key
            issue.fields["status"] = status.id
        elif kind == "jira_user":  # rename every user (display names people type in any script)
            import dataclasses

            for account, user in list(sb.jira_data.users.items()):
                sb.jira_data.users[account] = dataclasses.replace(user, display_name=value_of(op["display_name"]))
        elif kind == "sf_field":
            rows = sb.salesforce_data.records[op.get("object", "Opportunity")]
            record_id = sorted(rows)[0]
            key = record_id
            rows[record_id][op["field"]] = value_of(op["value"])
        elif kind == "sf_duplicate_user_email":  # two active users with one address
            users = sb.salesforce_data.records["User"]
            first, second = sorted(users)[:2]
            users[second]["Email"] = users[first]["Email"]
        else:
            raise AssertionError(f"unknown sandbox op {kind!r}")
    return key


def writes(sb: Sandbox) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in sb.accounting.records()
        if r.method in WRITES and not (r.method == "POST" and r.path.endswith(READ_ONLY_POSTS))
    ]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input(case: dict[str, Any], tmp_path: Path, shared: Sandbox, sandbox_factory: Any) -> None:
    assert case["exit"] in DOCUMENTED_EXIT_CODES
    sb = sandbox_factory(size=30, **(case.get("sandbox_config") or {})) if case.get("sandbox") else shared
    key = mutate(sb, case.get("sandbox") or [])
    sb.accounting.reset()
    project = build_project(tmp_path / "project", case)
    before = sorted(p for p in project.rglob("*"))
    env = {**sb.info.as_env(), **{k: (None if v is None else str(v)) for k, v in (case.get("env") or {}).items()}}
    env = {k: (v.replace("{certifi}", certifi.where()) if isinstance(v, str) else v) for k, v in env.items()}
    args = [a.replace("{as_of}", TEST_NOW.isoformat()) for a in case["command"]]
    result = CliRunner().invoke(main, [*args, "--project", str(project)], env=env)
    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    assert result.exit_code == case["exit"], output[-3000:]
    fragments = case["message"] if isinstance(case["message"], list) else [case["message"]]
    for fragment in fragments:
        assert fragment.replace("{key}", key) in output, output[-3000:]
    assert writes(sb) == [], "a bad input wrote to a tracker"
    if case["command"][0] in ("check", "audit"):
        assert sorted(p for p in project.rglob("*")) == before, "a read-only command wrote files"
