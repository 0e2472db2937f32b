"""JSON Schemas of the user's files, so editors (yaml-language-server) complete and check as people type.

Generated from the pydantic models, then adjusted where the models say more than pydantic can
express: the `owner: Assignee` shorthand, the canonical attribute names, the stage and size
values, and "exactly one of url or url_env". The files in `schemas/` are this module's output;
regenerate them with `python -m trackerbridge.config.schema` (a test fails when they are stale).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter

from trackerbridge.config.models import ConnectorFile, MappingFile, ProjectConfig
from trackerbridge.model import CANONICAL_ATTRIBUTES, Size, Stage

Kind = Literal["connector", "mapping", "project"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:trackerbridge:schema:{kind}"
FILE_NAME = "{kind}.schema.json"

_TITLES: dict[Kind, tuple[str, str]] = {
    "connector": (
        "trackerbridge connector",
        "connectors/<name>.yaml: one Jira or Salesforce instance: where it is, how to sign in (names of "
        "environment variables, never secrets), which records are initiatives, which mapping reads them, "
        "and what trackerbridge may write.",
    ),
    "mapping": (
        "trackerbridge mapping",
        "mappings/<name>.yaml: which tracker field feeds which initiative attribute, which values travel to "
        "the other system, and how the health verdict is written back.",
    ),
    "project": (
        "trackerbridge project settings",
        "trackerbridge.yaml: which convention rules run (per connector), their parameters and severities, "
        "what makes an initiative red or amber, and how waivers are written.",
    ),
}

# Descriptions the models leave out (a model without docstring, a field without description).
_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "JiraConnector": {
        "": "A Jira Cloud site or Jira Data Center server.",
        "type": "The tracker behind this connector",
        "flavor": "Jira Cloud or Data Center; auto reads it from the server",
        "auth": "How trackerbridge signs in; every credential is the name of an environment variable",
        "scope": "Which issues are initiatives",
        "ca_bundle_env": "Environment variable holding the path of the CA bundle",
        "owns": "Fields and labels trackerbridge may write; it never touches anything else",
        "description": "Free text for people",
    },
    "SalesforceConnector": {
        "": "A Salesforce org.",
        "type": "The tracker behind this connector",
        "api_version": "REST API version, e.g. '59.0' (quoted, or YAML reads a number)",
        "auth": "How trackerbridge signs in; every credential is the name of an environment variable",
        "scope": "Which records are initiatives",
        "ca_bundle_env": "Environment variable holding the path of the CA bundle",
        "owns": "Fields and labels trackerbridge may write; it never touches anything else",
        "description": "Free text for people",
    },
    "JiraScope": {"": "The issues trackerbridge reads."},
    "SalesforceScope": {"": "The records trackerbridge reads."},
    "JiraApiToken": {"method": "api_token (Jira Cloud)"},
    "JiraPat": {"method": "pat (Jira Data Center)"},
    "JiraBasic": {"method": "basic (Jira Data Center)"},
    "SalesforceAccessToken": {"method": "access_token: an existing session"},
    "SalesforcePassword": {
        "method": "password: OAuth 2.0 username-password flow",
        "security_token_env": "Environment variable holding the user's security token, if the org requires one",
    },
    "SalesforceJwt": {"method": "jwt: OAuth 2.0 JWT bearer flow"},
    "MappingFile": {
        "system": "The tracker whose fields this mapping reads",
        "description": "Free text for people",
        "attributes": "Canonical initiative attribute -> tracker field (or {field: ..., values: ...})",
        "links": "Fields holding the key of the linked record in the other system",
        "sync": "Values this system is the source of truth for, written to the other system",
        "write_back": "How the health verdict appears on this system's records",
    },
    "LinkSpec": {"system": "The other system", "field": "Field holding the linked record's key or id"},
    "SyncSpec": {"direction": "Only one-way: this side is the source of truth"},
    "WriteBack": {
        "health_values": "green / amber / red -> the field's option names, if they differ",
        "reasons_field": "Field receiving the reasons, one per line",
    },
}

_ATTRIBUTE_KINDS = {
    "stage": [member.value for member in Stage],
    "size": [member.value for member in Size],
}


def json_schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a connector or mapping file."""
    if kind == "connector":
        schema = TypeAdapter(ConnectorFile).json_schema()
        defs = schema["$defs"]
        for name in ("JiraConnector", "SalesforceConnector"):
            _exactly_one(defs[name], "url", "url_env")
            _at_most_one(defs[name], "ca_bundle", "ca_bundle_env")
        _exactly_one(defs["SalesforceJwt"], "key_file", "key_file_env")
        _at_most_one(defs["SalesforceConnector"], "login_url", "login_url_env")
    elif kind == "mapping":
        schema = TypeAdapter(MappingFile).json_schema()
        defs = schema["$defs"]
        defs["MappingFile"] = {key: value for key, value in schema.items() if key != "$defs"}
        _mapping_attributes(defs)
    elif kind == "project":
        schema = TypeAdapter(ProjectConfig).json_schema()
        defs = schema.setdefault("$defs", {})
    else:
        raise ValueError(f"unknown schema kind {kind!r}; expected connector, mapping or project")

    for name, fields in _DESCRIPTIONS.items():
        target = defs.get(name)
        if target is None:
            continue
        for field, text in fields.items():
            place = target if field == "" else target.get("properties", {}).get(field)
            if place is not None:
                place.setdefault("description", text)

    title, description = _TITLES[kind]
    head: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID.format(kind=kind),
        "title": title,
        "description": description,
    }
    if kind == "mapping":
        body = defs.pop("MappingFile")
        body.pop("title", None)
        body.pop("description", None)
        return {**head, **body, "$defs": defs}
    body = {key: value for key, value in schema.items() if key != "$defs"}
    return {**head, **body, "$defs": defs}


