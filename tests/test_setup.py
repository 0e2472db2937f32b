"""`trackerbridge setup`: fields the mappings name but the tracker lacks are listed, created (Jira) or
printed as a metadata package (Salesforce), against the sandbox."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import Catalog, FieldInfo
from trackerbridge.sandbox import Sandbox
from trackerbridge.sandbox import jira_model as jm
from trackerbridge.setup import SELECT, TEXTAREA, USER, missing_fields, salesforce_names, wanted_fields

ROOT = Path(__file__).resolve().parent.parent
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shipped project, with write-back fields the sandbox does not have."""
    for part in ("connectors", "mappings"):
        shutil.copytree(ROOT / part, tmp_path / part)
    for path, old, new in (
        ("mappings/demo-jira.yaml", "Execution health", "Delivery health"),
        ("connectors/sandbox-jira.yaml", "Execution health", "Delivery health"),
        ("mappings/demo-salesforce.yaml", "Execution_Health__c", "Programme_Health__c"),
        ("connectors/sandbox-salesforce.yaml", "Execution_Health__c", "Programme_Health__c"),
    ):
        file = tmp_path / path
        text = file.read_text()
        assert old in text
        file.write_text(text.replace(old, new))
    return tmp_path


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def fields_named(sb: Sandbox, name: str) -> list[jm.FieldDef]:
    return [f for f in sb.jira_data.fields.values() if f.name == name]


def test_wanted_fields_follow_write_back_and_incoming_syncs() -> None:
    project = Project.load(ROOT)
    jira = {p.ref: p for p in wanted_fields(project, "sandbox-jira")}
    assert (jira["Execution health"].kind, jira["Execution health"].options) == (SELECT, ("Green", "Amber", "Red"))
    assert jira["Health reasons"].kind == TEXTAREA
    assert jira["Account owner"].kind == USER  # Salesforce syncs its owner (a person) into it
    sf = {p.ref: p for p in wanted_fields(project, "sandbox-salesforce")}
    assert sf["Delivery_Status__c"].options == ("Decide", "Build", "Launch", "Done", "Cancelled")
    assert sf["Delivery_Owner__c"].kind == USER
    catalog = Catalog([FieldInfo("customfield_1", "Execution health", "option")])
    assert [p.ref for p in missing_fields(list(jira.values()), catalog)] == ["Health reasons", "Account owner"]


def test_salesforce_names_from_labels_and_api_names() -> None:
    assert salesforce_names("Delivery_Status__c") == ("Delivery_Status__c", "Delivery Status")
    assert salesforce_names("Delivery status (ops)") == ("Delivery_status_ops__c", "Delivery status (ops)")


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_dry_run_lists_the_missing_field_and_creates_nothing(
    flavor: str, project: Path, sandbox_factory: Callable[..., Sandbox]
) -> None:
    sb = sandbox_factory(jira_flavor=flavor)
    before = dict(sb.jira_data.fields)
    code, out, err = run(["setup", "jira", "--project", str(project)], sb.info.as_env())
    assert code == 1, err  # as its help says: the dry run found fields missing
    assert "Delivery health: select list [Green, Amber, Red]" in out
    assert "Health reasons" not in out  # exists already
    assert "dry run" in out
    assert sb.jira_data.fields == before


def test_apply_creates_the_field_with_its_options_then_check_passes_and_a_rerun_creates_nothing(
    project: Path, sandbox_factory: Callable[..., Sandbox]
) -> None:
    sb = sandbox_factory(jira_flavor="cloud")
    env = sb.info.as_env()
    code, _, err = run(["check", "--project", str(project), "sandbox-jira"], env)
    assert code == 2 and "no field 'Delivery health'" in err
    assert "  next: `trackerbridge setup jira sandbox-jira` lists the missing fields (`--apply` creates them" in err
    code, out, err = run(["setup", "jira", "sandbox-jira", "--project", str(project), "--apply"], env)
    assert code == 0, err
    [created] = fields_named(sb, "Delivery health")
    assert created.custom and created.kind == jm.OPTION
    assert created.allowed_values == ("Green", "Amber", "Red")
    assert f"created Delivery health ({created.id}) with options Green, Amber, Red" in out
    assert "sandbox-jira-token" not in out + err
    code, out, err = run(["check", "--project", str(project), "sandbox-jira"], env)
    assert code == 0, err
    assert f"writes health      -> Delivery health ({created.id}, option" in out
    count = len(sb.jira_data.fields)
    code, out, err = run(["setup", "jira", "--project", str(project), "--apply"], env)
    assert code == 0, err
    assert "no missing fields" in out
    assert len(sb.jira_data.fields) == count
    assert run(["setup", "jira", "--project", str(project)], env)[0] == 0  # the dry run: nothing missing now
    assert len(fields_named(sb, "Delivery health")) == 1


