"""Field history of the emulated Salesforce org: a row per change of a tracked field, queryable like Salesforce's.

Salesforce keeps the changes of the fields an admin tracks (Setup, Field History Tracking) in a history object next
to the record's: `OpportunityFieldHistory` for opportunities (parent column `OpportunityId`), `<Object>__History`
for a custom object (`ParentId`), `<Object>History` for other standard objects (`<Object>Id`). Each row has `Id`, the
parent column, `Field` (the field's API name, or "created" for the record's creation), `DataType`, `OldValue`,
`NewValue` (anyType: the value as the REST API shows it), `CreatedDate`, `CreatedById` and `IsDeleted`; the rows
cannot be created, edited or deleted through the API. References:

- https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_opportunityfieldhistory.htm
- https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_relationships_query_hist.htm
  (custom objects' `__History`, with `Parent`)

Tracking is the field's `track_history` flag. By default the opportunity's Amount, CloseDate, OwnerId and StageName
are tracked (the fields Salesforce's own OpportunityHistory follows); `track` turns it on for any field.
Simplifications: a lookup's change is one row with the Ids (Salesforce adds a second row with the names), and the
Field picklist lists the tracked fields only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from .salesforce_model import (
    BOOLEAN,
    DATETIME,
    ID,
    PICKLIST,
    REFERENCE,
    SalesforceData,
    SField,
    SObjectType,
    sf_value,
)

ANYTYPE = "anyType"
HISTORY_PREFIX = "017"  # Salesforce's key prefix of field history rows
DEFAULT_TRACKED = {"Opportunity": ("Amount", "CloseDate", "OwnerId", "StageName")}


def history_names(parent: str) -> tuple[str, str, str]:
    """(history object, parent column, parent relationship) for an sObject, as Salesforce names them."""
    if parent == "Opportunity":
        return "OpportunityFieldHistory", "OpportunityId", "Opportunity"
    if parent.endswith("__c"):
        return f"{parent[:-3]}__History", "ParentId", "Parent"
    return f"{parent}History", f"{parent}Id", parent


def _history_type(parent: SObjectType) -> SObjectType:
    name, column, relation = history_names(parent.name)
    tracked = tuple(f.name for f in parent.fields.values() if f.track_history)
    ro: dict[str, Any] = {"updateable": False, "createable": False}
    fields = [
        SField("Id", "Field History ID", ID, nillable=False, length=18, **ro),
        SField(
            column,
            f"{parent.label} ID",
            REFERENCE,
            nillable=False,
            length=18,
            reference_to=(parent.name,),
            relationship_name=relation,
            **ro,
        ),
        SField("Field", "Changed Field", PICKLIST, nillable=False, length=255, picklist=("created", *tracked), **ro),
        SField("DataType", "Data Type", PICKLIST, length=40, **ro),
        SField("OldValue", "Old Value", ANYTYPE, length=255, **ro),
        SField("NewValue", "New Value", ANYTYPE, length=255, **ro),
        SField("IsDeleted", "Deleted", BOOLEAN, nillable=False, **ro),
        SField("CreatedDate", "Created Date", DATETIME, nillable=False, **ro),
        SField(
            "CreatedById",
            "Created By ID",
            REFERENCE,
            nillable=False,
            length=18,
            reference_to=("User",),
            relationship_name="CreatedBy",
            **ro,
        ),
    ]
    label = f"{parent.label} Field History" if parent.name == "Opportunity" else f"{parent.label} History"
    return SObjectType(name, label, HISTORY_PREFIX, {f.name: f for f in fields}, custom=parent.custom, updateable=False)


def track(data: SalesforceData, sobject: str, *fields: str) -> SObjectType:
    """Turn history tracking on for `fields` of `sobject` (Setup, Field History Tracking); returns the history type."""
    parent = data.types[sobject]
    for name in fields:
        f = parent.field(name)
        if f is None:
            raise KeyError(f"{sobject} has no field {name!r}")
        if not f.track_history:
            parent.add_field(dataclasses.replace(f, track_history=True))
    history = _history_type(parent)
    data.types[history.name] = history
    data.records.setdefault(history.name, {})
    return history


def install(data: SalesforceData) -> None:
    """The default tracking, once per org (a restored snapshot keeps what it had)."""
    for sobject, fields in DEFAULT_TRACKED.items():
        if sobject in data.types and history_names(sobject)[0] not in data.types:
            track(data, sobject, *fields)


def _row(
    data: SalesforceData,
    parent: SObjectType,
    record_id: str,
    field: str,
    data_type: str | None,
    old: Any,
    new: Any,
    at: datetime,
    user_id: str,
) -> tuple[str, dict[str, Any]]:
    name, column, _ = history_names(parent.name)
    history = data.types[name]
    row_id = data.new_id(history)
    return name, {
        "Id": row_id,
        column: record_id,
        "Field": field,
        "DataType": data_type,
        "OldValue": None if old is None else sf_value(old),
        "NewValue": None if new is None else sf_value(new),
        "IsDeleted": False,
        "CreatedDate": at,
        "CreatedById": user_id,
    }


def _store(
    data: SalesforceData, rows: list[tuple[str, dict[str, Any]]], journal: list[Callable[[], object]] | None
) -> None:
    for name, row in rows:
        data.records.setdefault(name, {})[row["Id"]] = row
        if journal is not None:  # a composite that rolls back takes its history with it
            journal.append(partial(data.records[name].pop, row["Id"], None))


def record_created(
    data: SalesforceData, parent: SObjectType, record: dict[str, Any], journal: list[Callable[[], object]] | None = None
) -> None:
    """Salesforce's "created" row, when the object tracks any field."""
    if history_names(parent.name)[0] in data.types and any(f.track_history for f in parent.fields.values()):
        _store(
            data,
            [
                _row(
                    data,
                    parent,
                    record["Id"],
                    "created",
                    None,
                    None,
                    None,
                    record["CreatedDate"],
                    record["CreatedById"],
                )
            ],
            journal,
        )


def record_changes(
    data: SalesforceData,
    parent: SObjectType,
    record: dict[str, Any],
    before: dict[str, Any],
    journal: list[Callable[[], object]] | None = None,
) -> None:
    """A row per tracked field whose value differs between `before` and the saved `record`."""
    if history_names(parent.name)[0] not in data.types:
        return
    rows = [
        _row(
            data,
            parent,
            record["Id"],
            f.name,
            f.type,
            before.get(f.name),
            record.get(f.name),
            record["LastModifiedDate"],
            record["LastModifiedById"],
        )
        for f in parent.fields.values()
        if f.track_history and before.get(f.name) != record.get(f.name)
    ]
    _store(data, rows, journal)


def add_history(
    data: SalesforceData, sobject: str, record_id: str, field: str, old: Any, new: Any, at: datetime, user_id: str
) -> dict[str, Any]:
    """A history row written directly (for demo data made without the API); the field must be tracked."""
    parent = data.types[sobject]
    f = parent.field(field)
    if f is None or not f.track_history:
        raise KeyError(f"{sobject}.{field} is not tracked: track() it first")
    name, row = _row(data, parent, record_id, f.name, f.type, old, new, at, user_id)
    _store(data, [(name, row)], None)
    return row
