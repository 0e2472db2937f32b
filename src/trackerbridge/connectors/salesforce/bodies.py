"""Canonical changes as Salesforce wire values: sObject Collection records, note Tasks, save errors.

Pure functions. A note becomes a Task on the record whose Subject carries `[tb:<marker>]`; a
later run queries Tasks by WhatId for that marker before creating one, so a note is created once
per marker however often a run is killed and repeated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trackerbridge.changes import FieldChange, Note, RecordChange
from trackerbridge.connectors.base import BOOLEAN, DATE, DATETIME, NUMBER, OPTION, REFERENCE, USER, FieldInfo
from trackerbridge.connectors.record_write import WriteError, as_date, as_utc, no_account
from trackerbridge.model import Person

COLLECTION_MAX = 200  # records per sObject Collections request
COMPOSITE_COLLECTIONS = 5  # sObject Collections subrequests per Composite request
COMPOSITE_RECORDS = COLLECTION_MAX * COMPOSITE_COLLECTIONS  # records per API call through Composite
SUBJECT_LIMIT = 255
DESCRIPTION_LIMIT = 32000
MARKER_LIKE = "%[tb:%"
_MARKER = re.compile(r"\[tb:([^\]\s]+)\]")


def record_values(
    change: RecordChange,
    fields: Mapping[str, FieldInfo],
    refs: Mapping[str, str],
    why: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """API name -> wire value for the change's fields (and nothing else). Raises WriteError."""
    if change.add_labels or change.remove_labels:
        raise WriteError("Salesforce records have no labels; the mapping's write-back names a label prefix")
    values: dict[str, Any] = {}
    for fc in change.fields:
        fi = fields.get(fc.field)
        if fi is None:
            raise WriteError(f"{fc.name or fc.field}: the field {fc.field!r} is not in the object's describe")
        values[fi.id] = wire_value(fi, fc, refs, why or {})
    return values


def wire_value(fi: FieldInfo, fc: FieldChange, refs: Mapping[str, str], why: Mapping[str, str]) -> Any:
    """One field's new value as the REST API takes it, by the catalog's normalised type; None clears."""
    value = fc.after
    if value is None or value == "":
        return None
    kind = fi.type
    if kind in (USER, REFERENCE):
        if isinstance(value, Person):
            ref = refs.get(value.identity)
            if ref is None:
                raise no_account(value, "active Salesforce user", why.get(value.identity), fi.name)
            return ref
        return str(value)
    if kind == DATE:
        return as_date(fi, value).isoformat()
    if kind == DATETIME:
        moment = as_utc(fi, value)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if kind == NUMBER:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise WriteError(f"{fi.name}: {value!r} is not a number") from None
    if kind == BOOLEAN:
        return bool(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        sep = ";" if kind == OPTION else "\n"  # a multi-select picklist's values are ;-separated
        return sep.join(str(v) for v in value)
    return str(value)


def update_record(sobject: str, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {"attributes": {"type": sobject}, "id": key, **values}


# --- notes --------------------------------------------------------------------------------------


def task_subject(note: Note) -> str:
    """The note's title as a person's task list shows it, the marker tag short and last."""
    tag = f" [tb:{note.marker}]"
    what = note.kind.replace("-", " ").strip() or "note"
    head = " ".join(note.title.split()) or f"trackerbridge: {what}"
    if len(head) > SUBJECT_LIMIT - len(tag):
        head = head[: SUBJECT_LIMIT - len(tag) - 1] + "…"
    return head + tag


def task_record(key: str, note: Note, owner: str | None) -> dict[str, Any]:
    """A Task on the record; assigned to the mentioned person when they have a user, else to us."""
    record: dict[str, Any] = {
        "attributes": {"type": "Task"},
        "Subject": task_subject(note),
        "WhatId": key,
        "Status": "Not Started",
        "Priority": "High",
        "Description": note.text[:DESCRIPTION_LIMIT],
    }
    if owner:
        record["OwnerId"] = owner
    return record


def markers_in(subject: Any) -> list[str]:
    return _MARKER.findall(subject) if isinstance(subject, str) else []


def same_record(key: str) -> str:
    """Record ids compare by their case-sensitive 15-character form (an 18-character id adds a checksum)."""
    return key[:15]


def save_errors(result: Any) -> str:
    """A Collections result's errors as `CODE: message (fields: ...)`."""
    errors = result.get("errors") if isinstance(result, dict) else None
    parts = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        code = error.get("statusCode") or error.get("errorCode") or "ERROR"
        fields = [str(f) for f in error.get("fields") or []]
        shown = f" (fields: {', '.join(fields)})" if fields else ""
        parts.append(f"{code}: {error.get('message') or ''}{shown}")
    return "; ".join(parts) or "Salesforce did not save the record and gave no reason"
