"""Loading a project's files: every mistake names the file, the line, the key and what would be valid."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
import yaml

from trackerbridge.config import yamlfile
from trackerbridge.config.connection import Secret
from trackerbridge.config.errors import ConfigError, ConfigErrors, did_you_mean, format_key
from trackerbridge.config.models import JiraConnector, SalesforceConnector
from trackerbridge.config.project import Project
from trackerbridge.config.schema import json_schema, render

REPO = Path(__file__).resolve().parent.parent

JIRA_CONNECTOR = """\
# yaml-language-server: $schema=../schemas/connector.schema.json
type: jira
url: https://example.atlassian.net/
auth:
  method: api_token
  email_env: TB_JIRA_EMAIL
  token_env: TB_JIRA_TOKEN
scope:
  jql: project = OPS
mapping: jira-initiatives
timeout: 12.5
"""

JIRA_MAPPING = """\
system: jira
attributes:
  title: Summary
  owner: Assignee
  stage:
    field: Status
    values:
      Backlog: decide
      In Progress: build
      Done: done
links:
  - system: salesforce
    field: Opportunity
sync:
  - attribute: stage
    to: sf-opportunities
    field: Delivery_Status__c
    quality_owner: ops@example.com
"""

SF_CONNECTOR = """\
type: salesforce
url_env: TB_SF_URL
ca_bundle: certs/ca.pem
auth:
  method: password
  username_env: TB_SF_USER
  password_env: TB_SF_PASSWORD
  security_token_env: TB_SF_SECURITY_TOKEN
  client_id_env: TB_SF_CLIENT_ID
  client_secret_env: TB_SF_CLIENT_SECRET
scope:
  object: Opportunity
  where: IsClosed = false
mapping: sf-opportunities
"""

SF_MAPPING = """\
system: salesforce
attributes:
  title: Name
  owner: Owner
  size:
    field: Amount
    at_least: {0: minor, 100000: major}
links:
  - system: jira
    field: Jira_Epic__c
