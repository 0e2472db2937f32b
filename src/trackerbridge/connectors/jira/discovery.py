"""What a Jira site is and holds: serverInfo and the signed-in user, the field catalog (kept between
runs as discovery), the live values of statuses and priorities, and creating a field (`admin`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from trackerbridge.connectors.base import Catalog, ConnectorError, FieldInfo, ServerInfo
from trackerbridge.connectors.jira.admin import create_field
from trackerbridge.connectors.jira.client import JiraClient
from trackerbridge.connectors.jira.links import ISSUE_LINKS_NATIVE, link_type_names
from trackerbridge.connectors.jira.values import field_info


class JiraDiscovery(JiraClient):
    """The site's description (the attributes are set by `JiraConnector.__init__`)."""

    _fields: list[Any] | None
    _catalog: Catalog | None

    def server(self, *, identify: bool = True) -> ServerInfo:
        self._connect()
        info, me = self._server_info or {}, self._myself() if identify else {}
        return ServerInfo(
            system="jira",
            flavor=self.flavor,
            version=str(info.get("version") or ""),
            url=self.site,
            user=str(me.get("displayName") or me.get("name") or me.get("accountId") or ""),
            user_email=me.get("emailAddress") or None,
            time_zone=str(me.get("timeZone") or "UTC"),
        )

    def catalog(self) -> Catalog:
        """GET field, once (or none, when `reuse` gave it): every field with its normalised type."""
        if self._catalog is None:
            client = self._connect()
            raw = self._fields
            if raw is None:
                raw = self._call("reading the field catalog", client.fields)
                if not isinstance(raw, list):
                    raise ConnectorError(f"jira {self.name!r}: the field catalog (GET field) was not a list of fields")
                self._fields = raw
            self._catalog = Catalog([field_info(f) for f in raw if isinstance(f, dict) and f.get("id")])
            self._seed_client_field_cache(raw)
        return self._catalog

    def discovery(self) -> dict[str, Any]:
        """serverInfo and the field list, as Jira sent them (no user, no credentials)."""
        if self._server_info is None or self._fields is None:
            return {}
        return {"serverInfo": self._server_info, "fields": self._fields}

    def reuse(self, discovery: Mapping[str, Any]) -> bool:
        info, fields = discovery.get("serverInfo"), discovery.get("fields")
        if self._client is not None or not isinstance(info, dict) or not isinstance(fields, list):
            return False
        if "versionNumbers" not in info or self._flavor_conflict(info):
            return False
        self._server_info, self._fields = info, fields
        return True

    def create_field(self, name: str, kind: str, options: Sequence[str] = (), description: str = "") -> FieldInfo:
        """Admin only: a new custom field (see `admin`); the cached catalog is dropped so it shows."""
        try:
            return create_field(self, name, kind, options, description)
        finally:
            self._catalog = self._fields = None

    def live_values(self, field: FieldInfo, seen: Sequence[str] = ()) -> tuple[str, ...] | None:
        """Statuses of the workflows of the projects the scope's records are in (GET project/{key}/statuses;
        the whole site's GET status when none was seen), priorities (GET priority); an option field's allowed
        values when the catalog gave them. https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-projects/"""
        if field.native_type == ISSUE_LINKS_NATIVE:  # the link types a mapping's issue_links may name
            return link_type_names(self._call("reading the issue link types", self._connect().issue_link_types))
        if field.id not in ("status", "priority"):
            return super().live_values(field, seen)
        projects = sorted({k.rsplit("-", 1)[0] for k in seen if "-" in k})
        if field.id == "status" and projects:
            names: list[str] = []
            for project in projects:
                what = f"reading the statuses of project {project}"
                types = self._json(what, self._request(what, "GET", f"project/{quote(project, safe='')}/statuses"))
                for kind in types if isinstance(types, list) else []:
                    for status in kind.get("statuses") or [] if isinstance(kind, dict) else []:
                        if isinstance(status, dict) and status.get("name"):
                            names.append(str(status["name"]))
            return tuple(dict.fromkeys(names)) or None
        client = self._connect()
        call = client.statuses if field.id == "status" else client.priorities
        found = self._call(f"reading the {field.id} list", call)
        names = [str(getattr(v, "name", "")) for v in found or []]
        return tuple(dict.fromkeys(n for n in names if n)) or None
