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
        [sys.executable, "-m", "trackerbridge", "sandbox", "serve", "--port", "0", "--size", "40",
         "--jira-flavor", "datacenter", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"on (https://127\.0\.0\.1:\d+) \(Jira datacenter", first)
        assert url, first
        bundle = proc.stdout.readline().split("CA bundle: ", 1)[1].strip()
        assert Path(bundle) == tmp_path / "sandbox-ca.pem"
        info = requests.get(f"{url.group(1)}/rest/api/2/serverInfo", verify=bundle, timeout=10,
                            headers={"Authorization": "Bearer sandbox-jira-pat"})
        assert info.json()["deploymentType"] == "Server"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert (tmp_path / "sandbox-state.pickle").exists() is False, "nothing was written, so nothing saved"
