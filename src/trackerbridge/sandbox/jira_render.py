"""JSON shapes of the emulated Jira, as Atlassian's REST v2 reference gives them.

Cloud and Data Center differ in how users are identified (accountId vs name/key); everything
else rendered here is shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import trackerbridge.sandbox.jira_model as m


def jira_datetime(value: datetime) -> str:
    """Jira's wire format: 2026-11-25T08:25:46.000+0000."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


class JiraRenderer:
    def __init__(self, data: m.JiraData, base_url: str, flavor: str) -> None:
        self.data = data
        self.base_url = base_url
        self.cloud = flavor == "cloud"
        self.api = f"{base_url}/rest/api/2"

    # --- small shapes -------------------------------------------------------------------------

    def user(self, account_id: str | None) -> dict[str, Any] | None:
        if account_id is None:
            return None
        u = self.data.users.get(account_id)
        if u is None:
            return None
        if self.cloud:
            out: dict[str, Any] = {
                "self": f"{self.api}/user?accountId={u.account_id}",
                "accountId": u.account_id,
                "accountType": "atlassian",
            }
        else:
            out = {"self": f"{self.api}/user?username={u.name}", "name": u.name, "key": u.key}
        hidden = self.cloud and u.account_id in self.data.hidden_emails
        out.update(
            {
                "emailAddress": "" if hidden else u.email,
                "avatarUrls": {"48x48": f"{self.base_url}/secure/useravatar?size=large&ownerId={u.key}"},
                "displayName": u.display_name,
                "active": u.active,
                "timeZone": u.time_zone,
            }
        )
        if hidden:
            del out["emailAddress"]
        return out

    def status(self, status_id: str) -> dict[str, Any]:
        s = self.data.statuses[status_id]
        cat = m.STATUS_CATEGORIES[s.category]
        return {
            "self": f"{self.api}/status/{s.id}",
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "name": s.name,
            "id": s.id,
            "statusCategory": {"self": f"{self.api}/statuscategory/{cat['id']}", **cat},
        }

    def issuetype(self, name: str) -> dict[str, Any]:
        type_id = m.ISSUE_TYPES[name]
        return {
            "self": f"{self.api}/issuetype/{type_id}",
            "id": type_id,
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/issuetypes/{name.lower()}.svg",
            "name": name,
            "subtask": False,
            "hierarchyLevel": 2 if name == "Initiative" else 1 if name == "Epic" else 0,
        }

    def project(self, key: str) -> dict[str, Any]:
        pid = str(10000 + sorted(self.data.projects).index(key))
        return {
            "self": f"{self.api}/project/{pid}",
            "id": pid,
            "key": key,
            "name": self.data.projects[key],
            "projectTypeKey": "software",
        }

    def priority(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        pid = m.PRIORITIES[name]
        return {
            "self": f"{self.api}/priority/{pid}",
            "iconUrl": f"{self.base_url}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": pid,
        }

    def resolution(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        rid = m.RESOLUTIONS[name]
        return {"self": f"{self.api}/resolution/{rid}", "id": rid, "description": "", "name": name}

    def option(self, f: m.FieldDef, value: str | None) -> dict[str, Any] | None:
        if value is None:
            return None
        oid = f.option_id(value)
        return {"self": f"{self.api}/customFieldOption/{oid}", "value": value, "id": oid}

    def comment(self, issue: m.Issue, c: m.Comment) -> dict[str, Any]:
        return {
            "self": f"{self.api}/issue/{issue.id}/comment/{c.id}",
            "id": str(c.id),
            "author": self.user(c.author),
            "body": c.body,
            "updateAuthor": self.user(c.author),
            "created": jira_datetime(c.created),
            "updated": jira_datetime(c.updated),
            "jsdPublic": True,
        }

    def comments_page(self, issue: m.Issue) -> dict[str, Any]:
        comments = [self.comment(issue, c) for c in issue.comments]
        return {"comments": comments, "maxResults": len(comments), "total": len(comments), "startAt": 0}

    def history(self, h: m.History) -> dict[str, Any]:
        return {"id": str(h.id), "author": self.user(h.author), "created": jira_datetime(h.created), "items": h.items}

    def changelog(self, issue: m.Issue) -> dict[str, Any]:
        histories = [self.history(h) for h in issue.changelog]
        return {"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories}

    def linked_issue(self, key: str) -> dict[str, Any]:
        other = self.data.issues[key]
        return {
            "id": str(other.id),
            "key": other.key,
            "self": f"{self.api}/issue/{other.id}",
            "fields": {
                "summary": other.fields.get("summary"),
                "status": self.status(other.fields["status"]),
                "priority": self.priority(other.fields.get("priority")),
                "issuetype": self.issuetype(other.fields["issuetype"]),
            },
        }

    def link_type(self, name: str) -> dict[str, Any]:
        tid, inward, outward = m.LINK_TYPES[name]
        return {
            "id": tid,
            "name": name,
            "inward": inward,
            "outward": outward,
            "self": f"{self.api}/issueLinkType/{tid}",
        }

    def links(self, issue: m.Issue) -> list[dict[str, Any]]:
        """`fields.issuelinks` as Atlassian documents it ("Jira issue linking model",
        https://developer.atlassian.com/cloud/jira/platform/issue-linking-model/, and Get issue in the REST v2
        reference, https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issues/): each link once per
        issue it joins, with `id`, `self`, `type` {id, name, inward, outward, self} and the *other* issue as
        `outwardIssue` (this issue <outward> it: "DEL-1 delivers OPS-1") or `inwardIssue` (this issue <inward> it:
        "OPS-1 is delivered by DEL-1"), carrying id, key, self and fields {summary, status, priority, issuetype}.
        The search returns it when `fields` names `issuelinks` (or *all / *navigable)."""
        out = []
        for lk in self.data.links_of(issue.key):
            entry: dict[str, Any] = {
                "id": str(lk.id),
                "self": f"{self.api}/issueLink/{lk.id}",
                "type": self.link_type(lk.type),
            }
            if lk.inward == issue.key:
                entry["outwardIssue"] = self.linked_issue(lk.outward)
            else:
                entry["inwardIssue"] = self.linked_issue(lk.inward)
            out.append(entry)
        return out

    # --- fields and issues --------------------------------------------------------------------

    def value(self, issue: m.Issue, f: m.FieldDef) -> Any:
        raw = issue.fields.get(f.id)
        kind = f.kind
        if kind == m.USER:
            return self.user(raw)
        if kind == m.DATETIME:
            return jira_datetime(raw) if raw is not None else None
        if kind == m.OPTION:
            return self.option(f, raw)
        if kind == m.LABELS:
            return list(raw or [])
        if kind == m.USERS:
            return [u for u in map(self.user, raw or []) if u is not None]
        if kind == m.MULTI_OPTION:
            return [self.option(f, v) for v in raw or []]
        if kind == m.COMPONENTS:
            return [
                {"self": f"{self.api}/component/{10000 + i}", "id": str(10000 + i), "name": v}
                for i, v in enumerate(raw or [])
            ]
        if kind == m.STATUS:
            return self.status(str(raw))
        if kind == m.ISSUETYPE:
            return self.issuetype(str(raw))
        if kind == m.PROJECT:
            return self.project(issue.project)
        if kind == m.PRIORITY:
            return self.priority(raw)
        if kind == m.RESOLUTION:
            return self.resolution(raw)
        if kind == m.LINKS:
            return self.links(issue)
        if kind == m.COMMENTS:
            return self.comments_page(issue)
        return raw

    def issue(
        self, issue: m.Issue, field_ids: list[str], expand: set[str], properties: Sequence[str] = ()
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": f"{self.api}/issue/{issue.id}",
            "key": issue.key,
        }
        if field_ids:
            fields = self.data.fields
            hidden = self.data.hidden_fields.get(issue.project) or ()
            out["fields"] = {fid: self.value(issue, fields[fid]) for fid in field_ids if fid not in hidden}
            if issue.key in self.data.null_fields:
                out["fields"] = None
        if properties:  # asked-for entity properties the issue has; an empty object when it has none
            held = getattr(issue, "properties", {})
            out["properties"] = {k: held[k] for k in properties if k in held}
        if "changelog" in expand:
            out["changelog"] = self.changelog(issue)
        if "names" in expand:
            out["names"] = {fid: self.data.fields[fid].name for fid in field_ids}
        if "schema" in expand:
            out["schema"] = {fid: self.data.fields[fid].schema() for fid in field_ids}
        return out

    def field(self, f: m.FieldDef) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": f.id,
            "name": f.name,
            "custom": f.custom,
            "orderable": f.orderable,
            "navigable": f.navigable,
            "searchable": f.searchable,
            "clauseNames": f.clause_names,
            "schema": f.schema(),
        }
        if self.cloud:
            out = {"id": f.id, "key": f.id, **{k: v for k, v in out.items() if k != "id"}}
            out["untranslatedName"] = f.name
        return out


def select_fields(data: m.JiraData, spec: list[str], default: str) -> list[str]:
    """Resolve Jira's `fields` parameter: *all, *navigable, ids, names, and -exclusions.

    Unknown names are ignored, as Jira does."""
    items = [s.strip() for part in (spec or [default]) for s in part.split(",") if s.strip()]
    chosen: list[str] = []
    excluded: set[str] = set()
    for item in items:
        if item.startswith("-"):
            excluded.add(item[1:])
        elif item == "*all":
            chosen.extend(data.fields)
        elif item == "*navigable":
            chosen.extend(fid for fid, f in data.fields.items() if f.navigable)
        elif item in data.fields:
            chosen.append(item)
        else:
            f = data.field_by_clause(item)
            if f is not None:
                chosen.append(f.id)
    seen: set[str] = set()
    out = []
    for fid in chosen:
        if fid not in seen and fid not in excluded and fid not in ("id", "key"):
            seen.add(fid)
            out.append(fid)
    return out