def _exactly_one(target: dict[str, Any], first: str, second: str) -> None:
    target["oneOf"] = [{"required": [first]}, {"required": [second]}]


def _at_most_one(target: dict[str, Any], first: str, second: str) -> None:
    target["not"] = {"required": [first, second]}


def _mapping_attributes(defs: dict[str, Any]) -> None:
    """Attributes: the canonical names only (others go under extra), each a field name or a spec."""
    spec = defs["AttributeSpec"]
    spec["not"] = {"required": ["values", "at_least"]}
    either = {
        "anyOf": [
            {"type": "string", "description": "Shorthand for {field: ...}: the tracker field as people see it"},
            {"$ref": "#/$defs/AttributeSpec"},
        ]
    }
    defs["AttributeSource"] = {"description": spec.get("description", ""), **either}
    mapping = defs["MappingFile"]["properties"]
    properties: dict[str, Any] = {}
    for name, kind in CANONICAL_ATTRIBUTES.items():
        entry: dict[str, Any] = {"description": f"{name} ({kind})"}
        allowed = _ATTRIBUTE_KINDS.get(name)
        if allowed is None:
            entry["$ref"] = "#/$defs/AttributeSource"
        else:
            table = {"type": "object", "additionalProperties": {"enum": allowed}}
            entry["anyOf"] = [
                either["anyOf"][0],
                {
                    "allOf": [{"$ref": "#/$defs/AttributeSpec"}],
                    "properties": {
                        "values": copy.deepcopy(table),
                        "at_least": copy.deepcopy(table),
                        "default": {"enum": [*allowed, None]},
                    },
                },
            ]
        properties[name] = entry
    mapping["attributes"] = {
        **{key: value for key, value in mapping["attributes"].items() if key != "additionalProperties"},
        "properties": properties,
        "additionalProperties": False,
    }
    mapping["extra"]["additionalProperties"] = {"$ref": "#/$defs/AttributeSource"}


def render(kind: Kind) -> str:
    """The schema file's text: stable formatting, so the committed files diff cleanly."""
    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    """Write connector.schema.json and mapping.schema.json into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in ("connector", "mapping", "project"):
        file = directory / FILE_NAME.format(kind=kind)
        file.write_text(render(kind), encoding="utf-8")
        written.append(file)
    return written


def main(argv: list[str] | None = None) -> int:
    """`python -m trackerbridge.config.schema [DIRECTORY]` (default: ./schemas)."""
    args = sys.argv[1:] if argv is None else argv
    for file in write_schemas(Path(args[0] if args else "schemas")):
        sys.stdout.write(f"wrote {file}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
