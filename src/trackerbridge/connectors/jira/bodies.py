"""Canonical changes as Jira REST v2 wire values: the edit body of one issue and the note's comment.

Pure functions, so the encoding is tested without a server. Labels only ever travel as `add` /
`remove` operations for the labels a change names: a `set` (or `fields.labels`) would replace
the labels people put there. Comments carry a marker line that a later run finds, so a note is
posted once per marker however often a run is killed and repeated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from trackerbridge.changes import FieldChange, Note, RecordChange
from trackerbridge.connectors.base import BOOLEAN, DATE, DATETIME, LABELS, NUMBER, OPTION, TEXT, USER, FieldInfo
from trackerbridge.connectors.record_write import WriteError, as_date, as_utc, no_account
from trackerbridge.model import Person

LABELS_FIELD = "labels"
COMMENT_LIMIT = 32767  # characters Jira accepts in a comment body
MARKER_COLOUR = "#97a0af"  # Atlassian's subtle grey (N80)
_NAMED_OPTIONS = frozenset({"priority", "resolution", "issuetype", "securitylevel"})
_NAMED_ITEMS = ("component", "version", "multiversion")
_OPTION_ITEMS = ("array<option>", "multiselect", "multicheckboxes")


def edit_body(
    change: RecordChange,
    fields: Mapping[str, FieldInfo],
    refs: Mapping[str, str],
    *,
    cloud: bool,
    why: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The PUT issue/{key} body for `change`: `fields` for its field changes, `update.labels` for its
    label operations; empty when the change writes nothing (notes only). Raises WriteError."""
    values: dict[str, Any] = {}
    add = list(change.add_labels)
    remove = list(change.remove_labels)
    for fc in change.fields:
        fi = fields.get(fc.field)
        if fi is None:
            raise WriteError(f"{fc.name or fc.field}: the field {fc.field!r} is not in Jira's field catalog")
        if fi.id == LABELS_FIELD:
            before, after = set(_strings(fc.before)), _strings(fc.after)
            add += [x for x in after if x not in before]
            remove += [x for x in sorted(before) if x not in after]
            continue
        values[fi.id] = wire_value(fi, fc, refs, cloud=cloud, why=why or {})
    body: dict[str, Any] = {}
    if values:
        body["fields"] = values
    ops = [{"add": x} for x in dict.fromkeys(add)] + [{"remove": x} for x in dict.fromkeys(remove) if x not in add]
    if ops:
        body["update"] = {LABELS_FIELD: ops}
    return body


def wire_value(fi: FieldInfo, fc: FieldChange, refs: Mapping[str, str], *, cloud: bool, why: Mapping[str, str]) -> Any:
    """One field's new value as Jira takes it, by the catalog's normalised type."""
    value = fc.after
    if value is None or (value == "" and fi.type != TEXT):
        return [] if fi.type == LABELS else None
    kind, native = fi.type, fi.native_type
    if kind == USER:
        return _user(fi, value, refs, cloud=cloud, why=why)
    if kind == OPTION:
        text = str(value)
        if native in _NAMED_OPTIONS:
            return {"name": text}
        return {"key": text} if native == "project" else {"value": text}
    if kind == DATE:
        return as_date(fi, value).isoformat()
    if kind == DATETIME:
        moment = as_utc(fi, value)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    if kind == NUMBER:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise WriteError(f"{fi.name}: {value!r} is not a number") from None
    if kind == LABELS:
        items = _strings(value)
        if any(n in native for n in _OPTION_ITEMS):
            return [{"value": x} for x in items]
        if any(n in native for n in _NAMED_ITEMS):
            return [{"name": x} for x in items]
        return items
    if kind == BOOLEAN:
        return bool(value)
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)
    return str(value)


def _user(fi: FieldInfo, value: Any, refs: Mapping[str, str], *, cloud: bool, why: Mapping[str, str]) -> Any:
    if isinstance(value, Person):
        ref = refs.get(value.identity)
        if ref is None:
            raise no_account(value, "Jira", why.get(value.identity), fi.name)
    else:
        ref = str(value)  # already this Jira's own reference
    return {"accountId": ref} if cloud else {"name": ref}


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    return [str(v) for v in items if v is not None and str(v)]


# --- notes --------------------------------------------------------------------------------------


def marker_line(marker: str) -> str:
    """`[trackerbridge:<marker>]`, with the brackets escaped so wiki markup shows them as text, in
    Atlassian's subtle grey (wiki markup's `{color}`): the marker is for trackerbridge, not for people."""
    return f"{{color:{MARKER_COLOUR}}}\\[trackerbridge:{marker}\\]{{color}}"


def has_marker(body: Any, marker: str) -> bool:
    """Whether a comment body carries the marker, escaped or not (Cloud re-escapes what it stores);
    a body in Atlassian Document Format (a proxy answering v3) is searched as its JSON text."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body, ensure_ascii=False)
    if not isinstance(body, str) or not marker:
        return False
    text = body.replace("\\", "")
    return re.search(re.escape(f"trackerbridge:{marker}") + r"(?![\w:.-])", text) is not None


def mention(person: Person | None, ref: str | None, *, cloud: bool) -> str:
    """Jira wiki markup (REST v2) that mentions `ref`; the person's name as text when they have no account."""
    if ref:
        return f"[~accountid:{ref}]" if cloud else f"[~{ref}]"
    return person.label if person is not None else ""


def comment_body(note: Note, ref: str | None, *, cloud: bool) -> str:
    """note.text (what turned red and what to do), the owner's mention, and last the grey marker
    that makes the note findable."""
    who = mention(note.mention, ref, cloud=cloud)
    tail = (f"\n\nOwner: {who}" if who else "") + "\n\n" + marker_line(note.marker)
    text = note.text.strip()
    if len(text) + len(tail) > COMMENT_LIMIT:
        text = text[: COMMENT_LIMIT - len(tail) - 1] + "…"
    return text + tail