"""

JIRA_ENV = {"TB_JIRA_EMAIL": "bot@example.com", "TB_JIRA_TOKEN": "jira-token-value-123"}
SF_ENV = {
    "TB_SF_URL": "https://example.my.salesforce.com",
    "TB_SF_USER": "bot@example.com",
    "TB_SF_PASSWORD": "sf-password-value-456",
    "TB_SF_SECURITY_TOKEN": "sf-security-token-789",
    "TB_SF_CLIENT_ID": "client-id-abc",
    "TB_SF_CLIENT_SECRET": "client-secret-def",
}


def make(root: Path, files: dict[str, str]) -> Path:
    """Write a project: relative path -> YAML text (dedented)."""
    for relative, text in files.items():
        file = root / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def valid_files(**overrides: str) -> dict[str, str]:
    files = {
        "connectors/jira.yaml": JIRA_CONNECTOR,
        "mappings/jira-initiatives.yaml": JIRA_MAPPING,
        "connectors/sf.yaml": SF_CONNECTOR,
        "mappings/sf-opportunities.yaml": SF_MAPPING,
        "certs/ca.pem": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    }
    for key, value in overrides.items():  # connectors__jira_yaml -> connectors/jira.yaml
        directory, stem = key.split("__")
        files[f"{directory}/{stem.removesuffix('_yaml').replace('_', '-')}.yaml"] = value
    return files


def load_errors(root: Path) -> list[str]:
    """The headline of every error Project.load reports, in order."""
    with pytest.raises(ConfigError) as info:
        Project.load(root)
    return [error.headline() for error in info.value.errors]


def only_error(root: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Project.load(root)
    errors = info.value.errors
    assert len(errors) == 1, str(info.value)
    return errors[0]


# --- YAML ------------------------------------------------------------------------------------------

LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
def test_broken_yaml_names_line_and_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: type) -> None:
    monkeypatch.setattr(yamlfile, "_Loader", loader)
    make(tmp_path, valid_files(connectors__jira_yaml='type: jira\ndescription: "Ops\nmapping: x\n'))
    error = only_error(tmp_path)
    assert str(error) == (
        "connectors/jira.yaml:4:1: invalid YAML: found unexpected end of stream\n"
        "  hint: while scanning a quoted scalar at line 2, column 14"
    )
    assert (error.line, error.column) == (4, 1)


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
def test_unquoted_colon_points_at_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: type) -> None:
    monkeypatch.setattr(yamlfile, "_Loader", loader)
    make(tmp_path, valid_files(connectors__jira_yaml="type: jira\ndescription: Ops: all of it\n"))
    error = only_error(tmp_path)
    assert (error.line, error.column) == (2, 17)  # the colon after Ops
    assert error.message.startswith("invalid YAML: mapping values are not allowed")
    assert error.hint == "a value containing ': ' must be quoted"


def test_tabs_get_a_hint(tmp_path: Path) -> None:
    make(tmp_path, valid_files(connectors__jira_yaml="type: jira\nscope:\n\tjql: project = OPS\n"))
    error = only_error(tmp_path)
    assert (error.file, error.line, error.column) == (tmp_path / "connectors/jira.yaml", 3, 1)
    assert error.hint is not None and error.hint.startswith("indent with spaces: YAML does not allow tabs")


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    text = JIRA_CONNECTOR + "auth:\n  method: pat\n  token_env: TB_PAT\n  token_env: TB_OTHER\n"
    make(tmp_path, valid_files(connectors__jira_yaml=text))
    assert load_errors(tmp_path) == [
        "connectors/jira.yaml:12: auth: duplicate key 'auth' (first at line 4)",
        "connectors/jira.yaml:15: auth.token_env: duplicate key 'token_env' (first at line 14)",
    ]


def test_non_mapping_and_empty_documents(tmp_path: Path) -> None:
    make(tmp_path, valid_files(connectors__jira_yaml="- type: jira\n- url: x\n", mappings__sf_opportunities_yaml="\n"))
    assert load_errors(tmp_path) == [
        "connectors/jira.yaml:1: expected a mapping of keys and values at the top of the file, got a list",
        "mappings/sf-opportunities.yaml:1: the file is empty; expected a mapping of keys and values",
    ]


def test_line_index_covers_keys_items_and_merges(tmp_path: Path) -> None:
    file = make(
        tmp_path, {"x.yaml": "base: &b {timeout: 5, url: a}\nitems:\n  - one\n  - {two: 2}\nc:\n  url: z\n  <<: *b\n"}
    )
    data, lines = yamlfile.load_yaml(file / "x.yaml")
    assert data == {"base": {"timeout": 5, "url": "a"}, "items": ["one", {"two": 2}], "c": {"url": "z", "timeout": 5}}
    assert lines[("items", 1, "two")] == (4, 6)
    assert lines[("items", 0)] == (3, 5)
    assert lines[("c", "url")] == (6, 3)  # the explicit key, not the merged one
    assert lines[("c", "timeout")] == (1, 11)  # merged keys point at the anchor


# --- one file against its model --------------------------------------------------------------------


def test_unknown_key_suggests_the_near_miss(tmp_path: Path) -> None:
    text = JIRA_CONNECTOR.replace("timeout: 12.5", "timout: 12.5\ncolour: blue")
    make(tmp_path, valid_files(connectors__jira_yaml=text))
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert str(info.value) == (
        "connectors/jira.yaml:11: timout: unknown key 'timout'\n"
        "  hint: did you mean 'timeout'?\n"
        "connectors/jira.yaml:12: colour: unknown key 'colour'\n"
        "  hint: valid keys: url, url_env, ca_bundle, ca_bundle_env, mapping, owns, timeout, allow_insecure_http, "
        "description, type, flavor, auth, scope"
    )


def test_wrong_type(tmp_path: Path) -> None:
    text = JIRA_CONNECTOR.replace("timeout: 12.5", "timeout: abc\nowns:\n  fields: Execution health")
    make(tmp_path, valid_files(connectors__jira_yaml=text))
    assert load_errors(tmp_path) == [
        "connectors/jira.yaml:11: timeout: expected a number, got 'abc'",
        "connectors/jira.yaml:13: owns.fields: expected a list, got 'Execution health'",
    ]


def test_bare_number_where_text_is_expected_says_quote_it(tmp_path: Path) -> None:
    text = SF_CONNECTOR + "api_version: 59.0\n"
    make(tmp_path, valid_files(connectors__sf_yaml=text))
    error = only_error(tmp_path)
    assert error.headline() == "connectors/sf.yaml:15: api_version: expected text, got 59.0"
    assert error.hint is not None and error.hint.startswith("quote it ('...') if you meant text")


def test_bad_auth_method(tmp_path: Path) -> None:
    make(tmp_path, valid_files(connectors__jira_yaml=JIRA_CONNECTOR.replace("api_token", "api_tokn")))
    error = only_error(tmp_path)
    assert str(error) == (
        "connectors/jira.yaml:5: auth.method: 'api_tokn' is not valid; expected one of api_token, pat, basic\n"
        "  hint: did you mean 'api_token'?"
    )


def test_bad_connector_type_and_missing_type(tmp_path: Path) -> None:
    make(
        tmp_path,
        valid_files(
            connectors__jira_yaml=JIRA_CONNECTOR.replace("type: jira", "type: JIRA"), connectors__x_yaml="url: a\n"
        ),
    )
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert str(info.value) == (
        "connectors/jira.yaml:2: type: 'JIRA' is not valid; expected one of jira, salesforce\n"
        "  hint: did you mean 'jira'?\n"
        "connectors/x.yaml:1: type: missing required key 'type'; expected one of jira, salesforce"
    )


def test_errors_inside_a_tagged_union_point_at_the_right_key(tmp_path: Path) -> None:
    # pydantic reports ('jira', 'auth', 'api_token', 'email_env'): the tags are not YAML keys.
    text = JIRA_CONNECTOR.replace("email_env: TB_JIRA_EMAIL", "email_env: $TB_JIRA_EMAIL").replace(
        "  token_env: TB_JIRA_TOKEN\n", "  token_env: TB_JIRA_TOKEN\n  tokn: x\n"
    )
    make(tmp_path, valid_files(connectors__jira_yaml=text))
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert str(info.value) == (
        "connectors/jira.yaml:6: auth.email_env: expected the name of an environment variable "
        "(letters, digits and _, not starting with a digit)\n"
        "  hint: give the variable's name, e.g. TB_JIRA_TOKEN, not its value and without $\n"
        "connectors/jira.yaml:8: auth.tokn: unknown key 'tokn'\n"
        "  hint: did you mean 'token_env'?"
    )


def test_a_pasted_secret_in_an_env_key_is_not_echoed(tmp_path: Path) -> None:
    pasted = "ATATT3xFfGF0-secret/value=="
    make(tmp_path, valid_files(connectors__jira_yaml=JIRA_CONNECTOR.replace("TB_JIRA_TOKEN", pasted)))
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert info.value.key == "auth.token_env"
    assert pasted not in str(info.value)


def test_missing_required_key(tmp_path: Path) -> None:
    text = JIRA_CONNECTOR.replace("mapping: jira-initiatives\n", "")
    make(tmp_path, valid_files(connectors__jira_yaml=text))
    error = only_error(tmp_path)
    assert str(error) == (
        "connectors/jira.yaml:2: mapping: missing required key 'mapping'\n"
        "  hint: mapping: Name of the mapping file in mappings/, without .yaml"
    )


def test_missing_key_in_a_list_item_points_at_the_item(tmp_path: Path) -> None:
    text = JIRA_MAPPING.replace("    quality_owner: ops@example.com\n", "")
    make(tmp_path, valid_files(mappings__jira_initiatives_yaml=text))
    assert load_errors(tmp_path) == [
        "mappings/jira-initiatives.yaml:15: sync[0].quality_owner: missing required key 'quality_owner'"
    ]


def test_exactly_one_of_url_or_url_env_points_at_the_second(tmp_path: Path) -> None:
    text = JIRA_CONNECTOR + "url_env: TB_JIRA_URL\n"
    make(tmp_path, valid_files(connectors__jira_yaml=text))
    assert load_errors(tmp_path) == ["connectors/jira.yaml:12: url_env: give exactly one of url or url_env"]


def test_model_value_error_keeps_its_words(tmp_path: Path) -> None:
    make(
        tmp_path,
        valid_files(connectors__jira_yaml=JIRA_CONNECTOR.replace("project = OPS", "project = OPS ORDER BY key")),
    )
    assert load_errors(tmp_path) == [
        "connectors/jira.yaml:9: scope.jql: leave ORDER BY out: trackerbridge orders by its own watermark"
    ]


def test_unknown_canonical_attribute_suggests(tmp_path: Path) -> None:
    text = JIRA_MAPPING.replace("  owner: Assignee\n", "  owner: Assignee\n  integator: Integrator\n  colour: Colour\n")
    make(tmp_path, valid_files(mappings__jira_initiatives_yaml=text))
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert str(info.value) == (
        "mappings/jira-initiatives.yaml:5: attributes.integator: unknown attribute 'integator'\n"
        "  hint: did you mean 'integrator'?\n"
        "mappings/jira-initiatives.yaml:6: attributes.colour: unknown attribute 'colour'\n"
        "  hint: canonical attributes: title, kind, owner, integrator, decision_owner, team, stage, stage_entered, "
        "lane, size, start, end, learning_note, commitment, scorecard_measures, labels, created, updated; "
        "put others under extra:"
    )


def test_stage_value_map_to_an_invalid_stage(tmp_path: Path) -> None:
    text = JIRA_MAPPING.replace("In Progress: build", "In Progress: buld").replace("Done: done", "Done: finished")
    make(tmp_path, valid_files(mappings__jira_initiatives_yaml=text))
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert str(info.value) == (
        "mappings/jira-initiatives.yaml:9: attributes.stage.values[\"In Progress\"]: stage maps to 'buld'; "
        "expected one of build, cancelled, decide, done, launch\n"
        "  hint: did you mean 'build'?\n"
        "mappings/jira-initiatives.yaml:10: attributes.stage.values.Done: stage maps to 'finished'; "
        "expected one of build, cancelled, decide, done, launch"
    )


def test_attribute_checks_run_alongside_other_errors(tmp_path: Path) -> None:
    # pydantic skips the attribute validator when a spec is invalid; the user still hears about both.
    text = JIRA_MAPPING.replace("  owner: Assignee\n", "  owner: {fild: Assignee}\n  ownr: Assignee\n")
    make(tmp_path, valid_files(mappings__jira_initiatives_yaml=text))
    assert load_errors(tmp_path) == [
        "mappings/jira-initiatives.yaml:4: attributes.owner.field: missing required key 'field'",
        "mappings/jira-initiatives.yaml:4: attributes.owner.fild: unknown key 'fild'",
        "mappings/jira-initiatives.yaml:5: attributes.ownr: unknown attribute 'ownr'",
    ]


def test_bad_dict_key_literal(tmp_path: Path) -> None:
    text = JIRA_MAPPING + "write_back:\n  health_values: {gren: Green, red: Red}\n"
    make(tmp_path, valid_files(mappings__jira_initiatives_yaml=text))
    error = only_error(tmp_path)
    assert str(error) == (
        "mappings/jira-initiatives.yaml:20: write_back.health_values.gren: "
        "'gren' is not valid; expected one of green, amber, red\n"
        "  hint: did you mean 'green'?"
    )


# --- across files ----------------------------------------------------------------------------------


def test_connector_names_an_unknown_mapping(tmp_path: Path) -> None:
    make(tmp_path, valid_files(connectors__jira_yaml=JIRA_CONNECTOR.replace("jira-initiatives", "jira-initiative")))
    error = only_error(tmp_path)
    assert str(error) == (
        "connectors/jira.yaml:10: mapping: no mapping named 'jira-initiative' "
        "(there is no mappings/jira-initiative.yaml)\n"
        "  hint: did you mean 'jira-initiatives'?"
    )


def test_mapping_system_must_match_connector_type(tmp_path: Path) -> None:
    make(tmp_path, valid_files(connectors__jira_yaml=JIRA_CONNECTOR.replace("jira-initiatives", "sf-opportunities")))
    error = only_error(tmp_path)
    assert str(error) == (
        "connectors/jira.yaml:10: mapping: mapping 'sf-opportunities' is for salesforce, "
        "but this connector's type is jira\n"
        "  hint: mappings/sf-opportunities.yaml:1 says system: salesforce"
    )


def test_sync_to_must_name_a_mapping_of_the_other_system(tmp_path: Path) -> None:
    more = [
        "  - attribute: owner",
        "    to: jira-initiatives",
        "    field: Owner__c",
        "    quality_owner: ops@example.com",
        "  - attribute: ownr",
        "    to: sf-opportunities",
        "    field: Owner__c",
        "    quality_owner: ops@example.com",
    ]
    text = JIRA_MAPPING.replace("to: sf-opportunities", "to: sf-oportunities") + "\n".join(more) + "\n"
    make(tmp_path, valid_files(mappings__jira_initiatives_yaml=text))
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert str(info.value) == (
        "mappings/jira-initiatives.yaml:16: sync[0].to: no mapping named 'sf-oportunities'\n"
        "  hint: did you mean 'sf-opportunities'?\n"
        "mappings/jira-initiatives.yaml:20: sync[1].to: mapping 'jira-initiatives' is for jira too; "
        "sync writes to salesforce\n"
        "mappings/jira-initiatives.yaml:23: sync[2].attribute: 'ownr' is not an attribute of this mapping\n"
        "  hint: did you mean 'owner'?"
    )


def test_links_point_to_the_other_system(tmp_path: Path) -> None:
    make(
        tmp_path, valid_files(mappings__sf_opportunities_yaml=SF_MAPPING.replace("system: jira", "system: salesforce"))
    )
    assert load_errors(tmp_path) == [
        "mappings/sf-opportunities.yaml:9: links[0].system: a salesforce mapping links to records in the other "
        "system; expected 'jira'"
    ]


def test_all_files_errors_come_together_in_file_and_line_order(tmp_path: Path) -> None:
    make(
        tmp_path,
        valid_files(
            connectors__sf_yaml=SF_CONNECTOR.replace("object: Opportunity", "objekt: Opportunity"),
            connectors__jira_yaml=JIRA_CONNECTOR.replace("timeout: 12.5", "timeout: -1").replace("flavor", "x"),
            mappings__jira_initiatives_yaml=JIRA_MAPPING.replace("Done: done", "Done: dne"),
        ),
    )
    with pytest.raises(ConfigErrors) as info:
        Project.load(tmp_path)
    assert info.value.exit_code == 2
    assert str(info.value) == (
        "connectors/jira.yaml:11: timeout: expected a number greater than 0, got -1\n"
        "connectors/sf.yaml:11: scope.object: missing required key 'object'\n"
        "  hint: object: sObject API name, e.g. Opportunity or Initiative__c\n"
        "connectors/sf.yaml:12: scope.objekt: unknown key 'objekt'\n"
        "  hint: did you mean 'object'?\n"
        "mappings/jira-initiatives.yaml:10: attributes.stage.values.Done: stage maps to 'dne'; "
        "expected one of build, cancelled, decide, done, launch\n"
        "  hint: did you mean 'done'?"
    )


# --- the project directory -------------------------------------------------------------------------


def test_no_connectors_directory_or_no_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert str(info.value) == (
        f"{tmp_path} has no connectors/ directory\n"
        "  hint: create connectors/<name>.yaml, one file per Jira or Salesforce instance"
    )
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "README.md").write_text("notes")
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert info.value.message == f"{tmp_path / 'connectors'} holds no connector files"
    with pytest.raises(ConfigError, match="does not exist"):
        Project.load(tmp_path / "nowhere")


def test_bad_project_names(tmp_path: Path) -> None:
    files = valid_files()
    files["connectors/My Jira.yaml"] = files.pop("connectors/jira.yaml")
    files["mappings/_draft.yaml"] = JIRA_MAPPING
    files["connectors/old.yml"] = JIRA_CONNECTOR
    files["connectors/.jira.yaml.swp"] = "binary junk"
    make(tmp_path, files)
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    assert str(info.value) == (
        "connectors/My Jira.yaml: 'My Jira' is not a valid connector name: use lowercase letters, digits, - and _, "
        "starting with a letter or digit\n"
        "  hint: rename it to connectors/my-jira.yaml\n"
        "connectors/old.yml: trackerbridge reads only .yaml files\n"
        "  hint: rename it to old.yaml\n"
        "mappings/_draft.yaml: '_draft' is not a valid mapping name: use lowercase letters, digits, - and _, "
        "starting with a letter or digit\n"
        "  hint: rename it to mappings/draft.yaml"
    )


def test_where_points_later_checks_at_lines(tmp_path: Path) -> None:
    project = Project.load(make(tmp_path, valid_files()))
    place = project.where("mapping", "jira-initiatives", ("attributes", "stage", "values", "In Progress"))
    assert (place.file, place.line, place.column) == (tmp_path / "mappings/jira-initiatives.yaml", 9, 7)
    missing = project.where("connector", "jira", ("owns", "fields"))  # not in the file: its nearest ancestor
    assert (missing.line, missing.key) == (2, "owns.fields")  # line 1 is a comment
    error = place.error("field 'Status' has no option 'In Progress'", hint="options: Backlog, Done")
    assert str(error) == (
        'mappings/jira-initiatives.yaml:9: attributes.stage.values["In Progress"]: '
        "field 'Status' has no option 'In Progress'\n"
        "  hint: options: Backlog, Done"
    )
    with pytest.raises(ConfigError, match="did you mean 'jira'"):
        project.where("connector", "jria")


def test_select_checks_command_line_names(tmp_path: Path) -> None:
    project = Project.load(make(tmp_path, valid_files()))
    assert project.select([]) == ["jira", "sf"]
    assert project.select(["sf", "jira", "sf"]) == ["sf", "jira"]
    with pytest.raises(ConfigError) as info:
        project.select(["jria", "zzz"])
    assert str(info.value) == (
        "no connector named 'jria'\n  hint: did you mean 'jira'?\n"
        "no connector named 'zzz'\n  hint: connectors: jira, sf"
    )


# --- resolving the environment ---------------------------------------------------------------------


def test_jira_connection_resolves_with_secrets_hidden(tmp_path: Path) -> None:
    project = Project.load(make(tmp_path, valid_files()))
    assert isinstance(project.connectors["jira"], JiraConnector)
    assert project.mappings["jira-initiatives"].system == "jira"
    connection = project.connection("jira", env=JIRA_ENV)
    assert (connection.name, connection.type, connection.url) == ("jira", "jira", "https://example.atlassian.net")
    assert connection.auth_method == "api_token"
    assert connection.timeout == 12.5
    assert connection.ca_bundle is None and connection.login_url is None
    assert set(connection.credentials) == {"email", "token"}
    token = connection.secret("token")
    assert token.reveal() == "jira-token-value-123"
    assert token.source == "TB_JIRA_TOKEN"
    for shown in (str(token), repr(token), f"{token}", f"{token:>40}", repr(connection), str(connection)):
        assert "jira-token-value-123" not in shown
    assert str(token) == "<secret from $TB_JIRA_TOKEN>"


def test_salesforce_connection_resolves(tmp_path: Path) -> None:
    project = Project.load(make(tmp_path, valid_files()))
    assert isinstance(project.connectors["sf"], SalesforceConnector)
    connection = project.connection("sf", env=SF_ENV)
    assert connection.type == "salesforce"
    assert connection.url == "https://example.my.salesforce.com"
    assert connection.login_url == "https://example.my.salesforce.com"  # no login_url: the url_env's URL
    assert connection.ca_bundle == str(tmp_path / "certs/ca.pem")
    assert set(connection.credentials) == {"username", "password", "security_token", "client_id", "client_secret"}
    assert connection.secret("client_secret").reveal() == "client-secret-def"
    for value in SF_ENV.values():
        if "value" in value or "secret" in value:
            assert value not in repr(connection)
    # The security token is optional: an org that trusts the caller's IP range has none.
    without = {key: value for key, value in SF_ENV.items() if key != "TB_SF_SECURITY_TOKEN"}
    assert "security_token" not in project.connection("sf", env=without).credentials


def test_missing_env_var_names_variable_file_and_line_never_values(tmp_path: Path) -> None:
    project = Project.load(make(tmp_path, valid_files()))
    env = {**SF_ENV, "TB_SF_PASSWORD": "", "TB_SF_CLIENT_ID": " padded\n"}
    del env["TB_SF_USER"]
    with pytest.raises(ConfigError) as info:
        project.connection("sf", env=env)
    assert str(info.value) == (
        "connectors/sf.yaml:6: auth.username_env: the environment variable named here is not set\n"
        "connectors/sf.yaml:7: auth.password_env: environment variable TB_SF_PASSWORD is empty\n"
        "  hint: set it where trackerbridge runs (cron and systemd do not read your shell profile)\n"
        "connectors/sf.yaml:9: auth.client_id_env: environment variable TB_SF_CLIENT_ID starts or ends with "
        "whitespace (a newline?)\n"
        "  hint: remove it: an HTTP header cannot carry it"
    )
    for value in env.values():
        if value.strip():
            assert value.strip() not in str(info.value)
            assert value.strip() not in repr(info.value)


def test_missing_jira_token_message(tmp_path: Path) -> None:
    project = Project.load(make(tmp_path, valid_files()))
    with pytest.raises(ConfigError) as info:
        project.connection("jira", env={"TB_JIRA_EMAIL": "bot@example.com", "OTHER": "s3cr3t-other"})
    assert info.value.errors[0].headline() == (
        "connectors/jira.yaml:7: auth.token_env: the environment variable named here is not set"
    )
    assert (info.value.line, info.value.key) == (7, "auth.token_env")
    assert "s3cr3t-other" not in str(info.value) and "bot@example.com" not in str(info.value)


def test_plain_http_to_another_host_is_refused(tmp_path: Path) -> None:
    text = JIRA_CONNECTOR.replace("https://example.atlassian.net/", "http://jira.example.com")
    project = Project.load(make(tmp_path, valid_files(connectors__jira_yaml=text)))
    with pytest.raises(ConfigError) as info:
        project.connection("jira", env=JIRA_ENV)
    assert str(info.value) == (
        "connectors/jira.yaml:3: url: http://jira.example.com must use https:// "
        "(plain http is allowed only for loopback addresses)\n"
        "  hint: or, knowing that credentials then travel in the clear, allow_insecure_http: true"
    )


def test_plain_http_from_the_environment_never_shows_the_url(tmp_path: Path) -> None:
    text = JIRA_CONNECTOR.replace("url: https://example.atlassian.net/", "url_env: TB_JIRA_URL")
    project = Project.load(make(tmp_path, valid_files(connectors__jira_yaml=text)))
    with pytest.raises(ConfigError) as info:
        project.connection("jira", env={**JIRA_ENV, "TB_JIRA_URL": "http://internal.example.com/?k=hidden"})
    assert str(info.value) == (
        "connectors/jira.yaml:3: url_env: the URL in environment variable TB_JIRA_URL must use https:// "
        "(plain http only for loopback)\n"
        "  hint: or, knowing that credentials then travel in the clear, allow_insecure_http: true"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:8443", "http://localhost:8080/jira", "http://[::1]:9000"])
def test_plain_http_to_loopback_is_allowed(tmp_path: Path, url: str) -> None:
    text = JIRA_CONNECTOR.replace("https://example.atlassian.net/", url)
    project = Project.load(make(tmp_path, valid_files(connectors__jira_yaml=text)))
    assert project.connection("jira", env=JIRA_ENV).url == url


def test_urls_with_credentials_or_without_host_are_refused(tmp_path: Path) -> None:
    text = JIRA_CONNECTOR.replace("https://example.atlassian.net/", "https://bot:pa55@example.atlassian.net")
    project = Project.load(make(tmp_path, valid_files(connectors__jira_yaml=text, connectors__sf_yaml=SF_CONNECTOR)))
    with pytest.raises(ConfigError) as info:
        project.connection("jira", env=JIRA_ENV)
    assert info.value.headline() == "connectors/jira.yaml:3: url: the URL must not carry a user name or password"
    assert "pa55" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        project.connection("sf", env={**SF_ENV, "TB_SF_URL": "example.my.salesforce.com"})
    assert (
        info.value.headline() == "connectors/sf.yaml:2: url_env: the URL in environment variable TB_SF_URL is not a URL"
    )


def test_missing_ca_bundle_file(tmp_path: Path) -> None:
    files = valid_files()
    del files["certs/ca.pem"]
    project = Project.load(make(tmp_path, files))
    with pytest.raises(ConfigError) as info:
        project.connection("sf", env=SF_ENV)
    assert str(info.value) == (
        "connectors/sf.yaml:3: ca_bundle: CA bundle certs/ca.pem does not exist\n"
        f"  hint: relative paths start at {tmp_path}"
    )
    (tmp_path / "certs" / "ca.pem").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"sf.yaml:3: ca_bundle: CA bundle certs/ca.pem is not a file"):
        project.connection("sf", env=SF_ENV)


def test_ca_bundle_from_the_environment(tmp_path: Path) -> None:
    text = SF_CONNECTOR.replace("ca_bundle: certs/ca.pem", "ca_bundle_env: TB_CA")
    project = Project.load(make(tmp_path, valid_files(connectors__sf_yaml=text)))
    bundle = str(tmp_path / "certs/ca.pem")
    assert project.connection("sf", env={**SF_ENV, "TB_CA": bundle}).ca_bundle == bundle
    with pytest.raises(ConfigError) as info:
        project.connection("sf", env={**SF_ENV, "TB_CA": bundle + ".missing"})
    assert str(info.value) == (
        "connectors/sf.yaml:3: ca_bundle_env: the CA bundle named by environment variable TB_CA does not exist"
    )


def test_jwt_key_file_must_exist(tmp_path: Path) -> None:
    text = SF_CONNECTOR.replace(
        "  method: password\n  username_env: TB_SF_USER\n  password_env: TB_SF_PASSWORD\n"
        "  security_token_env: TB_SF_SECURITY_TOKEN\n  client_id_env: TB_SF_CLIENT_ID\n"
        "  client_secret_env: TB_SF_CLIENT_SECRET\n",
        "  method: jwt\n  username_env: TB_SF_USER\n  client_id_env: TB_SF_CLIENT_ID\n  key_file: keys/sf.key\n",
    ).replace("ca_bundle: certs/ca.pem\n", "")
    project = Project.load(make(tmp_path, valid_files(connectors__sf_yaml=text)))
    with pytest.raises(ConfigError) as info:
        project.connection("sf", env=SF_ENV)
    assert info.value.headline() == "connectors/sf.yaml:7: auth.key_file: key file keys/sf.key does not exist"
    make(tmp_path, {"keys/sf.key": "-----BEGIN PRIVATE KEY-----\n"})
    connection = project.connection("sf", env=SF_ENV)
    assert connection.key_file == str(tmp_path / "keys/sf.key")
    assert connection.login_url == "https://example.my.salesforce.com"
    assert set(connection.credentials) == {"username", "client_id"}


def test_salesforce_login_url_literal_env_or_the_url(tmp_path: Path) -> None:
    """Password and JWT sign-in send credentials to login_url or login_url_env, else to url: a sandbox org
    (test.salesforce.com) or a My Domain must never have them sent to the production login host."""
    literal = SF_CONNECTOR.replace(
        "url_env: TB_SF_URL\n", "url_env: TB_SF_URL\nlogin_url: https://test.salesforce.com/\n"
    )
    project = Project.load(make(tmp_path, valid_files(connectors__sf_yaml=literal)))
    assert project.connection("sf", env=SF_ENV).login_url == "https://test.salesforce.com"
    from_env = SF_CONNECTOR.replace("url_env: TB_SF_URL\n", "url_env: TB_SF_URL\nlogin_url_env: TB_SF_LOGIN\n")
    project = Project.load(make(tmp_path, valid_files(connectors__sf_yaml=from_env)))
    env = {**SF_ENV, "TB_SF_LOGIN": "https://acme--uat.sandbox.my.salesforce.com"}
    assert project.connection("sf", env=env).login_url == "https://acme--uat.sandbox.my.salesforce.com"
    with pytest.raises(ConfigError) as info:
        project.connection("sf", env=SF_ENV)
    assert "login_url_env: the environment variable named here is not set" in info.value.headline()
    both = from_env.replace("login_url_env:", "login_url: https://test.salesforce.com\nlogin_url_env:")
    with pytest.raises(ConfigError) as info:
        Project.load(make(tmp_path, valid_files(connectors__sf_yaml=both)))
    assert "at most one of login_url or login_url_env" in str(info.value)


def test_unknown_connector_name(tmp_path: Path) -> None:
    project = Project.load(make(tmp_path, valid_files()))
    with pytest.raises(ConfigError) as info:
        project.connection("jiar", env={})
    assert str(info.value) == "no connector named 'jiar'\n  hint: did you mean 'jira'?"


# --- helpers, schema, shipped files ----------------------------------------------------------------


def test_did_you_mean_ignores_case_and_gives_up_on_far_misses() -> None:
    assert did_you_mean("API_TOKN", ["api_token", "pat"]) == "did you mean 'api_token'?"
    assert did_you_mean("Jira", ["jira", "salesforce"]) == "did you mean 'jira'?"
    assert did_you_mean("zzz", ["jira", "salesforce"]) is None


def test_format_key() -> None:
    assert format_key(("auth", "token_env")) == "auth.token_env"
    assert format_key(("sync", 0, "to")) == "sync[0].to"
    assert format_key(("attributes", "stage", "values", "In Progress")) == 'attributes.stage.values["In Progress"]'
    assert format_key(("values", True)) == "values[true]"


def test_config_errors_need_errors_and_dedupe() -> None:
    one = ConfigError("bad", file=Path("/p/a.yaml"), line=3, key="k", root=Path("/p"))
    two = ConfigError("worse", file=Path("/p/a.yaml"), line=1, root=Path("/p"))
    both = ConfigErrors([one, two, ConfigErrors([one])])
    assert [error.message for error in both] == ["worse", "bad"]
    assert str(both) == "a.yaml:1: worse\na.yaml:3: k: bad"
    assert both.line == 1
    with pytest.raises(ValueError):
        ConfigErrors([])


@pytest.mark.parametrize("kind", ["connector", "mapping"])
def test_schema_files_are_up_to_date(kind: str) -> None:
    file = REPO / "schemas" / f"{kind}.schema.json"
    assert file.read_text(encoding="utf-8") == render(kind), "run: python -m trackerbridge.config.schema"  # type: ignore[arg-type]


def test_schema_has_editor_metadata() -> None:
    connector = json_schema("connector")
    assert connector["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert connector["$id"] == "urn:trackerbridge:schema:connector"
    assert connector["title"] == "trackerbridge connector"
    assert connector["$defs"]["JiraConnector"]["properties"]["auth"]["description"].startswith("How trackerbridge")
    assert connector["$defs"]["JiraConnector"]["oneOf"] == [{"required": ["url"]}, {"required": ["url_env"]}]
    mapping = json_schema("mapping")
    attributes = mapping["properties"]["attributes"]
    assert attributes["additionalProperties"] is False
    assert set(attributes["properties"]) >= {"owner", "integrator", "stage"}
    stage_values = attributes["properties"]["stage"]["anyOf"][1]["properties"]["values"]["additionalProperties"]
    assert stage_values == {"enum": ["decide", "build", "launch", "done", "cancelled"]}
    assert json.loads(json.dumps(mapping)) == mapping
    with pytest.raises(ValueError):
        json_schema("rule")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "project", [".", "examples/jira-cloud", "examples/jira-datacenter", "examples/salesforce"], ids=str
)
def test_shipped_projects_load(project: str) -> None:
    loaded = Project.load(REPO / project)
    assert loaded.connectors
    for name, connector in loaded.connectors.items():
        assert loaded.mappings[connector.mapping].system == connector.type, name


def test_default_environment_is_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = Project.load(make(tmp_path, valid_files()))
    for key, value in JIRA_ENV.items():
        monkeypatch.setenv(key, value)
    assert project.connection("jira").secret("email") == Secret("bot@example.com", "TB_JIRA_EMAIL")
    assert os.environ["TB_JIRA_EMAIL"] == "bot@example.com"
