"""The emulated Salesforce's DML: sObject rows (create, get, update, delete, with If-Modified-Since and
If-Unmodified-Since) and sObject Collections (up to 200 records, allOrNone).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from trackerbridge.sandbox.salesforce_errors import NOT_FOUND, ROLLED_BACK, DmlError, _error, _ParseError, _valid_id
from trackerbridge.sandbox.salesforce_model import SObjectType, sf_value, to_18
from trackerbridge.sandbox.salesforce_saving import SalesforceSaving
from trackerbridge.sandbox.web import Request, Response

COLLECTION_MAX = 200


def _http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(timezone.utc), usegmt=True)


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class SalesforceDml(SalesforceSaving):
    # --- sObject rows -------------------------------------------------------------------------

    @staticmethod
    def _attributes(t: SObjectType, record_id: str, version: str) -> dict[str, Any]:
        return {"attributes": {"type": t.name, "url": f"/services/data/v{version}/sobjects/{t.name}/{record_id}"}}

    def _render(
        self, t: SObjectType, record: dict[str, Any], version: str, names: list[str] | None = None
    ) -> dict[str, Any]:
        body = self._attributes(t, record["Id"], version)
        for name in names or list(t.fields):
            body[name] = sf_value(record.get(name))
        return body

    def _etag(self, t: SObjectType, record: dict[str, Any]) -> str:
        canonical = json.dumps(self._render(t, record, "0"), sort_keys=True, default=str).encode()
        return '"' + base64.b64encode(hashlib.sha1(canonical).digest()).decode() + '"'

    def get_record(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        record_id = request.path_params["record_id"]
        if not _valid_id(record_id):
            message = f"Provided external ID field does not exist or is not accessible: {record_id}"
            return _error(404, "NOT_FOUND", message)
        found = self.data.get(record_id)
        if found is None or found[0] is not t:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        record = found[1]
        names = None
        requested = request.arg("fields")
        if requested:
            names = ["Id"]
            for raw in requested.split(","):
                f = t.field(raw.strip())
                if f is None:
                    return _error(400, "INVALID_FIELD", self._no_such_column(raw.strip(), t))
                if f.name not in names:
                    names.append(f.name)
        etag = self._etag(t, record)
        headers = {"ETag": etag}
        modified = record.get("LastModifiedDate")
        if isinstance(modified, datetime):
            headers["Last-Modified"] = _http_date(modified)
            since = _parse_http_date(request.header("If-Modified-Since") or "")
            if since is not None and modified.replace(microsecond=0) <= since:
                return Response(304, None, headers)
        none_match = request.header("If-None-Match")
        if none_match and (etag in [tag.strip() for tag in none_match.split(",")] or none_match.strip() == "*"):
            return Response(304, None, headers)
        return Response(200, self._render(t, record, self._version(request), names), headers)

    @staticmethod
    def _no_such_column(name: str, t: SObjectType) -> str:
        return (
            f"No such column '{name}' on entity '{t.name}'. If you are attempting to use a custom field, "
            "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
            "describe call for the appropriate names."
        )

    def create_record(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        parsed = self._json_object(request, t.name)
        if isinstance(parsed, Response):
            return parsed
        body, text = parsed
        if any(key.lower() == "id" for key in body):
            return Response(
                400,
                [DmlError("INVALID_FIELD", "Record ID: cannot specify Id in an insert call", ["Id"]).rest()],
            )
        try:
            values, errors = self._prepare(t, body, text, creating=True)
        except _ParseError as exc:
            return _error(400, "JSON_PARSER_ERROR", str(exc))
        if errors:
            return Response(400, [e.rest() for e in errors])
        record_id = self._insert(t, values)
        return Response(201, {"id": record_id, "success": True, "errors": []})

    def update_record(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        record_id = request.path_params["record_id"]
        if not _valid_id(record_id) or not record_id.startswith(t.key_prefix):
            return Response(400, [self._malformed_id(t, record_id).rest()])
        parsed = self._json_object(request, t.name)
        if isinstance(parsed, Response):
            return parsed
        body, text = parsed
        found = self.data.get(record_id)
        if found is None:
            return self._missing_row(t, record_id)
        record = found[1]
        for key in [k for k in body if k.lower() == "id"]:
            if not isinstance(body[key], str) or to_18(body[key]) != record["Id"]:
                return _error(400, "INVALID_FIELD", "The Id field should not be specified in the sobject data.")
            del body[key]
        failed = self._precondition(request, t, record)
        if failed is not None:
            return failed
        try:
            values, errors = self._prepare(t, body, text, creating=False)
        except _ParseError as exc:
            return _error(400, "JSON_PARSER_ERROR", str(exc))
        if errors:
            return Response(400, [e.rest() for e in errors])
        self._update(t, record, values)
        return Response(204)

    def delete_record(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        record_id = request.path_params["record_id"]
        if not _valid_id(record_id) or not record_id.startswith(t.key_prefix):
            return Response(400, [self._malformed_id(t, record_id).rest()])
        found = self.data.get(record_id)
        if found is None:
            return self._missing_row(t, record_id)
        if t.name == "User" or not t.updateable:
            return _error(400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", [])
        self._delete(t, found[1])
        return Response(204)

    def _missing_row(self, t: SObjectType, record_id: str) -> Response:
        if to_18(record_id) in self.data.deleted.get(t.name, {}):
            return _error(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return _error(404, "NOT_FOUND", NOT_FOUND)

    @staticmethod
    def _malformed_id(t: SObjectType, record_id: str) -> DmlError:
        return DmlError("MALFORMED_ID", f"{t.label} ID: id value of incorrect type: {record_id}", ["Id"])

    def _precondition(self, request: Request, t: SObjectType, record: dict[str, Any]) -> Response | None:
        """If-Unmodified-Since compares at HTTP-date (second) precision; If-Match / If-None-Match by ETag."""
        unmodified = request.header("If-Unmodified-Since")
        if unmodified is not None:
            since = _parse_http_date(unmodified)
            if since is None:
                return _error(400, "BAD_REQUEST", f"Invalid If-Unmodified-Since header value: {unmodified}")
            modified = record.get("LastModifiedDate")
            if isinstance(modified, datetime) and modified.replace(microsecond=0) > since:
                return _error(
                    412,
                    "PRECONDITION_FAILED",
                    f"The requested resource's state has changed since {unmodified}",
                )
        for name, must_match in (("If-Match", True), ("If-None-Match", False)):
            value = request.header(name)
            if value is None:
                continue
            tags = [tag.strip() for tag in value.split(",") if tag.strip()]
            if not tags or any(tag != "*" and not re.fullmatch(r'(W/)?"[^"]*"', tag) for tag in tags):
                return _error(400, "BAD_REQUEST", f"Invalid {name} header value: {value}")
            matches = "*" in tags or self._etag(t, record) in tags
            if matches != must_match:
                return _error(412, "PRECONDITION_FAILED", "The requested resource's ETag does not match " + name)
        return None

    # --- sObject Collections ------------------------------------------------------------------

    def create_collection(self, request: Request) -> Response:
        return self._collection(request, creating=True)

    def update_collection(self, request: Request) -> Response:
        return self._collection(request, creating=False)

    def _collection(self, request: Request, *, creating: bool) -> Response:
        """Up to 200 records, each saved or failed in order; allOrNone rolls every save back on a failure.

        The whole body is deserialised first (a type error fails the request with 400), then
        records are validated and saved one by one, so later records see earlier ones.
        """
        parsed = self._json_object(request, "SObjectCollectionRequest")
        if isinstance(parsed, Response):
            return parsed
        body, text = parsed
        records = body.get("records")
        all_or_none = body.get("allOrNone", False)
        if not isinstance(records, list) or not isinstance(all_or_none, bool):
            return _error(400, "INVALID_FIELD", "records: must be a list of sObjects, allOrNone: a boolean")
        if len(records) > COLLECTION_MAX:
            return _error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        try:
            for item in records:
                t = self._collection_type(item)
                if isinstance(t, SObjectType):
                    self._prepare(t, self._fields_of(item), text, creating=creating)
        except _ParseError as exc:
            return _error(400, "JSON_PARSER_ERROR", str(exc))
        undo: list[Callable[[], object]] = []
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        for item in records:
            outcome = self._save_one(item, text, creating=creating, seen=seen, undo=undo)
            if isinstance(outcome, str):
                results.append({"id": outcome, "success": True, "errors": []})
            else:
                results.append({"success": False, "errors": [e.result() for e in outcome]})
        if all_or_none and any(not r["success"] for r in results):
            for step in reversed(undo):
                step()
            rolled_back = DmlError("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK).result()
            results = [r if not r["success"] else {"success": False, "errors": [rolled_back]} for r in results]
        return Response(200, results)

    def _collection_type(self, item: Any) -> SObjectType | DmlError:
        attributes = item.get("attributes") if isinstance(item, dict) else None
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(name, str) or not name:
            return DmlError("INVALID_TYPE", "Must send a concrete entity type.")
        t = self.data.sobject(name)
        return t if t is not None else DmlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")

    @staticmethod
    def _fields_of(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != "attributes" and k.lower() != "id"}

    def _save_one(
        self,
        item: Any,
        text: str,
        *,
        creating: bool,
        seen: set[str],
        undo: list[Callable[[], object]],
    ) -> str | list[DmlError]:
        """Save one collection record: its id, or its errors."""
        t = self._collection_type(item)
        if isinstance(t, DmlError):
            return [t]
        ids = [v for k, v in item.items() if k.lower() == "id"]
        if creating:
            if ids:
                return [DmlError("INVALID_FIELD", "Record ID: cannot specify Id in an insert call", ["Id"])]
            values, errors = self._prepare(t, self._fields_of(item), text, creating=True)
            if errors:
                return errors
            record_id = self._insert(t, values)
            undo.append(lambda: self.data.records[t.name].pop(record_id, None))
            return record_id
        if not ids or ids[0] in (None, ""):
            return [DmlError("MISSING_ARGUMENT", "Id not specified in an update call")]
        raw_id = ids[0]
        if not isinstance(raw_id, str) or not _valid_id(raw_id) or not raw_id.startswith(t.key_prefix):
            return [self._malformed_id(t, str(raw_id))]
        found = self.data.get(raw_id)
        if found is None:
            if to_18(raw_id) in self.data.deleted.get(t.name, {}):
                return [DmlError("ENTITY_IS_DELETED", "entity is deleted")]
            return [DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")]
        record = found[1]
        if record["Id"] in seen:
            return [DmlError("DUPLICATE_VALUE", f"Duplicate id in list: {record['Id']}")]
        seen.add(record["Id"])
        values, errors = self._prepare(t, self._fields_of(item), text, creating=False)
        if errors:
            return errors
        before = dict(record)

        def restore() -> None:
            record.clear()
            record.update(before)

        self._update(t, record, values)
        undo.append(restore)
        return record["Id"]
