"""Jira administration through REST: creating the custom fields trackerbridge writes.

Kept apart from the reading and writing connector because it needs the Administer Jira global
permission, which a sync account normally lacks; it goes through the connector's own request path
(retry layer, call counter, scrubbed errors). Per Atlassian's REST references:

- both flavours: `POST field` with name, description, type and searcherKey creates the field;
- Cloud: options live in a field context (`GET/POST field/{id}/context`, then
  `POST field/{id}/context/{contextId}/option`);
- Data Center has no REST resource that adds options (`customFields/{id}/options` and
  `customFieldOption/{id}` are read-only), so the caller is told which options are still to add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from trackerbridge.connectors.base import ConnectorError, FieldInfo
from trackerbridge.connectors.jira.values import field_info

if TYPE_CHECKING:
    from trackerbridge.connectors.jira.client import JiraClient

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"
FIELD_TYPES: dict[str, tuple[str, str]] = {
    "select": ("select", "multiselectsearcher"),
    "textarea": ("textarea", "textsearcher"),
    "user": ("userpicker", "userpickergroupsearcher"),
    "text": ("textfield", "textsearcher"),
    "datetime": ("datetime", "datetimerange"),
}
"""setup's field kind -> (Jira custom field type, its searcher), as Atlassian's field API lists them."""


def field_body(name: str, kind: str, description: str = "") -> dict[str, Any]:
    """The body of `POST field` for one kind."""
    if kind not in FIELD_TYPES:
        raise ValueError(f"unknown field kind {kind!r}; expected one of {', '.join(FIELD_TYPES)}")
    type_, searcher = FIELD_TYPES[kind]
    body: dict[str, Any] = {"name": name, "type": CF + type_, "searcherKey": CF + searcher}
    if description:
        body["description"] = description
    return body


def create_field(
    connector: JiraClient, name: str, kind: str, options: Sequence[str] = (), description: str = ""
) -> FieldInfo:
    """Create the field; on Cloud also its options. The FieldInfo's `options` are those that exist now."""
    body = field_body(name, kind, description)
    what = f"creating the custom field {name!r} (needs the Administer Jira permission)"
    created = connector._json(what, connector._request(what, "POST", "field", body=body))
    if not isinstance(created, dict) or not created.get("id"):
        raise ConnectorError(f"jira {connector.name!r}: Jira answered without the new field's id while {what}")
    info = field_info(created)
    if not options or connector.flavor != "cloud":
        return info
    fid = str(created["id"])
    context = _context(connector, fid, name)
    return replace(info, options=_add_options(connector, fid, context, options))


def _context(connector: JiraClient, fid: str, name: str) -> str:
    """The field's global context (Cloud may create one with the field), else a new global one."""
    path = f"field/{quote(fid, safe='')}/context"
    what = f"reading the contexts of {name!r}"
    listed = connector._json(what, connector._request(what, "GET", path))
    values = listed.get("values") if isinstance(listed, dict) else None
    for ctx in values or []:
        if isinstance(ctx, dict) and ctx.get("id") and ctx.get("isGlobalContext", True):
            return str(ctx["id"])
    what = f"creating a context for {name!r}"
    body = {"name": f"Default context for {name}", "projectIds": [], "issueTypeIds": []}
    made = connector._json(what, connector._request(what, "POST", path, body=body))
    if not isinstance(made, dict) or not made.get("id"):
        raise ConnectorError(f"jira {connector.name!r}: Jira answered without the context's id while {what}")
    return str(made["id"])


def _add_options(connector: JiraClient, fid: str, context: str, options: Sequence[str]) -> tuple[str, ...]:
    path = f"field/{quote(fid, safe='')}/context/{quote(context, safe='')}/option"
    what = f"adding options to {fid}"
    body = {"options": [{"value": v} for v in options]}
    answer = connector._json(what, connector._request(what, "POST", path, body=body))
    made = answer.get("options") if isinstance(answer, dict) else None
    return tuple(str(o["value"]) for o in made or [] if isinstance(o, dict) and o.get("value"))
