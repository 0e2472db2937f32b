"""What a person at a terminal sees of the network: `check` fails at once on a host that does not resolve or
refuses the connection (instead of 6 silent retries over half a minute), and transient errors show as
"retrying (n/N)" on a terminal, never in a log file."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.faults import parse_fault_spec


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


@pytest.mark.parametrize("url", [f"https://127.0.0.1:{_closed_port()}", "https://jira.trackerbridge-test.invalid"])
def test_check_fails_fast_on_an_unreachable_host(project: Path, sandbox: Sandbox, url: str) -> None:
    env = {**sandbox.info.as_env(), "TB_SANDBOX_JIRA_URL": url}
    started = time.monotonic()
    result = CliRunner().invoke(main, ["check", "--project", str(project), "sandbox-jira"], env=env)
    took = time.monotonic() - started
    assert result.exit_code == 3, result.output
    assert "cannot reach" in result.stderr
    assert took < 5, f"{took:.1f} s: retried an unreachable host"


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal (what a person sees), stdout discarded."""
    master, slave = pty.openpty()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(master)
    return process.wait(timeout=30), b"".join(chunks).decode(errors="replace")


def test_transient_errors_show_retrying_on_a_terminal_only(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    sb = sandbox_factory(size=40, faults="error:every=2,count=2,service=jira,status=503")
    env = {**os.environ, **sb.info.as_env()}
    args = [sys.executable, "-m", "trackerbridge", "audit", "--project", str(project), "sandbox-jira"]
    code, seen = _run_on_a_terminal(args, env)
    assert code in (0, 1), seen[-2000:]
    assert "retrying (1/6): GET https://127.0.0.1:" in seen and "(HTTP 503)" in seen, seen[-2000:]
    sb.faults.replace(parse_fault_spec("error:every=2,count=2,service=jira,status=503"))  # the same faults again
    piped = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode in (0, 1), piped.stderr[-2000:]
    assert "retrying" not in piped.stderr
