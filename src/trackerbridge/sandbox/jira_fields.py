"""The emulated Jira's field administration: creating custom fields, their contexts and options."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import trackerbridge.sandbox.jira_model as m
from trackerbridge.sandbox.jira_plumbing import JiraPlumbing, error
from trackerbridge.sandbox.web import Request, Response

CREATABLE_TYPES = {
    "select": m.OPTION,
    "textarea": m.TEXT,
    "textfield": m.STRING,
    "userpicker": m.USER,
    "datepicker": m.DATE,
    "datetime": m.DATETIME,
    "float": m.NUMBER,
    "labels": m.LABELS,
}
"""Custom field types `POST field` accepts (the types the emulator can store) -> their kind."""
SEARCHERS = {
    m.OPTION: "multiselectsearcher",
    m.TEXT: "textsearcher",
    m.STRING: "textsearcher",
    m.USER: "userpickergroupsearcher",
    m.DATE: "daterange",
    m.DATETIME: "datetimerange",
    m.NUMBER: "exactnumber",
    m.LABELS: "labelsearcher",
}


class JiraFields(JiraPlumbing):
    # --- administration: custom fields ------------------------------------------------------------

    def _admin(self, request: Request) -> Response | None:
        """Only the bot administers the sandbox; anyone else gets Jira's 403."""
        if self._caller(request).email.casefold() == self.auth.bot_email.casefold():
            return None
        return error(403, "You are not authorized to perform this action. Administrator privileges are required.")

    def create_field(self, request: Request) -> Response:
        """POST field: a new custom field with the next id. Jira allows duplicate names, so does this."""
        denied = self._admin(request)
        if denied is not None:
            return denied
        body = request.json()
        body = body if isinstance(body, dict) else {}
        name, type_, searcher = body.get("name"), body.get("type"), body.get("searcherKey")
        if not isinstance(name, str) or not name.strip():
            return error(400, errors={"name": "The custom field name must not be empty."})
        if len(name) > 255:
            return error(400, errors={"name": "The custom field name must be at most 255 characters long."})
        kind = CREATABLE_TYPES.get(type_.removeprefix(m.CF)) if isinstance(type_, str) else None
        if kind is None or not str(type_).startswith(m.CF):
            return error(400, errors={"customFieldType": f"Custom field type '{type_}' does not exist."})
        expected = m.CF + SEARCHERS[kind]
        if searcher is not None and searcher != expected:
            return error(
                400, errors={"searcherKey": f"Searcher '{searcher}' is not valid for custom field type '{type_}'."}
            )
        numbers = [f.custom_id for f in self.data.fields.values() if f.custom and f.custom_id is not None]
        fid = f"customfield_{max([10099, *numbers]) + 1}"
        fd = m.FieldDef(fid, name, kind, custom=True)
        self.data.fields[fid] = fd
        self._wrote()
        return Response(201, self.render.field(fd))

    def _custom_field(self, request: Request) -> m.FieldDef | Response:
        fd = self.data.fields.get(request.path_params["field"])
        if fd is None or not fd.custom:
            return error(404, "The custom field was not found.")
        return fd

    def field_contexts(self, request: Request) -> Response:
        fd = self._custom_field(request)
        if isinstance(fd, Response):
            return fd
        values = self._contexts(fd)
        return Response(200, {"maxResults": 50, "startAt": 0, "total": len(values), "isLast": True, "values": values})

    def _contexts(self, fd: m.FieldDef) -> list[dict[str, Any]]:
        """The contexts made through the API; a select field that has options and none made has Jira's
        default global context (the one the field's options were made in)."""
        made = self.contexts.get(fd.id)
        if made or fd.kind != m.OPTION or not fd.allowed_values:
            return made or []
        name = f"Default Configuration Scheme for {fd.name}"
        return [
            {"id": str(fd.custom_id), "name": name, "description": "", "isGlobalContext": True, "isAnyIssueType": True}
        ]

    def context_options(self, request: Request) -> Response:
        """Get custom field options (context), as https://developer.atlassian.com/cloud/jira/platform/rest/v3/
        api-group-issue-custom-field-options/#api-rest-api-3-field-fieldid-context-contextid-option-get shows it."""
        fd = self._custom_field(request)
        if isinstance(fd, Response):
            return fd
        if not any(c["id"] == request.path_params["context"] for c in self._contexts(fd)):
            return error(404, "The context was not found.")
        values = [{"id": fd.option_id(v), "value": v, "disabled": False} for v in fd.allowed_values]
        return Response(200, {"maxResults": 100, "startAt": 0, "total": len(values), "isLast": True, "values": values})

    def create_context(self, request: Request) -> Response:
        denied = self._admin(request)
        if denied is not None:
            return denied
        fd = self._custom_field(request)
        if isinstance(fd, Response):
            return fd
        body = request.json()
        body = body if isinstance(body, dict) else {}
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return error(400, errors={"name": "The context name must not be empty."})
        projects, types = body.get("projectIds") or [], body.get("issueTypeIds") or []
        number = 10000 + sum(len(c) for c in self.contexts.values())
        ctx = {
            "id": str(number),
            "name": name,
            "description": str(body.get("description") or ""),
            "isGlobalContext": not projects,
            "isAnyIssueType": not types,
        }
        self.contexts.setdefault(fd.id, []).append(ctx)
        return Response(
            201, {**{k: ctx[k] for k in ("id", "name", "description")}, "projectIds": projects, "issueTypeIds": types}
        )

    def create_options(self, request: Request) -> Response:
        """Options go to a context; the emulator keeps one option list per field (its allowed values)."""
        denied = self._admin(request)
        if denied is not None:
            return denied
        fd = self._custom_field(request)
        if isinstance(fd, Response):
            return fd
        if not any(c["id"] == request.path_params["context"] for c in self._contexts(fd)):
            return error(404, "The context was not found.")
        if fd.kind != m.OPTION:
            return error(400, "The custom field doesn't support options.")
        body = request.json()
        raw = body.get("options") if isinstance(body, dict) else None
        if not isinstance(raw, list) or not raw:
            return error(400, errors={"options": "At least one option must be provided."})
        values = [o.get("value") if isinstance(o, dict) else None for o in raw]
        if any(not isinstance(v, str) or not v.strip() for v in values):
            return error(400, errors={"value": "The option value must not be empty."})
        taken = {v.casefold() for v in fd.allowed_values}
        for v in values:
            if str(v).casefold() in taken:
                return error(400, f"The option '{v}' already exists.")
            taken.add(str(v).casefold())
        updated = replace(fd, allowed_values=(*fd.allowed_values, *(str(v) for v in values)))
        self.data.fields[fd.id] = updated
        self._wrote()
        made = [{"id": updated.option_id(str(v)), "value": v, "disabled": False} for v in values]
        return Response(200, {"options": made})
