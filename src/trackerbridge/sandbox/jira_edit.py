"""Edits to emulated Jira issues: validating `fields` / `update` payloads and applying them.

An edit is validated whole before anything changes (Jira answers 400 with every bad field in
`errors` and changes nothing), then applied with a changelog entry and a fresh `updated`. A
comment can ride in an edit or a transition (`update.comment: [{"add": {"body": ...}}]`): it is
added by the caller, bumps `updated` and, as in Jira, leaves no changelog item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import trackerbridge.sandbox.jira_model as m

TEXT_LIMITS = {m.STRING: 255, m.TEXT: 32767}
COMMENT_LIMIT = 32767
COMMENT = "comment"


class EditError(ValueError):
    """A 400: field id -> message, as Jira puts them in `errors`."""

    def __init__(self, errors: dict[str, str], messages: list[str] | None = None) -> None:
        super().__init__("; ".join([*(messages or []), *errors.values()]))
        self.errors = errors
        self.messages = messages or []


@dataclass
class Change:
    field: m.FieldDef
    value: Any  # the new stored value; for the comment field, the body of a comment to add


def cannot_set(fid: str) -> str:
    return f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."


def comment_error(text: Any) -> str | None:
    """Jira's message for a comment body it refuses (POST comment and `update.comment` alike)."""
    if not isinstance(text, str) or not text.strip():
        return "Comment body can not be empty!"
    if len(text) > COMMENT_LIMIT:
        return f"The entered text is too long. It exceeds the allowed limit of {COMMENT_LIMIT} characters."
    return None


