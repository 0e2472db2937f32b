"""The emulated Salesforce's error bodies: the messages it answers with, a save error (`DmlError`), the
JSON deserialiser's refusals, and the record id check every DML path makes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from trackerbridge.sandbox.web import Response

NOT_FOUND = "The requested resource does not exist"
READ_ONLY_MESSAGE = (
    "Unable to create/update fields: {}. Please check the security settings of this field and verify "
    "that it is read level editable for your profile or permission set."
)
UNKNOWN_EXCEPTION_MESSAGE = "An unexpected error occurred. Please include this ErrorId if you contact support: {}"
ROLLED_BACK = "Record rolled back because not all records were valid and the request was using AllOrNone header"


PROCESSING_HALTED = "The transaction was rolled back since another operation in the same transaction failed."


_ID_RE = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")


@dataclass
class DmlError:
    """One save error; REST rows call the code `errorCode`, collection results `statusCode`."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def rest(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def result(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


class _ParseError(Exception):
    """A body Salesforce's JSON deserialiser rejects: the whole request fails with JSON_PARSER_ERROR."""


def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return Response(status, [item])


def _valid_id(value: str) -> bool:
    return bool(_ID_RE.fullmatch(value))


def _json_token(value: Any) -> tuple[str, str]:
    """Jackson's token name and text for a value, as Salesforce's parser errors quote them."""
    if isinstance(value, bool):
        return ("VALUE_TRUE" if value else "VALUE_FALSE", json.dumps(value))
    if isinstance(value, int):
        return "VALUE_NUMBER_INT", str(value)
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT", repr(value)
    if isinstance(value, dict):
        return "START_OBJECT", "{"
    if isinstance(value, list):
        return "START_ARRAY", "["
    return "VALUE_STRING", str(value)


def _locate(text: str, key: str, value: Any) -> tuple[int, int]:
    """Line and column just past `"key": value` in the body, where Jackson would report the error."""
    decoder = json.JSONDecoder()
    for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:\s*", text):
        try:
            found, end = decoder.raw_decode(text, m.end())
        except json.JSONDecodeError:
            continue
        if found == value:
            line = text.count("\n", 0, end) + 1
            return line, end - (text.rfind("\n", 0, end) + 1) + 1
    return 1, 1


def _deserialize_error(type_name: str, value: Any, line: int, column: int) -> str:
    token, shown = _json_token(value)
    return (
        f"Cannot deserialize instance of {type_name} from {token} value {shown} "
        f"or request may be missing a required field at [line:{line}, column:{column}]"
    )
