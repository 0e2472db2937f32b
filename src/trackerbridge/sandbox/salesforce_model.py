"""In-memory data of the emulated Salesforce org: sObject metadata and records.

Records are plain dicts keyed by the field's canonical API name. Values are Python values:
str, bool, float, int, `date`, aware `datetime` or None. Field and object names are looked up
case-insensitively, as Salesforce does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

API_VERSION = "59.0"
SUPPORTED_VERSIONS = ("57.0", "58.0", "59.0", "60.0", "61.0", "62.0")

# Field types as describe reports them.
ID, STRING, TEXTAREA, PICKLIST, REFERENCE, DATE, DATETIME, BOOLEAN, CURRENCY, DOUBLE, PERCENT, EMAIL = (
    "id",
    "string",
    "textarea",
    "picklist",
    "reference",
    "date",
    "datetime",
    "boolean",
    "currency",
    "double",
    "percent",
    "email",
)
MULTIPICKLIST = "multipicklist"  # values joined by ';' on the wire
SYSTEM_FIELDS = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")


@dataclass(frozen=True)
class SField:
    name: str
    label: str
    type: str
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    length: int = 0
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    track_history: bool = False  # Setup, Field History Tracking: changes become history rows (salesforce_history)

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def describe(self) -> dict[str, Any]:
        soap = {
            ID: "tns:ID",
            REFERENCE: "tns:ID",
            BOOLEAN: "xsd:boolean",
            DATE: "xsd:date",
            DATETIME: "xsd:dateTime",
            CURRENCY: "xsd:double",
            DOUBLE: "xsd:double",
            PERCENT: "xsd:double",
            "anyType": "xsd:anyType",
        }.get(self.type, "xsd:string")
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": soap,
            "custom": self.custom,
            "updateable": self.updateable,
            "createable": self.createable,
            "nillable": self.nillable,
            "length": self.length,
            "filterable": self.type != TEXTAREA or self.length <= 255,
            "sortable": self.type != TEXTAREA or self.length <= 255,
            "calculated": False,
            "idLookup": self.type == ID,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v} for v in self.picklist
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
        }


@dataclass
class SObjectType:
    name: str
    label: str
    key_prefix: str
    fields: dict[str, SField]  # by canonical name
    custom: bool = False
    updateable: bool = True

    def __post_init__(self) -> None:
        self._lower = {k.lower(): v for k, v in self.fields.items()}
        self._relations = {f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name}

    def field(self, name: str) -> SField | None:
        return self._lower.get(name.lower())

    def add_field(self, f: SField) -> SField:
        """A field created in Setup (tests add the shapes the demo leaves out: multipicklists, short texts)."""
        self.fields[f.name] = f
        self._lower[f.name.lower()] = f
        if f.relationship_name:
            self._relations[f.relationship_name.lower()] = f
        return f

    def relationship(self, name: str) -> SField | None:
        """The reference field behind a relationship name (Owner -> OwnerId)."""
        return self._relations.get(name.lower())


@dataclass
class SalesforceData:
    types: dict[str, SObjectType] = field(default_factory=dict)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # type -> id -> record
    next_serial: int = 1
    deleted: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # queryAll sees these

    def sobject(self, name: str) -> SObjectType | None:
        low = name.lower()
        return next((t for k, t in self.types.items() if k.lower() == low), None)

    def type_of_id(self, record_id: str) -> SObjectType | None:
        return next((t for t in self.types.values() if record_id.startswith(t.key_prefix)), None)

    def get(self, record_id: str) -> tuple[SObjectType, dict[str, Any]] | None:
        """Find a record by its 15- or 18-character id."""
        t = self.type_of_id(record_id)
        if t is None:
            return None
        rows = self.records.get(t.name, {})
        rec = rows.get(record_id) or (rows.get(to_18(record_id)) if len(record_id) == 15 else None)
        return (t, rec) if rec is not None else None

    def new_id(self, sobject: SObjectType) -> str:
        """Prefix, a fixed pod part and a base-62 serial: 15 characters, unique for 62**9 records."""
        serial = self.next_serial
        self.next_serial += 1
        digits = ""
        while serial:
            serial, rest = divmod(serial, 62)
            digits = _BASE62[rest] + digits
        return to_18(f"{sobject.key_prefix}8d0{digits.rjust(9, '0')}")


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def to_18(id15: str) -> str:
    """Salesforce's case-safe suffix: 3 chars encoding the capitals of each 5-char chunk."""
    if len(id15) == 18:
        return id15
    suffix = ""
    for i in range(3):
        chunk = id15[i * 5 : i * 5 + 5]
        bits = sum(1 << j for j, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _ALPHABET[bits]
    return id15 + suffix


def sf_datetime(value: datetime) -> str:
    """Salesforce's wire format: 2026-11-25T08:25:46.000+0000 (milliseconds, UTC)."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def sf_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def stable_token(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:12]


def _f(name: str, label: str, type_: str, **kw: Any) -> SField:
    return SField(name, label, type_, **kw)


def _system_fields() -> list[SField]:
    return [
        _f("Id", "Record ID", ID, updateable=False, createable=False, nillable=False, length=18),
        _f("CreatedDate", "Created Date", DATETIME, updateable=False, createable=False, nillable=False),
        _f(
            "CreatedById",
            "Created By ID",
            REFERENCE,
            updateable=False,
            createable=False,
            nillable=False,
            reference_to=("User",),
            relationship_name="CreatedBy",
            length=18,
        ),
        _f(
            "LastModifiedDate",
            "Last Modified Date",
            DATETIME,
            updateable=False,
            createable=False,
            nillable=False,
        ),
        _f(
            "LastModifiedById",
            "Last Modified By ID",
            REFERENCE,
            updateable=False,
            createable=False,
            nillable=False,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            length=18,
        ),
        _f("SystemModstamp", "System Modstamp", DATETIME, updateable=False, createable=False, nillable=False),
    ]


def _type(name: str, label: str, prefix: str, fields: list[SField], **kw: Any) -> SObjectType:
    return SObjectType(name, label, prefix, {f.name: f for f in _system_fields() + fields}, **kw)


OPPORTUNITY_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
DELIVERY_STATUSES = ("Not Started", "Decide", "Build", "Launch", "Done", "Cancelled")
HEALTH_VALUES = ("Green", "Amber", "Red")


def default_types() -> dict[str, SObjectType]:
    user_ref = {"reference_to": ("User",), "length": 18}
    types = [
        _type(
            "User",
            "User",
            "005",
            [
                _f("Username", "Username", STRING, nillable=False, length=80),
                _f("Name", "Full Name", STRING, updateable=False, createable=False, length=121),
                _f("FirstName", "First Name", STRING, length=40),
                _f("LastName", "Last Name", STRING, nillable=False, length=80),
                _f("Email", "Email", EMAIL, nillable=False, length=80),
                _f("IsActive", "Active", BOOLEAN, nillable=False),
                _f("Title", "Title", STRING, length=80),
                _f("Department", "Department", STRING, length=80),
            ],
        ),
        _type(
            "Account",
            "Account",
            "001",
            [
                _f("Name", "Account Name", STRING, nillable=False, length=255),
                _f("OwnerId", "Owner ID", REFERENCE, nillable=False, relationship_name="Owner", **user_ref),
                _f(
                    "Industry",
                    "Industry",
                    PICKLIST,
                    picklist=("Technology", "Finance", "Retail", "Healthcare", "Manufacturing"),
                    length=255,
                ),
                _f(
                    "Type",
                    "Account Type",
                    PICKLIST,
                    picklist=("Prospect", "Customer - Direct", "Partner"),
                    length=255,
                ),
            ],
        ),
        _type(
            "Opportunity",
            "Opportunity",
            "006",
            [
                _f("Name", "Name", STRING, nillable=False, length=120),
                _f(
                    "AccountId",
                    "Account ID",
                    REFERENCE,
                    reference_to=("Account",),
                    relationship_name="Account",
                    length=18,
                ),
                _f("OwnerId", "Owner ID", REFERENCE, nillable=False, relationship_name="Owner", **user_ref),
                _f("StageName", "Stage", PICKLIST, nillable=False, picklist=OPPORTUNITY_STAGES, length=255),
                _f("Amount", "Amount", CURRENCY),
                _f("Probability", "Probability (%)", PERCENT),
                _f("CloseDate", "Close Date", DATE, nillable=False),
                _f("IsClosed", "Closed", BOOLEAN, updateable=False, createable=False, nillable=False),
                _f("IsWon", "Won", BOOLEAN, updateable=False, createable=False, nillable=False),
                _f(
                    "Type",
                    "Opportunity Type",
                    PICKLIST,
                    picklist=("New Business", "Existing Business"),
                    length=255,
                ),
                _f("Description", "Description", TEXTAREA, length=32000),
                _f("Jira_Epic_Key__c", "Jira Epic Key", STRING, length=32),
                _f(
                    "Delivery_Owner__c",
                    "Delivery Owner",
                    REFERENCE,
                    relationship_name="Delivery_Owner__r",
                    **user_ref,
                ),
                _f("Integrator__c", "Integrator", REFERENCE, relationship_name="Integrator__r", **user_ref),
                _f("Learning_Note__c", "Learning Note", TEXTAREA, length=32768),
                _f("Execution_Health__c", "Execution Health", PICKLIST, picklist=HEALTH_VALUES, length=255),
                _f("Health_Reasons__c", "Health Reasons", TEXTAREA, length=32768),
                _f("TB_Last_Activity__c", "Last Person Activity", DATETIME),
                _f("Delivery_Status__c", "Delivery Status", PICKLIST, picklist=DELIVERY_STATUSES, length=255),
            ],
        ),
        _type(
            "Task",
            "Task",
            "00T",
            [
                _f("Subject", "Subject", STRING, length=255),
                _f(
                    "WhatId",
                    "Related To ID",
                    REFERENCE,
                    reference_to=("Account", "Opportunity"),
                    relationship_name="What",
                    length=18,
                ),
                _f(
                    "OwnerId",
                    "Assigned To ID",
                    REFERENCE,
                    nillable=False,
                    relationship_name="Owner",
                    **user_ref,
                ),
                _f(
                    "Status",
                    "Status",
                    PICKLIST,
                    nillable=False,
                    picklist=("Not Started", "In Progress", "Completed"),
                    length=255,
                ),
                _f(
                    "Priority",
                    "Priority",
                    PICKLIST,
                    nillable=False,
                    picklist=("High", "Normal", "Low"),
                    length=255,
                ),
                _f("ActivityDate", "Due Date Only", DATE),
                _f("Description", "Description", TEXTAREA, length=32000),
            ],
        ),
    ]
    return {t.name: t for t in types}


def new_salesforce_data() -> SalesforceData:
    types = default_types()
    return SalesforceData(types=types, records={name: {} for name in types})
