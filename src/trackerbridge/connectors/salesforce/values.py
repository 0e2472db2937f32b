"""Salesforce's describe and query rows as plain trackerbridge values: field types, datetimes, Ids."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from trackerbridge.connectors.base import BOOLEAN, DATE, DATETIME, NUMBER, OPTION, REFERENCE, TEXT, USER

USER_ID = re.compile(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")


def _same_id(a: str, b: str) -> bool:
    """Salesforce Ids in their 15- or 18-character forms: the first 15 are case-sensitive and decide."""
    return a[:15] == b[:15]


RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_SF_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")


# describe `type` -> normalised type; references are decided by their target, see `_field_type`.
_TYPES = {
    "picklist": OPTION,
    "multipicklist": OPTION,
    "combobox": OPTION,
    "date": DATE,
    "datetime": DATETIME,
    "boolean": BOOLEAN,
    "double": NUMBER,
    "currency": NUMBER,
    "percent": NUMBER,
    "int": NUMBER,
    "long": NUMBER,
    "string": TEXT,
    "textarea": TEXT,
    "email": TEXT,
    "phone": TEXT,
    "url": TEXT,
    "id": TEXT,
    "encryptedstring": TEXT,
    "time": TEXT,
}


# Compound and binary fields: their parts are separate fields, their values are not plain text.
_SKIPPED_TYPES = frozenset({"address", "location", "base64", "complexvalue"})


def _field_type(described: dict[str, Any]) -> str | None:
    """The normalised type of one describe field, or None for fields trackerbridge cannot use."""
    native = str(described.get("type") or "")
    if native == "reference":
        # A polymorphic owner (User or Group/queue) still reads through Owner.Email / Owner.Name.
        return USER if "User" in (described.get("referenceTo") or []) else REFERENCE
    if native in _SKIPPED_TYPES:
        return None
    return _TYPES.get(native, TEXT)


def parse_datetime(text: str) -> datetime:
    """Salesforce's wire format (2026-11-25T08:25:46.000+0000) and its ISO 8601 siblings, as aware UTC."""
    m = _SF_DATETIME.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a Salesforce datetime: {text!r}")
    day, clock, fraction, zone = m.groups()
    value = datetime.fromisoformat(f"{day}T{clock}").replace(
        microsecond=int((fraction or ".0")[1:7].ljust(6, "0")), tzinfo=timezone.utc
    )
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        value -= offset if zone[0] == "+" else -offset
    return value


def _to_ms(value: datetime) -> datetime:
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class _Column:
    """How one requested field is read from a query row."""

    key: str  # the id the caller asked for; the key in RawRecord.values
    name: str  # the API name, as describe spells it
    type: str  # normalised
    relationship: str | None = None  # for user references: Owner, Delivery_Owner__r
    multiple: bool = False  # a multipicklist: "A;B" is the values A and B


def field_value(row: dict[str, Any], name: str | None) -> Any:
    """A row's value by API name; Salesforce may spell the key in another case than describe."""
    if name is None:
        return None
    if name in row:
        return row[name]
    folded = name.casefold()
    return next((v for k, v in row.items() if k.casefold() == folded), None)
