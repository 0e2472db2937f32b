"""`trackerbridge setup`: the custom fields a project's write-back and syncs need, planned from the
mappings and the live catalog, so a new user does not have to click through admin screens.

Planning is pure (`wanted_fields`, `missing_fields`, `salesforce_package`); the only I/O goes through
connectors (`plan` reads catalogs, `create_jira_fields` creates fields with an admin account).
Secrets never appear: plans hold field names, kinds and options only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from trackerbridge.config.errors import ConfigErrors
from trackerbridge.config.project import Project
from trackerbridge.connectors.base import Catalog, Connector, ConnectorError, FieldInfo, ServerInfo
from trackerbridge.model import CANONICAL_ATTRIBUTES, Stage
from trackerbridge.sources import connect, incoming_syncs

# Field kinds setup creates, tracker-neutral; connectors translate them.
SELECT, TEXTAREA, USER, TEXT, DATETIME = "select", "textarea", "user", "text", "datetime"
KINDS = (SELECT, TEXTAREA, USER, TEXT, DATETIME)
DEFAULT_HEALTH = ("Green", "Amber", "Red")
KIND_WORDS = {
    SELECT: "select list",
    TEXTAREA: "multi-line text",
    USER: "user picker",
    TEXT: "text",
    DATETIME: "date and time",
}

METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
LONG_TEXT_LENGTH = 32768
LONG_TEXT_LINES = 5
TEXT_LENGTH = 255
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")


@dataclass(frozen=True)
class FieldPlan:
    """One field a mapping names for writing, with the kind and options it should have."""

    ref: str  # as the mapping names it: "Execution health", "Delivery_Status__c"
    kind: str  # one of KINDS
    options: tuple[str, ...] = ()
    role: str = ""  # "health", "reasons", "sync demo-jira.stage"
    mapping: str = ""  # the mapping file that names it (for sync targets: the source mapping)

    @property
    def description(self) -> str:
        what = {
            "health": "trackerbridge writes the execution health here",
            "reasons": "why the health is what it is",
            "activity": "when a person last changed the record (trackerbridge's own writes are not activity)",
        }
        text = what.get(self.role) or f"trackerbridge syncs {self.role.removeprefix('sync ')} here"
        return f"{text} (created by trackerbridge setup; mapping {self.mapping})"


@dataclass
class ConnectorPlan:
    """What one connector lacks, after reading its live catalog."""

    name: str
    system: str
    server: ServerInfo | None = None
    missing: list[FieldPlan] = field(default_factory=list)
    scope_object: str | None = None  # Salesforce: the sObject the fields go on
    api_version: str | None = None


@dataclass(frozen=True)
class Created:
    """A field created in Jira; `pending` options could not be added through the API (Data Center)."""

    plan: FieldPlan
    field: FieldInfo
    pending: tuple[str, ...] = ()


# --- pure planning ------------------------------------------------------------------------------


def wanted_fields(project: Project, connector: str) -> list[FieldPlan]:
    """The write-back fields of the connector's mapping and the targets other mappings sync into it."""
    mapping_name = project.connectors[connector].mapping
    mapping = project.mappings[mapping_name]
    wb = mapping.write_back
    out: list[FieldPlan] = []
    if wb.health_field:
        values = tuple(wb.health_values.values()) if wb.health_values else DEFAULT_HEALTH
        out.append(FieldPlan(wb.health_field, SELECT, tuple(dict.fromkeys(values)), "health", mapping_name))
    if wb.reasons_field:
        out.append(FieldPlan(wb.reasons_field, TEXTAREA, (), "reasons", mapping_name))
    if wb.activity_field:
        out.append(FieldPlan(wb.activity_field, DATETIME, (), "activity", mapping_name))
    for sync in incoming_syncs(project, mapping_name):
        spec = sync.spec
        kind, options = _sync_kind(CANONICAL_ATTRIBUTES.get(spec.attribute, "text"), spec.values)
        out.append(
            FieldPlan(spec.field, kind, options, f"sync {sync.source_mapping}.{spec.attribute}", sync.source_mapping)
        )
    return _unique(out)


def _sync_kind(attribute_kind: str, values: Mapping[str, object] | None) -> tuple[str, tuple[str, ...]]:
    """Persons need a user picker; mapped values and stages a select list; anything else plain text."""
    if attribute_kind == "person":
        return USER, ()
    if values:
        return SELECT, tuple(dict.fromkeys(str(v) for v in values.values()))
    if attribute_kind == "stage":
        return SELECT, tuple(s.value.capitalize() for s in Stage)
    return TEXT, ()


def _unique(plans: Iterable[FieldPlan]) -> list[FieldPlan]:
    """One plan per field name: two roles naming one field would otherwise create it twice."""
    seen: dict[str, FieldPlan] = {}
    for p in plans:
        seen.setdefault(p.ref.casefold(), p)
    return list(seen.values())


def missing_fields(wanted: Sequence[FieldPlan], catalog: Catalog) -> list[FieldPlan]:
    """The wanted fields the catalog has no field for (an ambiguous name exists: `check` reports it)."""
    return [p for p in wanted if catalog.find(p.ref) is None and not catalog.ambiguous(p.ref)]


