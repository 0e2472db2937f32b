"""What a person reads from the commands: where output went, the closing sentence of `sync`, the exact dry-run
change set, the same counts of records / initiatives / active initiatives in audit and report, and one-line exit 2
for an --output that cannot be written."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.audit import run_audit
from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.emitters.json import natural
from trackerbridge.emitters.table import emit_table
from trackerbridge.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(size=120)


def run(sb: Sandbox, project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, [*args, "--project", str(project), "--as-of", sb.clock.now().isoformat()], env=sb.info.as_env()
    )
    return result.exit_code, result.stdout, result.stderr


def test_audit_output_suffix_decides_the_format_and_says_where_it_wrote(sb: Sandbox, project: Path) -> None:
    target = project / "x.md"
    code, out, err = run(sb, project, "audit", "--fail-on", "never", "-o", str(target))
    assert code == 0 and out == ""
    assert target.read_text(encoding="utf-8").lstrip().startswith("#") and "| TB101 |" in target.read_text()
    assert f"wrote the audit (markdown) to {target}" in err
    code, _, err = run(sb, project, "audit", "-o", str(project / "x.xyz"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "give --format" in err
    assert not (project / "x.xyz").exists()
    code, _, err = run(sb, project, "audit", "--format", "csv", "--fail-on", "never", "-o", str(project / "x.xyz"))
    assert code == 0 and (project / "x.xyz").read_text().startswith('"id","code"')


def test_report_output_with_an_unknown_suffix_and_no_format_is_exit_2(sb: Sandbox, project: Path) -> None:
    """Issue 16: as `audit` does, `report` never guesses a format the file's name does not say."""
    for name in ("x.xyz", "report"):
        code, out, err = run(sb, project, "report", "--pull", "-o", str(project / name))
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert f"cannot tell the format from {name!r}" in err and "give --format" in err and ".html" in err
        assert not (project / name).exists()
    code, _, err = run(sb, project, "report", "--pull", "--format", "json", "-o", str(project / "x.xyz"))
    assert code == 0, err
    assert (project / "x.xyz").read_text().lstrip().startswith("{")


@pytest.mark.parametrize("command", ["audit", "report"])
def test_output_that_cannot_be_written_is_one_line_and_exit_2(sb: Sandbox, project: Path, command: str) -> None:
    extra = ["--pull"] if command == "report" else []
    (project / "a-file").write_text("x")
    for target, says in (
        (project / "missing" / "out.json", "does not exist"),
        (project / "a-file" / "out.json", "does not exist"),
        (project / "connectors", "is a directory"),
        (Path("/proc/trackerbridge-test.json"), "cannot write"),
    ):
        code, _, err = run(sb, project, command, *extra, "--format", "json", "-o", str(target))
        assert code == 2, (target, err)
        assert len(err.strip().splitlines()) == 1 and says in err and "Traceback" not in err, err
        assert str(target) in err


def test_report_says_where_it_wrote_and_counts_as_the_audit_does(sb: Sandbox, project: Path) -> None:
    page = project / "sprawl.md"
    code, _, err = run(sb, project, "report", "--pull", "-o", str(page))
    assert code == 0, err
    assert f"wrote the report (markdown) to {page}" in err
    audit = run_audit(Project.load(project), [], sb.clock.now(), sb.info.as_env())
    out = io.StringIO()
    emit_table(audit, out, color=False, width=80)
    counts = re.match(r"(\d+ records \(\d+ initiatives, \d+ active\)) from 2 sources", out.getvalue())
    assert counts is not None
    assert f"{counts.group(1)} from sandbox-jira, sandbox-salesforce" in page.read_text(encoding="utf-8")
    code, table, _ = run(sb, project, "report", "--pull", "--format", "table")
    assert code == 0 and f"{counts.group(1)} from sandbox-jira, sandbox-salesforce" in table


def test_dry_run_prints_the_exact_change_set_in_natural_order(sb: Sandbox, project: Path) -> None:
    code, out, _ = run(sb, project, "sync", "--dry-run")
    assert code == 0
    lines = out.splitlines()
    changes = [line for line in lines if line.startswith("sandbox-")]
    keys = [tuple(line.split(":", 1)[0].split(" ")) for line in changes]
    assert len(keys) > 20 and keys == sorted(keys, key=lambda k: (natural(k[0]), natural(k[1])))
    assert any(re.fullmatch(r"DEL-\d", k[1]) for k in keys) and any(re.fullmatch(r"DEL-\d\d", k[1]) for k in keys)
    assert not any(line.endswith("...") or "...'" in line for line in changes)  # values whole
    assert lines[-1].startswith(f"would write to {len(changes)} records (")
    assert lines[-1].count("nothing written to the trackers") == 1


def test_sync_ends_with_one_sentence_a_person_reads(sb: Sandbox, project: Path) -> None:
    code, out, err = run(sb, project, "sync")
    assert code == 0, err
    sentence = out.strip().splitlines()[-1]
    audit = run_audit(Project.load(project), [], sb.clock.now(), sb.info.as_env())
    red = audit.flag_counts()[next(f for f in audit.flag_counts() if f.value == "red")]
    match = re.fullmatch(
        r"wrote health to (\d+) records: (\d+) red, (\d+) turned red; (\d+) conflicts?; (.+)", sentence
    )
    assert match is not None, sentence
    assert int(match.group(1)) > 100 and int(match.group(2)) == red  # a first sync: nothing turned yet
    assert "API call" in match.group(5) and len(sentence) < 200, sentence
    assert "summary:" in err  # the key=value log line is still there
    code, out, _ = run(sb, project, "sync", "--log-format", "json")
    assert code == 0 and "wrote health to 0 records" not in out.strip()  # off a terminal, JSON logs only
