"""The sandbox as a server: TLS, loopback only, faults over the wire, accounting, persistence."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from trackerbridge.sandbox import Sandbox, SandboxConfig


def jira_get(sb: Sandbox, path: str, **kwargs: object) -> requests.Response:
    info = sb.info
    return requests.get(
        f"{info.jira_url}/rest/api/2/{path}",
        auth=(info.jira_email, info.jira_api_token),
        verify=info.ca_bundle,
        timeout=10,
        **kwargs,
    )  # type: ignore[arg-type]


def sf_get(sb: Sandbox, path: str) -> requests.Response:
    info = sb.info
    return requests.get(
        f"{info.salesforce_url}/services/data/v59.0/{path}",
        verify=info.ca_bundle,
        headers={"Authorization": f"Bearer {info.salesforce_token}"},
        timeout=10,
    )


def test_refuses_to_bind_anything_but_loopback() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        SandboxConfig(host="0.0.0.0")


def test_tls_is_verified_against_the_sandbox_ca_only(sandbox: Sandbox) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sandbox.info.jira_url}/rest/api/2/serverInfo", timeout=10)
    assert jira_get(sandbox, "serverInfo").status_code == 200
    assert Path(sandbox.info.ca_bundle).read_text().startswith("-----BEGIN CERTIFICATE-----")
    ssl.create_default_context(cafile=sandbox.info.ca_bundle)  # a valid bundle


def test_rate_limit_fault_carries_retry_after_on_jira_and_request_limit_on_salesforce(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(faults="rate-limit:every=2,retry_after=7")
    assert jira_get(sb, "myself").status_code == 200
    limited = jira_get(sb, "myself")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert sf_get(sb, "limits").status_code == 200
    quota = sf_get(sb, "limits")
    assert quota.status_code == 403
    assert quota.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_server_errors_and_dropped_connections(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(faults="error:every=2,status=502;drop:every=3")
    assert jira_get(sb, "myself").status_code == 200
    assert jira_get(sb, "myself").status_code == 502
    with pytest.raises(requests.exceptions.ConnectionError):
        jira_get(sb, "myself")
    statuses = [r.status for r in sb.accounting.records()]
    assert statuses == [200, 502, 0]


def test_accounting_endpoint_counts_every_request_by_endpoint_and_status(sandbox: Sandbox) -> None:
    sandbox.admin("DELETE", "requests")
    for key in ("OPS-1", "OPS-2", "NOPE-1"):
        jira_get(sandbox, f"issue/{key}")
    sf_get(sandbox, "limits")
    summary = sandbox.admin("GET", "requests")
    assert summary["total"] == 4
    assert summary["by_service"] == {"jira": 3, "salesforce": 1}
    rows = {(r["endpoint"], r["status"]): r["count"] for r in summary["by_endpoint"]}
    assert rows[("/rest/api/2/issue/{key}", 200)] == 2
    assert rows[("/rest/api/2/issue/{key}", 404)] == 1
    assert sandbox.admin("GET", "requests")["total"] == 4, "admin calls are not counted"


def test_faults_can_be_changed_while_running(sandbox: Sandbox) -> None:
    sandbox.admin("PUT", "faults", {"spec": "error:every=1,status=503,service=jira"})
    assert jira_get(sandbox, "myself").status_code == 503
    sandbox.admin("PUT", "faults", {"spec": ""})
    assert jira_get(sandbox, "myself").status_code == 200


def test_a_person_can_act_through_their_own_account(sandbox: Sandbox) -> None:
    person = next(u for u in sandbox.jira_data.users.values() if "bot" not in u.email)
    info = sandbox.info
    response = requests.get(
        f"{info.jira_url}/rest/api/2/myself",
        auth=(person.email, info.jira_api_token),
        verify=info.ca_bundle,
        timeout=10,
    )
    assert response.json()["displayName"] == person.display_name


def test_data_dir_keeps_writes_across_a_restart(tmp_path: Path) -> None:
    first = Sandbox(SandboxConfig(data_dir=tmp_path, size=50)).start()
    try:
        info = first.info
        response = requests.put(
            f"{info.jira_url}/rest/api/2/issue/OPS-1",
            json={"update": {"labels": [{"add": "kept-after-restart"}]}},
            auth=(info.jira_email, info.jira_api_token),
            verify=info.ca_bundle,
            timeout=10,
        )
        assert response.status_code == 204
        ca = Path(info.ca_bundle).read_bytes()
    finally:
        first.stop()
    second = Sandbox(SandboxConfig(data_dir=tmp_path, size=50)).start()
    try:
        assert second.summary is None, "loaded from the snapshot, not generated"
        assert "kept-after-restart" in second.jira_data.issues["OPS-1"].fields["labels"]
        assert Path(second.info.ca_bundle).read_bytes() == ca
        assert jira_get(second, "issue/OPS-1").json()["fields"]["labels"][-1] == "kept-after-restart"
    finally:
        second.stop()


def test_faults_endpoint_answers_as_the_readme_describes(sandbox: Sandbox) -> None:
    import json
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    get_row = next(line for line in readme.splitlines() if line.startswith("| `GET /_sandbox/faults`"))
    put_row = next(line for line in readme.splitlines() if line.startswith("| `PUT /_sandbox/faults`"))
    documented = json.loads(re.search(r"`(\{\"rules\".*?\})`", get_row).group(1))
    body = json.loads(re.search(r"body `(\{.*?\})`", put_row).group(1))
    answer = sandbox.admin("PUT", "faults", body)
    for _ in range(6):
        jira_get(sandbox, "myself")
    assert sandbox.admin("GET", "faults") == documented  # error every 3rd request: 6 requests, fired twice
    assert answer == {"rules": [{**documented["rules"][0], "fired": 0}]}
