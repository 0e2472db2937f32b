"""Configuration that could leak or exhaust: secrets pasted where a variable's name belongs, YAML alias
bombs, plain http to another machine, and credentials in URLs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.config.errors import ConfigError
from trackerbridge.config.project import Project
from trackerbridge.config.yamlfile import MAX_ALIAS_NODES
from trackerbridge.connectors.base import ConnectorError
from trackerbridge.redact import looks_secret, mask_text, mask_url
from trackerbridge.sandbox import Sandbox

PASTED = "ATATT3xFfGF0q8Zr2LkP9wYd4Nc7Hs1Bv6Tm5Xe0Ju"  # an Atlassian API token's shape: letters and digits
SF_SECURITY_TOKEN = "aB3dE5fG7hI9jK1lM3nO5pQ7"  # 24 characters: what Salesforce mails as a security token


def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout + result.stderr


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new))


# --- secrets pasted into *_env keys -----------------------------------------------------------


@pytest.mark.parametrize("pasted", [PASTED, SF_SECURITY_TOKEN])
def test_a_secret_pasted_into_token_env_is_never_echoed(project: Path, sandbox: Sandbox, pasted: str) -> None:
    edit(project / "connectors" / "sandbox-jira.yaml", "token_env: TB_SANDBOX_JIRA_TOKEN", f"token_env: {pasted}")
    code, text = run(["check", "--project", str(project), "sandbox-jira"], sandbox.info.as_env())
    assert code == 2, text
    assert pasted not in text
    assert "this looks like a secret, not a variable name" in text
    assert "connectors/sandbox-jira.yaml:11: auth.token_env" in text
    assert sandbox.accounting.records() == []


def test_an_unset_variable_is_named_by_file_line_and_key_not_by_its_value(project: Path, sandbox: Sandbox) -> None:
    """Even a name that looks like a name may be a password (`correcthorse`): an unset one is never shown."""
    edit(project / "connectors" / "sandbox-jira.yaml", "token_env: TB_SANDBOX_JIRA_TOKEN", "token_env: correcthorse")
    code, text = run(["check", "--project", str(project), "sandbox-jira"], sandbox.info.as_env())
    assert code == 2, text
    assert "correcthorse" not in text
    assert "connectors/sandbox-jira.yaml:11: auth.token_env: the environment variable named here is not set" in text


@pytest.mark.parametrize(
    "value", [PASTED, SF_SECURITY_TOKEN, "ghp_" + "x7Yq2Lm9" * 5, "9f86d081884c7d659a2feaa0c55ad015"]
)
def test_secrets_look_like_secrets(value: str) -> None:
    assert looks_secret(value)


@pytest.mark.parametrize("name", ["TB_JIRA_TOKEN", "SF_PASSWORD", "JIRA_API_TOKEN", "TB_SANDBOX_SF_TOKEN", "HOME"])
def test_variable_names_do_not(name: str) -> None:
    assert not looks_secret(name)


# --- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://tb:pw1@db:5432/tb?sslmode=require",
            "postgresql+psycopg://tb:***@db:5432/tb?sslmode=require",
        ),
        ("postgresql://db/tb?user=tb&password=pw1", "postgresql://db/tb?user=tb&password=***"),
        ("https://jira.example.com/?token=pw1&x=1", "https://jira.example.com/?token=***&x=1"),
        ("https://h/p?api_key=pw1&sig=pw1&access_token=pw1", "https://h/p?api_key=***&sig=***&access_token=***"),
        ("sqlite:////srv/tb/state.db", "sqlite:////srv/tb/state.db"),
        ("https://:pw1@h/", "https://***@h/"),
    ],
)
def test_credentials_in_urls_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert "pw1" not in mask_text(f"could not connect to {url} (refused)")


# --- YAML alias bombs ---------------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_quickly_naming_file_and_line(project: Path) -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[n]
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb.encode()) < 2048  # about 9**9 (387 million) values once expanded
    file = project / "trackerbridge.yaml"
    file.write_text(file.read_text() + "\nbomb:\n" + "".join(f"  {line}\n" for line in lines))
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        Project.load(project)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"more than {MAX_ALIAS_NODES}" in message and "trackerbridge.yaml:" in message
    line = int(message.split("trackerbridge.yaml:")[1].split(":")[0])
    assert "*" in file.read_text().splitlines()[line - 1]  # the line of an alias being expanded
    code, text = run(["audit", "--project", str(project)], {})
    assert code == 2 and "alias" in text


def test_ordinary_merge_keys_still_work(tmp_path: Path) -> None:
    from trackerbridge.config.yamlfile import parse_yaml

    text = "base: &base {a: 1, b: 2}\n" + "".join(f"m{n}:\n  <<: *base\n  c: {n}\n" for n in range(50))
    data, _ = parse_yaml(text, tmp_path / "x.yaml")
    assert data["m49"] == {"a": 1, "b": 2, "c": 49}


# --- plain http to another machine ---------------------------------------------------------------


def test_plain_http_to_another_host_needs_allow_insecure_http_and_then_check_warns(
    project: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**sandbox.info.as_env(), "TB_SANDBOX_JIRA_URL": "http://jira.internal.example:8080"}
    code, text = run(["check", "--project", str(project), "sandbox-jira"], env)
    assert code == 2 and "must use https://" in text and "allow_insecure_http" in text
    file = project / "connectors" / "sandbox-jira.yaml"
    edit(file, "flavor: auto", "flavor: auto\nallow_insecure_http: true")
    connection = Project.load(project).connection("sandbox-jira", env)
    assert connection.insecure_http and connection.url == "http://jira.internal.example:8080"

    import trackerbridge.checking as checking

    def unreachable(*_a: object, **_k: object) -> object:  # the warning comes before connecting
        raise ConnectorError("jira 'sandbox-jira': cannot reach jira.internal.example")

    monkeypatch.setattr(checking, "open_source", unreachable)
    for _ in range(2):  # on every run
        code, text = run(["check", "--project", str(project), "sandbox-jira"], env)
        assert code == 3, text
        assert "sandbox-jira: warning: http://jira.internal.example:8080 is plain http to another machine" in text
    env["TB_SANDBOX_JIRA_URL"] = "http://127.0.0.1:8080"  # loopback: nothing to warn about
    code, text = run(["check", "--project", str(project), "sandbox-jira"], env)
    assert "warning" not in text
