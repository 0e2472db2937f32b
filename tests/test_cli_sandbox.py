"""`trackerbridge demo` and `trackerbridge sandbox serve` as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests
from click.testing import CliRunner

from trackerbridge.cli import main


def test_demo_reads_the_sandbox_back_through_the_real_clients() -> None:
    result = CliRunner().invoke(main, ["demo", "--anchor", "2026-11-02"])
    assert result.exit_code == 0, result.output
    assert "As of 2026-11-02: 40 people in 6 teams" in result.output
    assert "Jira Cloud 1001.0.0-SNAPSHOT, signed in as trackerbridge bot" in result.output
    planted = re.search(r"(\d+)\s+active issues without an owner", result.output)
    read_back = re.search(r"active without an owner: (\d+)", result.output)
    assert planted and read_back and planted.group(1) == read_back.group(1)
    assert re.search(r"Salesforce API v59.0: \d+ active users, 250 opportunities", result.output)


def test_demo_in_data_center_flavour() -> None:
    result = CliRunner().invoke(main, ["demo", "--jira-flavor", "datacenter", "--size", "60"])
    assert result.exit_code == 0, result.output
    assert "Jira Server 9.12.15" in result.output


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
