"""The emulated Salesforce's one validation and saving path for every write (single rows, collections and
composite subrequests fail the same way), with Salesforce's value coercion and millisecond stamps.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import trackerbridge.sandbox.salesforce_history as salesforce_history
from trackerbridge.sandbox.salesforce_errors import (
    READ_ONLY_MESSAGE,
    DmlError,
    _deserialize_error,
    _error,
    _locate,
    _ParseError,
    _valid_id,
)
from trackerbridge.sandbox.salesforce_model import (
    BOOLEAN,
    CURRENCY,
    DATE,
    DATETIME,
    DOUBLE,
    EMAIL,
    ID,
    MULTIPICKLIST,
    PERCENT,
    PICKLIST,
    REFERENCE,
    STRING,
    TEXTAREA,
    SField,
    SObjectType,
)
from trackerbridge.sandbox.salesforce_plumbing import SalesforcePlumbing
from trackerbridge.sandbox.web import BadJson, Request, Response

# Values Salesforce fills in on create when the caller leaves them out.
CREATE_DEFAULTS: dict[tuple[str, str], Any] = {
    ("Task", "Status"): "Not Started",
    ("Task", "Priority"): "Normal",
    ("User", "IsActive"): True,
}


_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?")
_STRINGISH = (STRING, TEXTAREA, EMAIL, PICKLIST, MULTIPICKLIST, REFERENCE, ID)
_NUMERIC = (CURRENCY, DOUBLE, PERCENT)
_MS = timedelta(milliseconds=1)


def _truncate_ms(value: datetime) -> datetime:
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def parse_sf_datetime(text: str) -> datetime | None:
    """The datetime forms Salesforce accepts in JSON: ISO 8601 with Z, +hhmm, +hh:mm or no zone (UTC)."""
    m = _DATETIME_RE.fullmatch(text.strip())
    if not m:
        return None
    day, hh, mm, ss, frac, zone = m.groups()
    try:
        value = datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss or '00'}")
    except ValueError:
        return None
    value = value.replace(microsecond=int((frac or "0")[:6].ljust(6, "0")))
    offset = timedelta(0)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return _truncate_ms(value.replace(tzinfo=timezone(offset)))


def _coerce(f: SField, raw: Any) -> Any:
    """Turn a JSON value into the stored Python value for `f`, or raise _ParseError (no message)."""
    if raw is None:
        return False if f.type == BOOLEAN else None
    if isinstance(raw, (dict, list)):
        raise _ParseError
    if f.type in _STRINGISH:
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        elif isinstance(raw, (int, float)):
            raw = str(raw)
        return raw if raw != "" else None  # Salesforce stores an empty string as null
    if f.type == BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise _ParseError
    if f.type == DATE:
        if isinstance(raw, str) and _DATE_RE.fullmatch(raw):
            try:
                return date.fromisoformat(raw)
            except ValueError:
                pass
        raise _ParseError
    if f.type == DATETIME:
        parsed = parse_sf_datetime(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise _ParseError
        return parsed
    if f.type in _NUMERIC:
        if isinstance(raw, bool):
            raise _ParseError
        if isinstance(raw, (int, float)):
            return float(raw)
        try:
            number = float(raw)
        except ValueError:
            raise _ParseError from None
        if number != number or number in (float("inf"), float("-inf")):
            raise _ParseError
        return number
    return raw


class SalesforceSaving(SalesforcePlumbing):
    # --- validation and saving ----------------------------------------------------------------

    def _json_object(self, request: Request, type_name: str) -> tuple[dict[str, Any], str] | Response:
        """The body as a JSON object plus its text, or the JSON_PARSER_ERROR Salesforce would send."""
        if not request.body.strip():
            return _error(
                400,
                "JSON_PARSER_ERROR",
                "The HTTP entity body is required, but this request has no entity body.",
            )
        try:
            body = request.json()
        except BadJson as exc:
            cause = exc.__cause__
            if isinstance(cause, json.JSONDecodeError):
                where = f"[line:{cause.lineno}, column:{cause.colno}]"
                if cause.pos < len(cause.doc):
                    ch = cause.doc[cause.pos]
                    message = (
                        f"Unexpected character ('{ch}' (code {ord(ch)})): expected a valid value "
                        f"(number, String, array, object, 'true', 'false' or 'null') at {where}"
                    )
                else:
                    message = f"Unexpected end-of-input at {where}"
            else:
                message = "Invalid UTF-8 in the request body at [line:1, column:1]"
            return _error(400, "JSON_PARSER_ERROR", message)
        if not isinstance(body, dict):
            return _error(400, "JSON_PARSER_ERROR", _deserialize_error(type_name, body, 1, 1))
        return body, request.body.decode("utf-8")

    def _prepare(
        self, t: SObjectType, body: dict[str, Any], text: str, *, creating: bool
    ) -> tuple[dict[str, Any], list[DmlError]]:
        """Check a record's fields as Salesforce's save does: the values to store, or the errors.

        Raises _ParseError (with Salesforce's message) when a value cannot be read as the field's type.
        """
        values: dict[str, Any] = {}
        read_only: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = t.field(key)
            if f is None:
                return {}, [DmlError("INVALID_FIELD", f"No such column '{key}' on sobject of type {t.name}")]
            try:
                values[f.name] = _coerce(f, raw)
            except _ParseError:
                line, column = _locate(text, key, raw)
                raise _ParseError(_deserialize_error(f.type, raw, line, column)) from None
            if not (f.createable if creating else f.updateable):
                read_only.append(f.name)
        if read_only:
            message = READ_ONLY_MESSAGE.format(", ".join(read_only))
            return {}, [DmlError("INVALID_FIELD_FOR_INSERT_UPDATE", message, read_only)]
        errors: list[DmlError] = []
        for name, value in list(values.items()):
            checked, error = self._check_value(t.fields[name], value)
            values[name] = checked
            if error is not None:
                errors.append(error)
        if creating:
            missing = [
                f.name
                for f in t.fields.values()
                if not f.nillable
                and f.createable
                and f.type != BOOLEAN
                and f.name != "OwnerId"
                and (t.name, f.name) not in CREATE_DEFAULTS
                and values.get(f.name) is None
            ]
        else:
            missing = [n for n, v in values.items() if v is None and not t.fields[n].nillable]
        if missing:
            errors.append(
                DmlError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
            )
        return values, errors

    def _check_value(self, f: SField, value: Any) -> tuple[Any, DmlError | None]:
        """Per-field rules: length, email shape, restricted picklists, and lookups to live records."""
        if value is None:
            return None, None
        if f.type in (STRING, TEXTAREA, EMAIL) and f.length and len(value) > f.length:
            shown = value if len(value) <= 200 else value[:200] + "..."
            message = f"{f.label}: data value too large: {shown} (max length={f.length})"
            return value, DmlError("STRING_TOO_LONG", message, [f.name])
        if f.type == EMAIL and not _EMAIL_RE.fullmatch(value):
            return value, DmlError("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {value}", [f.name])
        if f.type == MULTIPICKLIST and f.picklist and (bad := [v for v in value.split(";") if v not in f.picklist]):
            message = f"bad value for restricted picklist field: {bad[0]}"
            return value, DmlError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", message, [f.name])
        if f.type == PICKLIST and f.picklist and value not in f.picklist:
            message = f"bad value for restricted picklist field: {value}"
            return value, DmlError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", message, [f.name])
        if f.type == REFERENCE:
            prefixes = [t.key_prefix for t in map(self.data.sobject, f.reference_to) if t is not None]
            if not _valid_id(value) or not any(value.startswith(p) for p in prefixes):
                return value, DmlError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name])
            found = self.data.get(value)
            if found is None:
                return value, DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
            return found[1]["Id"], None
        return value, None

    def _stamp(self, floor: datetime | None = None) -> datetime:
        """The clock's time at ms precision, but always after every earlier stamp (and after `floor`)."""
        if self._last_stamp is None:
            stamps = [
                r.get("SystemModstamp")
                for table in (*self.data.records.values(), *self.data.deleted.values())
                for r in table.values()
            ]
            known = [s for s in stamps if isinstance(s, datetime)]
            self._last_stamp = _truncate_ms(max(known)) if known else None
        stamp = _truncate_ms(self.clock.now())
        for earlier in (self._last_stamp, floor):
            if earlier is not None and stamp <= earlier:
                stamp = _truncate_ms(earlier) + _MS
        self._last_stamp = stamp
        return stamp

    @staticmethod
    def _derive(t: SObjectType, record: dict[str, Any]) -> None:
        """Fields Salesforce computes: an opportunity's closed/won flags, a user's full name."""
        if t.name == "Opportunity":
            stage = record.get("StageName") or ""
            record["IsClosed"] = stage.startswith("Closed")
            record["IsWon"] = stage == "Closed Won"
        elif t.name == "User":
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(p for p in parts if p) or None

    def _insert(self, t: SObjectType, values: dict[str, Any]) -> str:
        record: dict[str, Any] = {f.name: (False if f.type == BOOLEAN else None) for f in t.fields.values()}
        for (type_name, name), default in CREATE_DEFAULTS.items():
            if type_name == t.name and name in t.fields:
                record[name] = default
        record.update({k: v for k, v in values.items() if v is not None or (t.name, k) not in CREATE_DEFAULTS})
        record_id = self.data.new_id(t)
        while self.data.get(record_id) is not None:  # demo data may already use the next serial
            record_id = self.data.new_id(t)
        stamp = self._stamp()
        record.update(
            {
                "Id": record_id,
                "CreatedDate": stamp,
                "CreatedById": self._caller,
                "LastModifiedDate": stamp,
                "LastModifiedById": self._caller,
                "SystemModstamp": stamp,
            }
        )
        if "OwnerId" in t.fields and record.get("OwnerId") is None:
            record["OwnerId"] = self._caller
        self._derive(t, record)
        self.data.records.setdefault(t.name, {})[record_id] = record
        if self._journal is not None:
            self._journal.append(lambda: self.data.records[t.name].pop(record_id, None))
        salesforce_history.record_created(self.data, t, record, self._journal)
        return record_id

    def _touch(self, record: dict[str, Any]) -> None:
        previous = record.get("SystemModstamp")
        stamp = self._stamp(previous if isinstance(previous, datetime) else None)
        record.update({"LastModifiedDate": stamp, "SystemModstamp": stamp, "LastModifiedById": self._caller})

    def _update(self, t: SObjectType, record: dict[str, Any], values: dict[str, Any]) -> None:
        before = dict(record)
        if self._journal is not None:

            def restore() -> None:
                record.clear()
                record.update(before)

            self._journal.append(restore)
        record.update(values)
        self._derive(t, record)
        self._touch(record)
        salesforce_history.record_changes(self.data, t, record, before, self._journal)

    def _delete(self, t: SObjectType, record: dict[str, Any]) -> None:
        """Move to the recycle bin, where queryAll still sees it with IsDeleted = true."""
        if self._journal is not None:
            before = dict(record)

            def undelete() -> None:
                self.data.deleted.get(t.name, {}).pop(before["Id"], None)
                record.clear()
                record.update(before)
                self.data.records[t.name][before["Id"]] = record

            self._journal.append(undelete)
        self.data.records[t.name].pop(record["Id"], None)
        self._touch(record)
        record["IsDeleted"] = True
        self.data.deleted.setdefault(t.name, {})[record["Id"]] = record
