"""`trackerbridge demo` and `trackerbridge sandbox serve` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests
from click.testing import CliRunner

from trackerbridge.cli import main


def test_demo_audits_the_demo_organisation() -> None:
    result = CliRunner().invoke(main, ["demo", "--anchor", "2026-11-02"])
    assert result.exit_code == 0, result.output
    assert "Sandbox: Jira cloud and Salesforce on https://127.0.0.1:" in result.stderr
    for code in ("TB101", "TB102", "TB104", "TB110", "TB113"):
        assert code in result.stdout
    assert "owner-missing" in result.stdout


def test_demo_shows_the_planted_slips_rollups_and_conflicts() -> None:
    from datetime import datetime, timezone

    from trackerbridge.sandbox.demo import build_demo
    from trackerbridge.sandbox.showcase import DEMO_CONFLICTS

    result = CliRunner().invoke(main, ["demo", "--anchor", "2026-11-02"])
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
