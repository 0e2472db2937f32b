"""`trackerbridge audit` through click's runner: every format, every exit code."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox, SandboxConfig
from trackerbridge.sandbox.pytest_plugin import TEST_NOW

ROOT = Path(__file__).resolve().parent.parent
AS_OF = TEST_NOW.replace(hour=0, minute=0).isoformat()


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, str]]:
    """One read-only sandbox for the module: audits never write."""
    with Sandbox(SandboxConfig(clock=TEST_NOW, size=200)) as sb:
        yield sb.info.as_env()


def audit(env: dict[str, str], *args: str, project: Path = ROOT) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["audit", "--project", str(project), "--as-of", AS_OF, *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def copy_project(tmp_path: Path, config: str) -> Path:
    for part in ("connectors", "mappings"):
        shutil.copytree(ROOT / part, tmp_path / part)
    (tmp_path / "trackerbridge.yaml").write_text(config)
    return tmp_path


def test_json_is_the_default_off_a_terminal_and_red_findings_exit_1(env: dict[str, str]) -> None:
    code, out, _ = audit(env)
    assert code == 1
    document = json.loads(out)
    assert document["schema"] == "trackerbridge.audit/v1"
    assert document["summary"]["health"]["red"] > 0
    assert {s["name"] for s in document["sources"]} == {"sandbox-jira", "sandbox-salesforce"}
    codes = {f["code"] for f in document["findings"]}
    assert {"TB101", "TB102", "TB104", "TB110"} <= codes


@pytest.mark.parametrize(("fail_on", "expected"), [("never", 0), ("amber", 1), ("red", 1)])
def test_fail_on_threshold(env: dict[str, str], fail_on: str, expected: int) -> None:
    assert audit(env, "--fail-on", fail_on, "--format", "jsonl")[0] == expected


def test_a_clean_audit_exits_0_even_with_fail_on_amber(env: dict[str, str], tmp_path: Path) -> None:
    project = copy_project(tmp_path, "rules:\n  select: [TB116]\n")  # nothing unreadable in the demo
    code, out, _ = audit(env, "--fail-on", "amber", "--format", "json", project=project)
    assert code == 0
    assert json.loads(out)["summary"]["health"]["red"] == 0


def test_every_format_renders(env: dict[str, str], tmp_path: Path) -> None:
    outputs = {}
    for fmt in ("table", "json", "jsonl", "csv", "markdown", "github", "sarif"):
        code, out, err = audit(env, "--format", fmt, "--fail-on", "never")
        assert code == 0, err
        outputs[fmt] = out
    assert "TB101" in outputs["table"] and "\x1b[" not in outputs["table"]
    assert all(json.loads(line)["code"].startswith("TB") for line in outputs["jsonl"].splitlines())
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert rows and set(rows[0]) >= {"code", "key", "message", "url"}
    assert outputs["markdown"].lstrip().startswith("#") and "|" in outputs["markdown"]
    assert outputs["github"].splitlines()[0].startswith(("::error ", "::warning "))
    assert json.loads(outputs["sarif"])["version"] == "2.1.0"
    target = tmp_path / "audit.sarif"
    code, out, _ = audit(env, "--format", "sarif", "--fail-on", "never", "--output", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["runs"][0]["tool"]["driver"]["name"] == "trackerbridge"


def test_unknown_format_is_a_usage_error(env: dict[str, str]) -> None:
    code, _, err = audit(env, "--format", "yaml")
    assert code == 2
    assert "unknown format 'yaml'" in err


def test_config_errors_exit_2_with_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    project = copy_project(tmp_path, "rules:\n  params:\n    TB104: {dayz: 3}\n")
    code, _, err = audit(env, project=project)
    assert code == 2
    assert "trackerbridge.yaml:3: rules.params.TB104.dayz: TB104 has no parameter 'dayz'" in err
    assert "did you mean 'days'?" in err


def test_connector_errors_exit_3_and_keep_secrets_out(env: dict[str, str]) -> None:
    code, out, err = audit({**env, "TB_SANDBOX_JIRA_TOKEN": "wrong-secret-123"}, "sandbox-jira")
    assert code == 3
    assert "TB_SANDBOX_JIRA_TOKEN" in err
    assert "wrong-secret-123" not in out + err


def test_naming_a_connector_audits_only_that_one(env: dict[str, str]) -> None:
    code, out, _ = audit(env, "sandbox-salesforce", "--format", "json", "--fail-on", "never")
    assert code == 0
    document = json.loads(out)
    assert [s["name"] for s in document["sources"]] == ["sandbox-salesforce"]
    assert {f["source"] for f in document["findings"]} == {"sandbox-salesforce"}


@pytest.mark.parametrize("width", [80, 100, 160])
def test_the_demo_audit_is_one_line_per_finding_with_the_owner(env: dict[str, str], width: int) -> None:
    from trackerbridge.audit import run_audit
    from trackerbridge.config.project import Project
    from trackerbridge.emitters.table import emit_table

    result = run_audit(Project.load(ROOT), [], TEST_NOW, env)
    out = io.StringIO()
    emit_table(result, out, color=False, width=width)
    lines = out.getvalue().split("\n")
    assert max(len(line) for line in lines) <= width
    rows = [line for line in lines if line.startswith(("err ", "warn ", "error ", "warning "))]
    assert len(rows) == len(result.live)  # one line each: before, 80 columns gave the message one character
    owners = {i.owner.label for i in result.initiatives if i.owner is not None}
    assert sum(any(o[:8] in row for o in owners) for row in rows) > len(rows) // 2  # whom to chase
    assert len(lines) < len(result.live) + 40