# --- reading the live catalogs ------------------------------------------------------------------


def plan(
    project: Project, system: str, names: Sequence[str] = (), env: Mapping[str, str] = os.environ
) -> list[ConnectorPlan]:
    """One plan per selected connector of `system` (none named: all of them). Raises ConfigErrors for
    a named connector of the other system, ConnectorError when a tracker cannot be read."""
    selected = project.select(names)
    wrong = [n for n in names if project.connectors[n].type != system]
    if wrong:
        where = project.where("connector", wrong[0], ("type",))
        raise ConfigErrors([where.error(f"connector {wrong[0]!r} is not a {system} connector")])
    plans = []
    for name in selected:
        file = project.connectors[name]
        if file.type != system:
            continue
        connector = connect(project, name, env)
        try:
            server = connector.server()
            catalog = connector.catalog()
        finally:
            connector.close()
        p = ConnectorPlan(name, system, server, missing_fields(wanted_fields(project, name), catalog))
        if file.type == "salesforce":
            p.scope_object, p.api_version = file.scope.object, file.api_version
        plans.append(p)
    return plans


def create_jira_fields(connector: Connector, missing: Sequence[FieldPlan]) -> list[Created]:
    """Create each missing field (and its options where the API allows) through the connector."""
    create = getattr(connector, "create_field", None)
    if create is None:
        raise ConnectorError(f"{connector.system} {connector.name!r}: this connector cannot create fields")
    created = []
    for p in missing:
        info: FieldInfo = create(p.ref, p.kind, p.options, p.description)
        pending = tuple(o for o in p.options if o not in info.options)
        created.append(Created(p, info, pending))
    return created


# --- Salesforce metadata ------------------------------------------------------------------------


def salesforce_names(ref: str) -> tuple[str, str]:
    """(API name, label) for a field named by API name (Delivery_Status__c) or label (Delivery status)."""
    if _API_NAME.match(ref):
        return ref, ref[: -len("__c")].replace("_", " ")[:40]
    base = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]+", "_", ref)).strip("_") or "Field"
    if not base[0].isalpha():
        base = "F_" + base
    return f"{base[:40].rstrip('_')}__c", ref[:40]


def custom_field_xml(p: FieldPlan) -> str:
    """A CustomField metadata document for one field (source format, `.field-meta.xml`)."""
    api_name, label = salesforce_names(p.ref)
    lines = [
        f"    <fullName>{escape(api_name)}</fullName>",
        f"    <label>{escape(label)}</label>",
        f"    <description>{escape(p.description)}</description>",
    ]
    if p.kind == SELECT:
        lines += ["    <type>Picklist</type>", "    <valueSet>", "        <restricted>true</restricted>"]
        lines += ["        <valueSetDefinition>", "            <sorted>false</sorted>"]
        for value in p.options:
            v = escape(value)
            lines += [
                "            <value>",
                f"                <fullName>{v}</fullName>",
                "                <default>false</default>",
                f"                <label>{v}</label>",
                "            </value>",
            ]
        lines += ["        </valueSetDefinition>", "    </valueSet>"]
    elif p.kind == TEXTAREA:
        lines += [
            "    <type>LongTextArea</type>",
            f"    <length>{LONG_TEXT_LENGTH}</length>",
            f"    <visibleLines>{LONG_TEXT_LINES}</visibleLines>",
        ]
    elif p.kind == USER:
        relationship = api_name[: -len("__c")]
        lines += [
            "    <type>Lookup</type>",
            "    <referenceTo>User</referenceTo>",
            f"    <relationshipName>{escape(relationship)}</relationshipName>",
            "    <deleteConstraint>SetNull</deleteConstraint>",
        ]
    elif p.kind == DATETIME:
        lines += ["    <type>DateTime</type>"]
    else:
        lines += ["    <type>Text</type>", f"    <length>{TEXT_LENGTH}</length>"]
    return _document("CustomField", lines)


def package_xml(members: Iterable[str], api_version: str) -> str:
    """The manifest naming every CustomField, for `sf project deploy start --manifest`."""
    lines = ["    <types>"]
    lines += [f"        <members>{escape(m)}</members>" for m in sorted(members)]
    lines += ["        <name>CustomField</name>", "    </types>", f"    <version>{escape(api_version)}</version>"]
    return _document("Package", lines)


def _document(root: str, lines: list[str]) -> str:
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{METADATA_NS}">\n'
    return head + "\n".join(lines) + f"\n</{root}>\n"


def salesforce_package(plans: Sequence[ConnectorPlan]) -> dict[str, str]:
    """Relative path -> file text: one `.field-meta.xml` per missing field and one `package.xml`."""
    files: dict[str, str] = {}
    members: list[str] = []
    versions = [p.api_version for p in plans if p.missing and p.api_version]
    for cp in plans:
        obj = cp.scope_object or "Opportunity"
        for p in cp.missing:
            api_name, _ = salesforce_names(p.ref)
            path = f"objects/{obj}/fields/{api_name}.field-meta.xml"
            if path not in files:
                files[path] = custom_field_xml(p)
                members.append(f"{obj}.{api_name}")
    if members:
        files["package.xml"] = package_xml(members, max(versions, key=float) if versions else "59.0")
    return files
