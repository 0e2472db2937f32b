"""Secrets never leak (output, logs at DEBUG, reports, the state store, error messages), HTTPS is
required off loopback, certificate errors are not bypassed, and the sandbox binds to loopback only."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox.jira_api import JiraAuth
from trackerbridge.sandbox.runner import SandboxConfig

ROOT = Path(__file__).resolve().parent.parent
JIRA_TOKEN = "JIRA-s3cr3t-Tok3n-7f1d"
SF_TOKEN = "00Dsecret!SF-s3ss10n-9c2e"
WRONG_TOKEN = "WRONG-t0ken-should-not-leak-4b8a"


def forms(secret: str, email: str = "") -> list[str]:
    """The secret, and how it travels in a basic-auth header."""
    out = [secret, base64.b64encode(secret.encode()).decode()]
    if email:
        out.append(base64.b64encode(f"{email}:{secret}".encode()).decode())
    return out


@pytest.fixture
def debug_logs() -> Iterator[list[str]]:
    """Every logger at DEBUG into a list. (http.client's `debuglevel` is left off: it prints the raw
    request, Authorization header included, to stdout by design; no library can scrub it.)"""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("urllib3", "requests", "jira", "simple_salesforce", "trackerbridge"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env=env)
    text = result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text += repr(result.exception) + str(result.exception)
    return result.exit_code, text


def test_no_secret_reaches_any_output(
    sandbox_factory: Callable[..., Sandbox],
    project: Path,
    tmp_path: Path,
    debug_logs: list[str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(size=40, jira_auth=JiraAuth(api_token=JIRA_TOKEN), salesforce_token=SF_TOKEN)
    env = sb.info.as_env()
    assert env["TB_SANDBOX_JIRA_TOKEN"] == JIRA_TOKEN and env["TB_SANDBOX_SF_TOKEN"] == SF_TOKEN
    as_of = sb.clock.now().isoformat()
    p = ["--project", str(project)]
    outputs: list[str] = []
    runs = [
        (["check", *p], {0}),
        *[
            (["audit", *p, "--format", f, "--as-of", as_of], {0, 1})
            for f in ("table", "json", "jsonl", "csv", "markdown", "github", "sarif")
        ],
        (["sync", *p, "--dry-run", "--as-of", as_of], {0}),
        (["sync", *p, "--log-format", "json", "--as-of", as_of], {0}),
        (["sync", *p, "--log-format", "text", "--as-of", as_of, "--full"], {0}),
    ]
    for args, codes in runs:
        code, text = run(args, env)
        assert code in codes, text[-2000:]
        outputs.append(text)
    reports = tmp_path / "reports"
    reports.mkdir()
    for fmt in ("html", "markdown", "json", "csv", "table"):
        code, text = run(["report", *p, "--format", fmt, "--output", str(reports / f"r.{fmt}")], env)
        assert code == 0, text[-2000:]
        outputs.append(text)
    code, text = run(["report", *p, "--pull", "--format", "json", "--as-of", as_of], env)
    assert code == 0, text[-2000:]
    outputs.append(text)
    # Deliberate failures: rejected credentials, wrong ones included.
    for variable in ("TB_SANDBOX_JIRA_TOKEN", "TB_SANDBOX_SF_TOKEN"):
        for args in (["check", *p], ["audit", *p, "--format", "json"], ["sync", *p, "--log-format", "json"]):
            code, text = run(args, {**env, variable: WRONG_TOKEN})
            assert code == 3, text[-2000:]
            assert variable in text
            outputs.append(text)
    captured = capfd.readouterr()
    files = [f.read_bytes() for f in reports.iterdir()]
    files += [f.read_bytes() for f in (project / ".trackerbridge").rglob("*") if f.is_file()]
    assert any(f.name.startswith("state.db") for f in (project / ".trackerbridge").iterdir())
    assert len(debug_logs) > 50, "DEBUG logging did not reach the handler"
    haystacks = [*outputs, *debug_logs, captured.out, captured.err]
    email = sb.info.jira_email
    for secret in [*forms(JIRA_TOKEN, email), *forms(SF_TOKEN), *forms(WRONG_TOKEN, email), *forms(WRONG_TOKEN)]:
        for text in haystacks:
            assert secret not in text
        for blob in files:
            assert secret.encode() not in blob


def test_plain_http_to_a_remote_host_is_refused(project: Path, sandbox: Sandbox) -> None:
    env = {**sandbox.info.as_env(), "TB_SANDBOX_JIRA_URL": "http://jira.example.com"}
    code, text = run(["check", "--project", str(project), "sandbox-jira"], env)
    assert code == 2
    assert "must use https://" in text and "connectors/sandbox-jira.yaml:" in text
    assert sandbox.accounting.records() == []


def test_a_wrong_ca_bundle_is_a_tls_error_not_bypassed(project: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    import certifi

    env = {
        **sandbox.info.as_env(),
        "TB_SANDBOX_CA_BUNDLE": certifi.where(),
        "REQUESTS_CA_BUNDLE": sandbox.info.ca_bundle,
    }
    for name in ("sandbox-jira", "sandbox-salesforce"):
        code, text = run(["check", "--project", str(project), name], env)
        assert code == 3, text
        assert "TLS verification" in text and "ca_bundle" in text, text
    assert sandbox.accounting.records() == [], "a request reached the sandbox despite the certificate error"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.com"])
def test_the_sandbox_binds_to_loopback_only(host: str) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        SandboxConfig(host=host)


def test_no_secret_reaches_the_messages_of_failures(
    sandbox_factory: Callable[..., Sandbox],
    project: Path,
    debug_logs: list[str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The scan above, over the messages of what goes wrong: a state URL with a password (unreachable
    server), a token pasted where its variable's name belongs, a URL carrying a token, a damaged store."""
    sb = sandbox_factory(size=40, jira_auth=JiraAuth(api_token=JIRA_TOKEN), salesforce_token=SF_TOKEN)
    env = sb.info.as_env()
    p = ["--project", str(project)]
    outputs: list[str] = []
    state = f"postgresql+psycopg://tb:{JIRA_TOKEN}@127.0.0.1:1/tb?password={SF_TOKEN}&connect_timeout=2"
    for args, code in (
        (["sync", *p], 3),
        (["report", *p, "--state", state, "--format", "json"], 3),
    ):
        got, text = run(args, {**env, "TRACKERBRIDGE_STATE_URL": state})
        assert got == code, text[-2000:]
        assert "***" in text
        outputs.append(text)
    tokened = f"http://jira.example.com/?token={JIRA_TOKEN}"
    got, text = run(["check", *p, "sandbox-jira"], {**env, "TB_SANDBOX_JIRA_URL": tokened})
    assert got == 2, text
    outputs.append(text)
    connector = project / "connectors" / "sandbox-jira.yaml"
    original = connector.read_text()
    connector.write_text(original.replace("url_env: TB_SANDBOX_JIRA_URL", f"url: {tokened}"))
    got, text = run(["check", *p, "sandbox-jira"], env)
    assert got == 2 and "token=***" in text, text
    outputs.append(text)
    pasted = "ATATT3xFfGF0q8Zr2LkP9wYd4Nc7Hs1Bv6Tm5Xe0Ju"  # a token of a name's characters: passes the pattern
    connector.write_text(original.replace("token_env: TB_SANDBOX_JIRA_TOKEN", f"token_env: {pasted}"))
    for args in (["check", *p], ["audit", *p], ["sync", *p]):
        got, text = run(args, env)
        assert got == 2 and "looks like a secret" in text, text
        outputs.append(text)
    connector.write_text(original)
    db = project / ".trackerbridge" / "state.db"
    db.parent.mkdir(exist_ok=True)
    db.write_bytes(b"garbage" * 1000)
    got, text = run(["sync", *p], env)
    assert got == 2 and "damaged" in text, text
    outputs.append(text)
    captured = capfd.readouterr()
    email = sb.info.jira_email
    secrets = [*forms(JIRA_TOKEN, email), *forms(SF_TOKEN), pasted]
    for text in [*outputs, *debug_logs, captured.out, captured.err]:
        for secret in secrets:
            assert secret not in text