class IssueEditor:
    def __init__(self, data: m.JiraData, cloud: bool) -> None:
        self.data = data
        self.cloud = cloud

    # --- validation ---------------------------------------------------------------------------

    def plan(self, issue: m.Issue, body: Any) -> list[Change]:
        """The changes a PUT body asks for, or EditError with every problem found."""
        if not isinstance(body, dict):
            raise EditError({}, ["Can not deserialize instance of the request body: expected a JSON object."])
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise EditError({}, ["'fields' and 'update' must be JSON objects."])
        errors: dict[str, str] = {}
        changes: list[Change] = []
        for key in sorted(set(fields) & set(update)):
            errors[key] = f"Field '{key}' cannot be set in both 'fields' and 'update'."
        for key, raw in fields.items():
            f = self._settable(key, errors)
            if f is not None and key not in errors:
                self._collect(f, raw, errors, changes)
        for key, ops in update.items():
            if key == COMMENT:
                if key not in errors:
                    self._comment_ops(ops, errors, changes)
                continue
            f = self._settable(key, errors)
            if f is None or key in errors:
                continue
            if not isinstance(ops, list):
                errors[key] = f"Field '{key}': update operations must be a list."
                continue
            value = self._apply_ops(issue, f, ops, errors)
            if key not in errors:
                self._collect(f, value, errors, changes)
        if errors:
            raise EditError(errors)
        return changes

    def properties(self, body: Any) -> dict[str, Any]:
        """The entity properties an edit sets (`properties: [{"key": ..., "value": ...}]`, as in the
        Edit issue reference's IssueUpdateDetails); they change neither `updated` nor the changelog."""
        raw = body.get("properties") if isinstance(body, dict) else None
        if raw is None:
            return {}
        if not isinstance(raw, list):
            raise EditError({}, ["'properties' must be a list of objects with a key and a value."])
        out: dict[str, Any] = {}
        for item in raw:
            key = item.get("key") if isinstance(item, dict) else None
            if not isinstance(key, str) or not key or len(key) > 255 or "value" not in item:
                raise EditError({}, ["Each property needs a key of at most 255 characters and a value."])
            out[key] = item["value"]
        return out

    def _comment_ops(self, ops: Any, errors: dict[str, str], changes: list[Change]) -> None:
        """`update.comment`: `add` operations with a body (visibility and other keys are not emulated);
        Jira's `edit` and `remove` of existing comments are not emulated either, and answer 400."""
        f = self.data.fields[COMMENT]
        if not isinstance(ops, list):
            errors[COMMENT] = f"Field '{COMMENT}': update operations must be a list."
            return
        added: list[Change] = []
        for op in ops:
            if not isinstance(op, dict) or len(op) != 1:
                errors[COMMENT] = f"Field '{COMMENT}': each operation must be an object with one verb."
                return
            verb, arg = next(iter(op.items()))
            if verb != "add":
                errors[COMMENT] = f"Field '{COMMENT}' does not support update operation '{verb}'."
                return
            problem = comment_error(arg.get("body") if isinstance(arg, dict) else None)
            if problem is not None:
                errors[COMMENT] = problem
                return
            added.append(Change(f, arg["body"]))
        changes.extend(added)

    def _settable(self, key: str, errors: dict[str, str]) -> m.FieldDef | None:
        f = self.data.fields.get(key)
        if f is None or not f.orderable:
            errors[key] = cannot_set(key)
            return None
        return f

    def _apply_ops(self, issue: m.Issue, f: m.FieldDef, ops: list[Any], errors: dict[str, str]) -> Any:
        """Fold add/remove/set operations into the field's new value (Jira's `update` verbs)."""
        current = issue.fields.get(f.id)
        value: Any = list(current or []) if f.kind == m.LABELS else self.wire(f, current)
        for op in ops:
            if not isinstance(op, dict) or len(op) != 1:
                errors[f.id] = f"Field '{f.id}': each operation must be an object with one verb."
                return None
            verb, arg = next(iter(op.items()))
            if verb == "set":
                value = list(arg or []) if f.kind == m.LABELS and isinstance(arg, list) else arg
            elif f.kind == m.LABELS and verb in ("add", "remove"):
                if not isinstance(arg, str):
                    errors[f.id] = "Labels operations take a string."
                    return None
                if verb == "add" and arg not in value:
                    value.append(arg)
                elif verb == "remove" and arg in value:
                    value.remove(arg)
            else:
                errors[f.id] = f"Field '{f.id}' does not support update operation '{verb}'."
                return None
        return value

    def wire(self, f: m.FieldDef, stored: Any) -> Any:
        """A stored value in the shape a client would send it (so `set` and `fields` agree)."""
        if stored is None:
            return None
        if f.kind == m.USER:
            u = self.data.users.get(stored)
            return {"accountId": u.account_id} if u and self.cloud else {"name": u.name} if u else None
        if f.kind in (m.OPTION, m.PRIORITY):
            return {"value": stored} if f.kind == m.OPTION else {"name": stored}
        return stored

    def _collect(self, f: m.FieldDef, raw: Any, errors: dict[str, str], changes: list[Change]) -> None:
        try:
            changes.append(Change(f, self.convert(f, raw)))
        except ValueError as exc:
            errors[f.id] = str(exc)

    def convert(self, f: m.FieldDef, raw: Any) -> Any:
        """Client value -> stored value, or ValueError with Jira's message."""
        kind = f.kind
        if raw is None:
            if f.id == "summary":
                raise ValueError("You must specify a summary of the issue.")
            return [] if kind == m.LABELS else None
        if kind in (m.STRING, m.TEXT):
            if not isinstance(raw, str):
                raise ValueError(f"Field '{f.name}' expects a string.")
            if f.id == "summary" and not raw.strip():
                raise ValueError("You must specify a summary of the issue.")
            if f.id == "summary" and "\n" in raw:
                raise ValueError("The summary is invalid because it contains newline characters.")
            limit = TEXT_LIMITS[kind]
            if len(raw) > limit:
                raise ValueError(f"The entered text is too long. It exceeds the allowed limit of {limit} characters.")
            return raw
        if kind == m.USER:
            return self._user(f, raw)
        if kind == m.DATE:
            if not isinstance(raw, str):
                raise ValueError(f"Error parsing date string: {raw}")
            try:
                return date.fromisoformat(raw).isoformat()
            except ValueError:
                raise ValueError(f"Error parsing date string: {raw}") from None
        if kind == m.DATETIME:
            try:
                return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S.%f%z")
            except (TypeError, ValueError):
                raise ValueError(f"Error parsing datetime string: {raw}") from None
        if kind == m.OPTION:
            return self._option(f, raw)
        if kind == m.NUMBER:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError("Operation value must be a number")
            return float(raw)
        if kind == m.LABELS:
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                raise ValueError("Labels must be a list of strings.")
            for label in raw:
                if not label or any(ch.isspace() for ch in label):
                    raise ValueError(f"The label '{label}' contains spaces which is invalid.")
                if len(label) > 255:
                    raise ValueError("The label exceeds the maximum length of 255 characters.")
            return list(dict.fromkeys(raw))
        if kind == m.PRIORITY:
            name = raw.get("name") if isinstance(raw, dict) else None
            by_id = {v: k for k, v in m.PRIORITIES.items()}
            name = name or (by_id.get(raw.get("id", "")) if isinstance(raw, dict) else None)
            if name not in m.PRIORITIES:
                raise ValueError("Specify a valid priority name or id.")
            return name
        raise ValueError(cannot_set(f.id))

    def _user(self, f: m.FieldDef, raw: Any) -> str:
        if not isinstance(raw, dict):
            raise ValueError(f"Specify a valid value for {f.name}.")
        if self.cloud:
            if "accountId" not in raw:
                raise ValueError(f"Specify the user by accountId for {f.name}; 'name' is not supported in Cloud.")
            u = self.data.users.get(str(raw["accountId"]))
            if u is None:
                raise ValueError(f"Specify a valid accountId for {f.name}.")
        else:
            name = raw.get("name") or raw.get("key")
            u = next((x for x in self.data.users.values() if name in (x.name, x.key)), None)
            if u is None:
                raise ValueError(f"User '{name}' does not exist.")
        if not u.active:
            raise ValueError(f"User '{u.display_name}' is not active.")
        return u.account_id

    def _option(self, f: m.FieldDef, raw: Any) -> str:
        if isinstance(raw, dict) and "value" in raw:
            if raw["value"] in f.allowed_values:
                return str(raw["value"])
            raise ValueError(f"Option value '{raw['value']}' is not valid")
        if isinstance(raw, dict) and "id" in raw:
            for v in f.allowed_values:
                if f.option_id(v) == str(raw["id"]):
                    return v
            raise ValueError(f"Option id '{raw['id']}' is not valid")
        raise ValueError(f"Specify a valid option for {f.name}: an object with 'value' or 'id'.")

    # --- applying -----------------------------------------------------------------------------

    def apply(self, issue: m.Issue, changes: list[Change], author: str, now: datetime) -> None:
        """Write the changes; a changelog entry lists the fields whose value really changed. Comments
        are added by `author` and bump `updated` without a changelog item."""
        items = []
        for ch in changes:
            if ch.field.id == COMMENT:
                issue.comments.append(m.Comment(self.data.next_comment_id, author, ch.value, now, now))
                self.data.next_comment_id += 1
                issue.fields["updated"] = now
                continue
            old = issue.fields.get(ch.field.id)
            if _same(old, ch.value):
                continue
            issue.fields[ch.field.id] = ch.value
            items.append(self.history_item(ch.field, old, ch.value))
        if items:
            self.record(issue, author, now, items)

    def record(self, issue: m.Issue, author: str, now: datetime, items: list[dict[str, Any]]) -> None:
        issue.changelog.append(m.History(self.data.next_history_id, author, now, items))
        self.data.next_history_id += 1
        issue.fields["updated"] = now

    def history_item(self, f: m.FieldDef, old: Any, new: Any) -> dict[str, Any]:
        def ident(v: Any) -> Any:
            if v is None:
                return None
            if f.kind == m.STATUS:
                return v
            if f.kind == m.LABELS:
                return None
            return v if f.kind == m.USER else None

        def text(v: Any) -> Any:
            if v is None or v == []:
                return None
            if f.kind == m.LABELS:
                return " ".join(v)
            if f.kind == m.USER:
                u = self.data.users.get(v)
                return u.display_name if u else v
            if f.kind == m.STATUS:
                return self.data.statuses[v].name
            if isinstance(v, datetime):
                return v.isoformat()
            if isinstance(v, float):
                return f"{v:g}"
            return str(v)

        return {
            "field": f.name if f.custom else f.id,
            "fieldtype": "custom" if f.custom else "jira",
            "fieldId": f.id,
            "from": ident(old),
            "fromString": text(old),
            "to": ident(new),
            "toString": text(new),
        }

    def transition(self, issue: m.Issue, target: m.Status, author: str, now: datetime) -> None:
        """Move to `target`; a done category sets the resolution, leaving it clears it."""
        old_status = issue.fields["status"]
        if old_status == target.id:
            return
        fields = self.data.fields
        items = [self.history_item(fields["status"], old_status, target.id)]
        old_resolution = issue.fields.get("resolution")
        new_resolution = None
        if target.category == "done":
            new_resolution = "Won't Do" if target.name == "Won't Do" else "Done"
        if new_resolution != old_resolution:
            items.append(self.history_item(fields["resolution"], old_resolution, new_resolution))
            issue.fields["resolution"] = new_resolution
            issue.fields["resolutiondate"] = now if new_resolution else None
        if self.data.statuses[old_status].category != target.category:
            issue.fields["statuscategorychangedate"] = now
        issue.fields["status"] = target.id
        self.record(issue, author, now, items)


def _same(a: Any, b: Any) -> bool:
    return a == b or (a in (None, []) and b in (None, []))