def test_data_center_creates_the_field_and_prints_the_admin_steps_for_options(
    project: Path, sandbox_factory: Callable[..., Sandbox]
) -> None:
    sb = sandbox_factory(jira_flavor="datacenter")
    code, out, err = run(["setup", "jira", "--project", str(project), "--apply"], sb.info.as_env())
    assert code == 0, err
    [created] = fields_named(sb, "Delivery health")
    assert created.allowed_values == ()
    assert "Edit Options and add: Green, Amber, Red" in out


def test_a_non_admin_account_is_a_connector_error(project: Path, sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(jira_flavor="cloud")
    other = next(u for u in sb.jira_data.users.values() if u.active and u.email != sb.info.jira_email)
    env = {**sb.info.as_env(), "TB_SANDBOX_JIRA_EMAIL": other.email}
    code, _, err = run(["setup", "jira", "--project", str(project), "--apply"], env)
    assert code == 3
    assert "403" in err and "Administer Jira" in err
    assert not fields_named(sb, "Delivery health")


def test_naming_a_connector_of_the_other_system_is_a_config_error(
    project: Path, sandbox_factory: Callable[..., Sandbox]
) -> None:
    sb = sandbox_factory()
    code, _, err = run(["setup", "jira", "sandbox-salesforce", "--project", str(project)], sb.info.as_env())
    assert code == 2
    assert "not a jira connector" in err


def test_salesforce_prints_a_metadata_package_and_writes_it_with_output(
    project: Path, tmp_path: Path, sandbox_factory: Callable[..., Sandbox]
) -> None:
    sb = sandbox_factory()
    env = sb.info.as_env()
    code, _, err = run(["check", "--project", str(project), "sandbox-salesforce"], env)
    assert code == 2 and "  next: `trackerbridge setup salesforce sandbox-salesforce` prints the missing" in err
    code, out, err = run(["setup", "salesforce", "--project", str(project)], env)
    assert code == 0, err
    docs: dict[str, str] = {}
    for chunk in out.split("# ")[1:]:
        header, _, body = chunk.partition("\n")
        docs[header.strip()] = body
    path = "objects/Opportunity/fields/Programme_Health__c.field-meta.xml"
    assert set(docs) == {path, "package.xml"}
    field = ET.fromstring(docs[path].encode())
    assert field.findtext("md:fullName", namespaces=NS) == "Programme_Health__c"
    assert field.findtext("md:type", namespaces=NS) == "Picklist"
    values = field.findall("md:valueSet/md:valueSetDefinition/md:value/md:fullName", NS)
    assert [v.text for v in values] == ["Green", "Amber", "Red"]
    package = ET.fromstring(docs["package.xml"].encode())
    assert package.findtext("md:types/md:members", namespaces=NS) == "Opportunity.Programme_Health__c"
    assert package.findtext("md:types/md:name", namespaces=NS) == "CustomField"
    assert env["TB_SANDBOX_SF_TOKEN"] not in out + err

    target = tmp_path / "pkg"
    code, out, err = run(["setup", "salesforce", "--project", str(project), "--output", str(target)], env)
    assert code == 0, err
    assert (target / path).read_text() == docs[path]
    assert ET.parse(target / "package.xml").getroot().tag == f"{{{NS['md']}}}Package"


def test_salesforce_reasons_and_person_targets_get_long_text_and_user_lookups(
    project: Path, tmp_path: Path, sandbox_factory: Callable[..., Sandbox]
) -> None:
    for path, old, new in (
        ("mappings/demo-salesforce.yaml", "Health_Reasons__c", "Why_Health__c"),
        ("connectors/sandbox-salesforce.yaml", "Health_Reasons__c", "Why_Health__c"),
        ("mappings/demo-jira.yaml", "field: Integrator__c", "field: Integration_Lead__c"),
        ("connectors/sandbox-salesforce.yaml", "Integrator__c]", "Integration_Lead__c]"),
    ):
        file = project / path
        file.write_text(file.read_text().replace(old, new))
    sb = sandbox_factory()
    target = tmp_path / "pkg"
    code, _, err = run(["setup", "salesforce", "--project", str(project), "--output", str(target)], sb.info.as_env())
    assert code == 0, err
    fields = target / "objects" / "Opportunity" / "fields"
    reasons = ET.parse(fields / "Why_Health__c.field-meta.xml").getroot()
    assert reasons.findtext("md:type", namespaces=NS) == "LongTextArea"
    assert reasons.findtext("md:length", namespaces=NS) == "32768"
    assert reasons.findtext("md:visibleLines", namespaces=NS) == "5"
    lead = ET.parse(fields / "Integration_Lead__c.field-meta.xml").getroot()
    assert lead.findtext("md:type", namespaces=NS) == "Lookup"
    assert lead.findtext("md:referenceTo", namespaces=NS) == "User"
    members = [m.text for m in ET.parse(target / "package.xml").getroot().iter(f"{{{NS['md']}}}members")]
    assert sorted(members) == [
        "Opportunity.Integration_Lead__c",
        "Opportunity.Programme_Health__c",
        "Opportunity.Why_Health__c",
    ]
