"""`trackerbridge check` with the shipped files against the sandbox, and with broken copies of them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped project, to break."""
    for part in ("connectors", "mappings"):
        shutil.copytree(ROOT / part, tmp_path / part)
    return tmp_path


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_shipped_files_resolve_against_the_sandbox(flavor: str, sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(jira_flavor=flavor)
    code, out, err = run(["check", "--project", str(ROOT)], sb.info.as_env())
    assert code == 0, err
    assert f"sandbox-jira: jira {flavor} " in out
    assert "sandbox-salesforce: salesforce salesforce 59.0" in out
    assert "owner              <- Owner ID (OwnerId, user)" in out
    assert "ok: mapping 'demo-salesforce' resolves" in out


def test_check_with_an_embedded_sandbox_resolves_every_connector() -> None:
    code, out, err = run(["check", "--project", str(ROOT), "--sandbox", "cloud"])
    assert code == 0, err
    assert "sandbox-jira: jira cloud" in out
    assert "integrator         <- Integrator (customfield_10100, user)" in out
    assert "writes health      -> Execution health (customfield_10105, option, updateable, owned)" in out
    assert out.count("ok: mapping") == 2


def test_a_misspelt_field_points_at_its_line_with_a_suggestion(project: Path) -> None:
    mapping = project / "mappings" / "demo-jira.yaml"
    text = mapping.read_text().replace("integrator: Integrator", "integrator: Integrater")
    mapping.write_text(text)
    line = text.splitlines().index("  integrator: Integrater") + 1
    code, _, err = run(["check", "--project", str(project), "--sandbox", "cloud", "sandbox-jira"])
    assert code == 2
    assert (
        f"mappings/demo-jira.yaml:{line}: attributes.integrator.field: no field 'Integrater' in the live catalog" in err
    )
    assert "did you mean 'Integrator'?" in err


def test_a_write_back_field_that_is_not_owned_is_refused(project: Path) -> None:
    connector = project / "connectors" / "sandbox-jira.yaml"
    connector.write_text(
        connector.read_text().replace(
            "fields: [Execution health, Health reasons, Account owner]", "fields: [Health reasons, Account owner]"
        )
    )
    code, _, err = run(["check", "--project", str(project), "--sandbox", "cloud", "sandbox-jira"])
    assert code == 2
    assert "write_back.health_field: field 'Execution health' is not listed in the connector's owns.fields" in err


def test_a_sync_target_that_is_not_owned_is_reported_on_the_sync_line(project: Path) -> None:
    connector = project / "connectors" / "sandbox-salesforce.yaml"
    connector.write_text(connector.read_text().replace(" Delivery_Status__c,", ""))
    code, _, err = run(["check", "--project", str(project), "--sandbox", "cloud", "sandbox-salesforce"])
    assert code == 2
    assert "mappings/demo-jira.yaml:" in err
    assert "sync[0].field: field 'Delivery Status' is not listed in 'demo-salesforce''s connector owns.fields" in err


def test_missing_environment_variable_names_file_line_and_variable(project: Path) -> None:
    code, _, err = run(
        ["check", "--project", str(project), "sandbox-salesforce"],
        {"TB_SANDBOX_SF_URL": "https://127.0.0.1:1", "TB_SANDBOX_SF_TOKEN": ""},
    )
    assert code == 2
    assert "connectors/sandbox-salesforce.yaml:" in err
    assert "TB_SANDBOX_SF_TOKEN" in err


def test_rejected_credentials_exit_3_without_showing_the_secret(sandbox: Sandbox, project: Path) -> None:
    env = {**sandbox.info.as_env(), "TB_SANDBOX_SF_TOKEN": "00Dwrong!s3cr3t-value"}
    code, out, err = run(["check", "--project", str(project), "sandbox-salesforce"], env)
    assert code == 3
    assert "TB_SANDBOX_SF_TOKEN" in err
    assert "s3cr3t-value" not in out + err


def test_unknown_connector_name_gets_a_suggestion(project: Path) -> None:
    code, _, err = run(["check", "--project", str(project), "sandbox-jria"])
    assert code == 2
    assert "did you mean 'sandbox-jira'?" in err


def test_schema_command_prints_json_schema() -> None:
    code, out, _ = run(["schema", "mapping"])
    assert code == 0
    assert '"title"' in out and '"attributes"' in out


@pytest.mark.parametrize(
    ("example", "variables"),
    [
        ("jira-cloud", ["JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN"]),
        ("jira-datacenter", ["JIRA_URL", "JIRA_PAT"]),
        ("salesforce", ["SF_LOGIN_URL", "SF_USERNAME", "SF_CLIENT_ID"]),
    ],
)
def test_examples_load_and_say_which_variables_to_set(example: str, variables: list[str]) -> None:
    unset: dict[str, str | None] = dict.fromkeys(variables)
    code, _, err = run(["check", "--project", str(ROOT / "examples" / example)], unset)  # type: ignore[arg-type]
    assert code == 2
    # each unset variable by file, line and key (never the name: an unset "name" may be a pasted secret)
    assert err.count("the environment variable named here is not set") >= len(variables), err


def test_check_warns_about_prefix_label_ownership_and_a_missing_activity_field(project: Path, sandbox: Sandbox) -> None:
    jira = project / "connectors" / "sandbox-jira.yaml"
    jira.write_text(
        jira.read_text().replace(
            "labels: [health-green, health-amber, health-red, health-sync-conflict]", "label_prefixes: [health-]"
        )
    )
    sf = project / "mappings" / "demo-salesforce.yaml"
    sf.write_text("\n".join(line for line in sf.read_text().splitlines() if "activity_field" not in line) + "\n")
    code, _, err = run(["check", "--project", str(project)], sandbox.info.as_env())
    assert code == 0, err  # ready, with warnings
    assert "sandbox-jira: warning: owns.label_prefixes ['health-']: trackerbridge may remove every label" in err
    vocabulary = "health-amber, health-green, health-red, health-sync-conflict"
    assert f"list the labels in owns.labels instead: [{vocabulary}]" in err
    assert "sandbox-salesforce: warning: no write_back.activity_field" in err


def test_the_shipped_files_check_without_warnings(sandbox: Sandbox) -> None:
    code, _, err = run(["check", "--project", str(ROOT)], sandbox.info.as_env())
    assert code == 0 and "warning" not in err, err


def test_check_reads_the_scope_once_and_warns_of_a_field_that_comes_back_absent(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    """A field hidden by a field configuration resolves in the catalog but is left out of every issue in
    the search answer: `check` reads a sample and names it, so `audit` does not surprise with TB116s."""
    sb = sandbox_factory()
    sb.jira_data.hidden_fields["OPS"] = {"assignee"}
    sb.accounting.reset()
    code, out, err = run(["check", "--project", str(ROOT)], sb.info.as_env())
    assert code == 0, err
    assert "ok: the scope query runs (25 sample records read)" in out
    assert "sandbox-jira: warning: field 'Assignee' (assignee) came back absent on" in err
    assert "sandbox-salesforce: warning" not in err
    searches = [r for r in sb.accounting.records() if "/search" in r.path]
    assert len(searches) == 1  # one page of the scope, not the whole of it


def test_live_values_missing_from_a_value_map_exit_2_with_did_you_mean(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    """Statuses from GET status (https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-workflow-statuses/)
    and picklist values from describe: each live value a value map leaves out would make every record
    holding it a TB116 finding in audit, so `check` names it, with the nearest spelling, and exits 2."""
    sb = sandbox_factory()
    mapping = project / "mappings" / "demo-jira.yaml"
    text = mapping.read_text(encoding="utf-8")
    text = text.replace("      Under Review: decide\n", "      Under Reveiw: decide\n")
    text = text.replace("      Rolling Out: launch\n", "")
    mapping.write_text(text, encoding="utf-8")
    sf = project / "mappings" / "demo-salesforce.yaml"
    sf.write_text(sf.read_text(encoding="utf-8").replace("      Closed Lost: cancelled\n", ""), encoding="utf-8")
    code, _, err = run(["check", "--project", str(project)], sb.info.as_env())
    assert code == 2, err
    assert "Status value 'Under Review' on the live instance is not in the value map" in err
    assert "did you mean 'Under Reveiw'?" in err
    assert "Status value 'Rolling Out' on the live instance is not in the value map" in err
    assert "add 'Rolling Out' to the value map, or set default" in err
    assert "Stage value 'Closed Lost' on the live instance is not in the value map" in err
    assert "mappings/demo-jira.yaml:" in err and "mappings/demo-salesforce.yaml:" in err
    assert "Priority value" not in err  # every priority is mapped


def test_statuses_are_those_of_the_projects_in_scope_not_the_whole_site(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    """GET status lists every workflow's statuses on the site; GET project/{key}/statuses those of the
    projects the scope reads (https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-projects/#api-rest-api-2-project-projectidorkey-statuses-get):
    a status only another project's workflow uses is not a gap in this value map."""
    from trackerbridge.sandbox.jira_model import Status

    sb = sandbox_factory()
    sb.jira_data.statuses["20000"] = Status("20000", "Parked", "new")  # another team's workflow
    used = [sid for sid in sb.jira_data.statuses if sid != "20000"]
    sb.jira_data.project_statuses.update({"OPS": used, "DEL": used})
    sb.accounting.reset()
    code, _, err = run(["check", "--project", str(project)], sb.info.as_env())
    assert code == 0, err
    assert "Parked" not in err
    asked = {r.path for r in sb.accounting.records() if r.path.endswith("/statuses")}
    assert asked == {"/rest/api/2/project/OPS/statuses", "/rest/api/2/project/DEL/statuses"}
    sb.jira_data.project_statuses["OPS"] = [*used, "20000"]  # now a workflow in scope has it
    code, _, err = run(["check", "--project", str(project)], sb.info.as_env())
    assert code == 2 and "Status value 'Parked' on the live instance is not in the value map" in err


@pytest.mark.parametrize(
    ("mapping", "entered"),
    [
        ("jira-cloud/mappings/initiatives.yaml", "Status Category Changed"),
        ("jira-datacenter/mappings/epics.yaml", None),  # from history
        ("salesforce/mappings/opportunities.yaml", "LastStageChangeDate"),
        ("salesforce/mappings/initiative-object.yaml", "Status_Changed__c"),
    ],
)
def test_shipped_examples_map_what_the_date_rules_need(mapping: str, entered: str | None) -> None:
    """TB104 and TB110 judge by created and stage_entered: every example maps them (or reads history)."""
    from trackerbridge.config.models import MappingFile
    from trackerbridge.config.yamlfile import load_yaml

    spec = MappingFile.model_validate(load_yaml(ROOT / "examples" / mapping)[0])
    assert "created" in spec.attributes
    if entered is None:
        assert spec.history and "stage_entered" not in spec.attributes
    else:
        assert spec.attributes["stage_entered"].field == entered


def test_a_scope_naming_a_project_that_does_not_exist_fails_in_check(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    """Jira refuses JQL naming an unknown project with 400 ("The value 'NOPE' does not exist for the field
    'project'"): `check` runs the scope once, so this fails now (exit 2), not in the first cron run."""
    sb = sandbox_factory()
    connector = project / "connectors" / "sandbox-jira.yaml"
    text = connector.read_text(encoding="utf-8")
    jql = next(line for line in text.splitlines() if line.strip().startswith("jql:"))
    connector.write_text(text.replace(jql, '  jql: "project = NOPE"'), encoding="utf-8")
    code, _, err = run(["check", "--project", str(project)], sb.info.as_env())
    assert code == 2, err
    assert "NOPE" in err and "connectors/sandbox-jira.yaml" in err


def test_the_jira_cloud_example_fails_check_where_audit_would_find_unreadable_statuses(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    """The example's workflow (To Do, Discovery, Beta, ...) is not the sandbox's: before, `check` passed and
    `audit` gave a TB116 per record; now `check` names each live status the value map leaves out."""
    sb = sandbox_factory()
    example = tmp_path / "jira-cloud"
    shutil.copytree(ROOT / "examples" / "jira-cloud", example)
    connector = example / "connectors" / "jira.yaml"
    connector.write_text(connector.read_text(encoding="utf-8").replace("project = PMO AND ", "project = OPS AND "))
    env = {
        "JIRA_URL": sb.info.jira_url,
        "JIRA_EMAIL": sb.info.jira_email,
        "JIRA_API_TOKEN": sb.info.jira_api_token,
        "REQUESTS_CA_BUNDLE": sb.info.ca_bundle,
    }
    code, _, err = run(["check", "--project", str(example)], env)
    assert code == 2, err
    for status in ("Backlog", "Under Review", "Rolling Out"):
        assert f"Status value '{status}' on the live instance is not in the value map" in err
    assert "mappings/initiatives.yaml:12: attributes.stage.values" in err
