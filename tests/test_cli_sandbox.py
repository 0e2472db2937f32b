"""`trackerbridge demo` and `trackerbridge sandbox serve` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from terminal import run_in_terminal
from trackerbridge.cli import main


def test_demo_audits_the_demo_organisation(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--anchor", "2026-11-02", "--output", str(tmp_path / "pages")])
    assert result.exit_code == 0, result.output
    assert "Sandbox: Jira cloud and Salesforce on https://127.0.0.1:" in result.stderr
    for code in ("TB101", "TB102", "TB104", "TB110", "TB113"):
        assert code in result.stdout
    assert "owner-missing" in result.stdout


def test_demo_shows_the_planted_slips_rollups_and_conflicts(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from trackerbridge.sandbox.demo import build_demo
    from trackerbridge.sandbox.showcase import DEMO_CONFLICTS

    result = CliRunner().invoke(main, ["demo", "--anchor", "2026-11-02", "--output", str(tmp_path / "pages")])
    assert result.exit_code == 0, result.output
    gaps = build_demo(anchor=datetime(2026, 11, 2, tzinfo=timezone.utc)).summary.gaps
    out = result.stdout
    slips = re.search(r"^Slips: .*: ([0-9,]+) without a reason", out, re.M)
    assert slips and int(slips.group(1)) == gaps["slip_without_reason"] > 0
    rollup = re.search(r"^Health roll-up: ([0-9]+) records take a child's verdict", out, re.M)
    assert rollup and int(rollup.group(1)) == gaps["deal_red_via_epic"] > 0
    section = out[rollup.end() : out.index("Conflict review:")]
    assert len(re.findall(r"^  0068\S+  DEL-\d+ red: TB1", section, re.M)) == gaps["deal_red_via_epic"]
    assert f"people changed {DEMO_CONFLICTS} synced fields" in out
    assert out.endswith(f"{DEMO_CONFLICTS} open conflicts\n")
    assert len(re.findall(r"^stage +Build +jira DEL-\d+ +launch ", out, re.M)) == DEMO_CONFLICTS


def test_demo_in_data_center_flavour_as_json() -> None:
    result = CliRunner().invoke(main, ["demo", "--jira-flavor", "datacenter", "--size", "60", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    jira = next(s for s in document["sources"] if s["name"] == "sandbox-jira")
    assert (jira["flavor"], jira["records"]) == ("datacenter", 60)


def test_serve_refuses_a_non_loopback_host_and_bad_fault_specs() -> None:
    runner = CliRunner()
    public = runner.invoke(main, ["sandbox", "serve", "--host", "0.0.0.0"])
    assert public.exit_code == 2
    assert "loopback only" in public.output
    faulty = runner.invoke(main, ["sandbox", "serve", "--port", "0", "--faults", "explode:every=2"])
    assert faulty.exit_code == 2
    assert "unknown fault kind 'explode'" in faulty.output


def test_serve_prints_how_to_connect_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trackerbridge",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--size",
            "40",
            "--jira-flavor",
            "datacenter",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"on (https://127\.0\.0\.1:\d+) \(Jira datacenter", first)
        assert url, first
        bundle = proc.stdout.readline().split("CA bundle: ", 1)[1].strip()
        assert Path(bundle) == tmp_path / "sandbox-ca.pem"
        info = requests.get(
            f"{url.group(1)}/rest/api/2/serverInfo",
            verify=bundle,
            timeout=10,
            headers={"Authorization": "Bearer sandbox-jira-pat"},
        )
        assert info.json()["deploymentType"] == "Server"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert (tmp_path / "sandbox-state.pickle").exists() is False, "nothing was written, so nothing saved"


def bash_env(script: str, stdin: str = "") -> dict[str, str]:
    """The TB_SANDBOX_* variables after bash ran `script` (interactive when reading stdin, as a pasted block)."""
    args = ["bash", "--norc", "--noprofile", "-i"] if stdin else ["bash", "-c", script]
    done = subprocess.run(
        args,
        input=stdin + ("\n" + script if stdin else ""),
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")},
    )
    return dict(re.findall(r"^(TB_SANDBOX_\w+)=(.*)$", done.stdout, re.MULTILINE))


def test_export_lines_survive_a_paste_into_interactive_bash() -> None:
    from trackerbridge.cli.sandbox import export_lines

    env = {"TB_SANDBOX_SF_TOKEN": "00Dsandbox!sandbox-sf-token", "TB_SANDBOX_X": "a b $HOME 'q' \"d\" `x`"}
    seen = bash_env("env | grep ^TB_SANDBOX_", stdin="\n".join(export_lines(env)))
    assert seen == env  # `!` is no history expansion, nothing is split or expanded
    assert export_lines({"A": "00Dsandbox!x"}) == ["export A='00Dsandbox!x'"]


def start_serve(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "trackerbridge", "sandbox", "serve", "--size", "20", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_env_file_is_for_eval_and_get_root_lists_endpoints_and_credentials(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    proc = start_serve("--port", "0", "--env-file", str(env_file))
    try:
        assert proc.stdout is not None
        printed = [proc.stdout.readline() for _ in range(4)]
        while not any(line.strip().startswith("export TB_SANDBOX_CA_BUNDLE=") for line in printed):
            printed.append(proc.stdout.readline())
        env = bash_env(f'eval "$(cat {env_file})"; env | grep ^TB_SANDBOX_')
        assert env["TB_SANDBOX_SF_TOKEN"] == "00Dsandbox!sandbox-sf-token"
        url = env["TB_SANDBOX_JIRA_URL"]
        index = requests.get(f"{url}/", verify=env["TB_SANDBOX_CA_BUNDLE"], timeout=10).json()
        assert {"GET /rest/api/2/serverInfo", "GET /rest/api/3/search/jql"} <= set(index["jira"]["endpoints"])
        assert "GET /services/data/v{version}/query" in index["salesforce"]["endpoints"]
        assert "sandbox-jira-token" in index["jira"]["auth"]
        assert "00Dsandbox!sandbox-sf-token" in index["salesforce"]["auth"]
        assert "PUT /_sandbox/faults" in index["sandbox"] and index["environment"] == env

        port = url.rsplit(":", 1)[1]
        taken = start_serve("--port", port)
        _, err = taken.communicate(timeout=60)
        assert taken.returncode == 2, err
        assert err.strip().splitlines()[-1] == (
            f"cannot listen on 127.0.0.1:{port}: Address already in use (--port 0 picks a free one)"
        )
        assert "Traceback" not in err
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_every_serve_option_is_in_the_readme() -> None:
    from trackerbridge.cli.sandbox import serve

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("It prints the URL") : readme.index("### Fault spec")]
    documented = set(re.findall(r"`(--[a-z-]+)`", table))
    options = {opt for p in serve.params for opt in p.opts if opt.startswith("--") and opt != "--help"}
    assert options and options == documented


def copied_project(tmp_path: Path) -> Path:
    import shutil

    root = Path(__file__).resolve().parent.parent
    project = tmp_path / "project"
    for part in ("connectors", "mappings"):
        shutil.copytree(root / part, project / part)
    shutil.copy(root / "trackerbridge.yaml", project / "trackerbridge.yaml")
    return project


def test_sandbox_flag_keeps_one_organisation_per_project_until_reset(tmp_path: Path) -> None:
    """`--sandbox` keeps the project's organisation in .trackerbridge/: a field `setup --apply` creates is there for
    the next command (so a user's own mapping can be tried against it), a second sync does not rewrite every
    record, and `sandbox reset` starts over."""
    project = copied_project(tmp_path)
    for path in ("mappings/demo-jira.yaml", "connectors/sandbox-jira.yaml"):  # a field the demo org lacks
        file = project / path
        file.write_text(file.read_text().replace("Execution health", "Delivery health"))
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(main, [*args, "--project", str(project)])
        return result.exit_code, result.stdout, result.stderr

    code, _, err = run("check", "sandbox-jira", "--sandbox", "cloud")
    assert code == 2 and "setup jira sandbox-jira" in err
    code, out, err = run("setup", "jira", "sandbox-jira", "--apply", "--sandbox", "cloud")
    assert code == 0 and "created Delivery health" in out, err
    code, out, err = run("check", "sandbox-jira", "--sandbox", "cloud")  # another command, another process's org
    assert code == 0, err
    assert (project / ".trackerbridge" / "sandbox-cloud").is_dir()

    code, first, err = run("sync", "--sandbox", "cloud")
    assert code == 0, err
    code, second, err = run("sync", "--sandbox", "cloud")
    assert code == 0, err
    written = [int(re.search(r"wrote health to (\d+) record", s).group(1)) for s in (first, second)]
    assert written == [650, 0], written  # the same organisation (and URL) as last time: nothing to write

    code, out, _ = run("sandbox", "reset")
    assert code == 0 and "sandbox-cloud" in out and "--full" in out
    assert not (project / ".trackerbridge" / "sandbox-cloud").exists()
    code, _, err = run("check", "sandbox-jira", "--sandbox", "cloud")
    assert code == 2 and "no field 'Delivery health'" in err  # a fresh organisation again
    assert run("sandbox", "reset")[0] == 0
    code, out, _ = run("sandbox", "reset")
    assert code == 0 and "nothing to reset" in out


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_every_line_of_the_demo_fits_the_terminal_one_line_per_item(tmp_path: Path, columns: int) -> None:
    from datetime import datetime, timezone

    from rich.cells import cell_len

    from trackerbridge.report.slips import SLIPS_SHOWN
    from trackerbridge.sandbox.demo import build_demo
    from trackerbridge.sandbox.showcase import DEMO_CONFLICTS

    pages = tmp_path / "pages"
    out = run_in_terminal(["demo", "--anchor", "2026-11-02", "--output", str(pages)], columns)
    lines = [line.rsplit("\r", 1)[-1] for line in out.split("\n")]  # what stays on screen after a redraw
    redraws = [part for line in out.split("\n") for part in line.split("\r")]  # each must fit, or it wraps
    too_wide = [part for part in redraws if cell_len(part) > columns]
    assert not too_wide, f"{len(too_wide)} lines wider than {columns}: {too_wide[:3]}"
    # one line per finding: as many rows as the per-rule counts add up to
    findings = [line for line in lines if re.match(r"(err|warn|error|warning) +TB\d{3} ", line)]
    per_rule = out[out.index("Findings per rule") :].split("\n\n")[0]
    counted = sum(int(n) for n in re.findall(r"^TB\d{3} .* (\d+)$", per_rule, re.M))
    assert len(findings) == counted > 100
    gaps = build_demo(anchor=datetime(2026, 11, 2, tzinfo=timezone.utc)).summary.gaps

    def section(title: str) -> list[str]:
        start = next(n for n, line in enumerate(lines) if line.startswith(title))
        body = lines[start + 1 : lines.index("", start)]
        return [line for line in body if not line.startswith("  ") or re.match(r"  \S+  ", line)]

    slipped = int(re.search(r"^Slips: ([0-9,]+) active", out, re.M).group(1))  # type: ignore[union-attr]
    slip_rows = [line for line in section("Slips: ") if re.match(r"  (OPS|DEL)-\d+ +\d{4}-\d\d-\d\d", line)]
    assert len(slip_rows) == min(slipped, SLIPS_SHOWN) > 0
    rollup_rows = [line for line in section("Health roll-up: ") if re.match(r"  0068\S+  DEL-\d+ red: TB1", line)]
    assert len(rollup_rows) == gaps["deal_red_via_epic"] > 0
    conflict_rows = [line for line in lines if re.match(r"stage +Build +(jira )?DEL-\d+ +launch ", line)]
    assert len(conflict_rows) == DEMO_CONFLICTS
    assert f"{DEMO_CONFLICTS} open conflicts" in lines
    assert all(re.search(r" 0068[0-9A-Za-z]{14} ", row) for row in conflict_rows)  # keys whole: resolve takes one
    team_rows = [line for line in lines if re.search(r"off track|off \(", line) and line.endswith(".html")]
    assert len(team_rows) == len(list(pages.glob("*.html"))) > 1
    if columns == 160:  # room for every column: both sides' systems and full Salesforce Ids, the time of day
        assert all(re.search(r" salesforce 0068[0-9A-Za-z]{14} ", row) for row in conflict_rows)
        assert all("moved " in row and " -> " in row for row in slip_rows)
    if columns == 80:  # narrowed, never wrapped: reasons cut with an ellipsis, the heading wrapped
        assert any(row.endswith("…") for row in slip_rows)
        assert not any(row.startswith("  ") for row in conflict_rows)


def test_the_demo_writes_the_weekly_page_of_every_team_and_names_each(tmp_path: Path) -> None:
    import csv
    from datetime import datetime, timezone

    from trackerbridge.audit import run_audit
    from trackerbridge.cli.common import PACKAGED_DEMO
    from trackerbridge.config.project import Project
    from trackerbridge.report.model import active_initiatives
    from trackerbridge.sandbox.runner import SandboxConfig, sandbox_environment

    pages = tmp_path / "pages"
    result = CliRunner().invoke(main, ["demo", "--anchor", "2026-11-02", "--output", str(pages)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    anchor = datetime(2026, 11, 2, tzinfo=timezone.utc)
    with sandbox_environment(SandboxConfig(port=0, anchor=anchor)) as (_, env):
        audit = run_audit(Project.load(PACKAGED_DEMO), [], anchor.replace(hour=9), env)
    teams = {i.team for i in active_initiatives(audit) if i.team}
    assert len(teams) > 2
    unwrapped = out.replace("\n  ", " ")  # headings wrap with an indent of two
    assert re.search(
        rf"^Weekly page per team: {len(teams)} teams, .* written to {re.escape(str(pages))}\s", unwrapped, re.M
    )
    for team in teams:
        [json_file] = [p for p in pages.glob("*.json") if json.loads(p.read_text())["team"] == team]
        page = json.loads(json_file.read_text())
        red = sum(o["health"] == "red" for o in page["off_track"])
        pending = len(page["decisions"]["items"])
        assert pending == next(m["value"] for m in page["scorecard"] if m["key"] == "pending_decisions")
        line = re.search(
            rf"^  {re.escape(team)} +(\d+) off track \((\d+) red\), (\d+) decisions? pending  (\S+)$", out, re.M
        )
        assert line, f"no line for {team}"
        assert (int(line.group(1)), int(line.group(2)), int(line.group(3))) == (len(page["off_track"]), red, pending)
        html = pages / line.group(4)
        assert html.suffix == ".html" and html.with_suffix(".json") == json_file
        assert f"<title>{team} weekly review" in html.read_text()
        assert html.with_suffix(".md").read_text().startswith(f"## {team}: weekly review")
        with html.with_suffix(".csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert {r["team"] for r in rows} == {team} and len(rows) >= len(page["scorecard"]) + len(page["off_track"])
        assert (html.stat().st_mode & 0o777) == 0o600  # the pages name people, as the report does


def test_demo_output_into_a_missing_directory_is_exit_2_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--output", str(tmp_path / "missing" / "pages")])
    assert result.exit_code == 2
    assert f"the directory {tmp_path / 'missing'} does not exist" in result.stderr
    assert "Traceback" not in result.output and "Sandbox:" not in result.stderr
