"""In-memory data of the emulated Jira: users, the field catalog, statuses and issues.

Issues keep their field values in one dict keyed by field id, in a compact stored form
(user fields hold the user's account id, dates are "YYYY-MM-DD" strings, datetimes are aware
`datetime`s, options hold their value), so the JQL evaluator, the PUT handler and the JSON
renderer all treat fields alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"

# Field kinds: how a value is stored, compared in JQL and rendered in JSON.
STRING, TEXT, USER, DATE, DATETIME, OPTION, NUMBER, LABELS = (
    "string",
    "text",
    "user",
    "date",
    "datetime",
    "option",
    "number",
    "labels",
)
# Multi-valued kinds (stored as lists): a multi-user picker (account ids), a multi-select (option values)
# and the system Components field (component names). The demo leaves them out; tests add them.
USERS, MULTI_OPTION, COMPONENTS = "users", "multioption", "components"
MULTI_ITEMS = {USERS: "user", MULTI_OPTION: "option", COMPONENTS: "component"}
STATUS, ISSUETYPE, PROJECT, PRIORITY, RESOLUTION, LINKS, COMMENTS = (
    "status",
    "issuetype",
    "project",
    "priority",
    "resolution",
    "issuelinks",
    "comments",
)


@dataclass(frozen=True)
class JiraUser:
    account_id: str  # Cloud identity; also the stored value of user fields
    name: str  # Data Center username
    key: str  # Data Center user key
    display_name: str
    email: str
    active: bool = True
    time_zone: str = "UTC"

    def matches(self, literal: str) -> bool:
        """How JQL resolves a user literal: account id, username, key, e-mail or display name."""
        low = literal.casefold()
        return literal in (self.account_id, self.name, self.key) or low in (
            self.email.casefold(),
            self.display_name.casefold(),
        )


@dataclass(frozen=True)
class FieldDef:
    id: str  # "summary", "customfield_10100"
    name: str  # "Summary", "Integrator"
    kind: str  # one of the kinds above
    custom: bool = False
    allowed_values: tuple[str, ...] = ()  # for option fields
    orderable: bool = True  # can be set through PUT fields
    searchable: bool = True
    navigable: bool = True

    @property
    def custom_id(self) -> int | None:
        return int(self.id.removeprefix("customfield_")) if self.custom else None

    def option_id(self, value: str) -> str:
        """Stable option ids: one block of 100 per custom field."""
        return str(10000 + (self.custom_id or 0) % 1000 * 100 + self.allowed_values.index(value))

    @property
    def clause_names(self) -> list[str]:
        if self.custom:
            return [f"cf[{self.custom_id}]", self.name]
        return [SYSTEM_CLAUSE_NAMES.get(self.id, self.id)]

    def schema(self) -> dict[str, Any]:
        if self.custom:
            type_, custom = CUSTOM_SCHEMAS[self.kind]
            schema: dict[str, Any] = {"type": type_, "custom": CF + custom, "customId": self.custom_id}
            if self.kind == LABELS:
                schema["items"] = "string"
            elif self.kind in MULTI_ITEMS:
                schema["items"] = MULTI_ITEMS[self.kind]
            return schema
        type_ = SYSTEM_SCHEMA_TYPES.get(self.kind, self.kind)
        schema = {"type": type_, "system": self.id}
        if self.kind == LABELS:
            schema["items"] = "string"
        elif self.kind == LINKS:
            schema["items"] = "issuelinks"
        elif self.kind in MULTI_ITEMS:
            schema["items"] = MULTI_ITEMS[self.kind]
        return schema


SYSTEM_CLAUSE_NAMES = {"issuetype": "issuetype", "duedate": "due", "resolutiondate": "resolved"}
SYSTEM_SCHEMA_TYPES = {TEXT: "string", LABELS: "array", LINKS: "array", COMMENTS: "comments-page", COMPONENTS: "array"}
CUSTOM_SCHEMAS = {
    STRING: ("string", "textfield"),
    TEXT: ("string", "textarea"),
    USER: ("user", "userpicker"),
    DATE: ("date", "datepicker"),
    DATETIME: ("datetime", "datetime"),
    OPTION: ("option", "select"),
    NUMBER: ("number", "float"),
    LABELS: ("array", "labels"),
    USERS: ("array", "multiuserpicker"),
    MULTI_OPTION: ("array", "multiselect"),
}

SYSTEM_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("summary", "Summary", STRING),
    FieldDef("description", "Description", TEXT),
    FieldDef("project", "Project", PROJECT, orderable=False),
    FieldDef("issuetype", "Issue Type", ISSUETYPE, orderable=False),
    FieldDef("status", "Status", STATUS, orderable=False),
    FieldDef("priority", "Priority", PRIORITY),
    FieldDef("resolution", "Resolution", RESOLUTION, orderable=False),
    FieldDef("assignee", "Assignee", USER),
    FieldDef("reporter", "Reporter", USER),
    FieldDef("labels", "Labels", LABELS),
    FieldDef("duedate", "Due date", DATE),
    FieldDef("created", "Created", DATETIME, orderable=False),
    FieldDef("updated", "Updated", DATETIME, orderable=False),
    FieldDef("resolutiondate", "Resolved", DATETIME, orderable=False),
    FieldDef("statuscategorychangedate", "Status Category Changed", DATETIME, orderable=False),
    FieldDef("issuelinks", "Linked Issues", LINKS, orderable=False, searchable=False),
    # As GET /rest/api/2/field answers on a real site: orderable and searchable (comment ~ "text"), not navigable,
    # so a search returns comments only when `fields` names them.
    FieldDef("comment", "Comment", COMMENTS, orderable=True, searchable=True, navigable=False),
)


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str  # "new" | "indeterminate" | "done"


STATUS_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}

ISSUE_TYPES = {"Initiative": "10100", "Epic": "10000", "Task": "10002"}
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
RESOLUTIONS = {"Done": "10000", "Won't Do": "10001"}


@dataclass
class History:
    """One changelog entry: who changed what, when."""

    id: int
    author: str  # account id
    created: datetime
    items: list[dict[str, Any]]  # field, fieldtype, from, fromString, to, toString


@dataclass
class Comment:
    id: int
    author: str
    body: str
    created: datetime
    updated: datetime


@dataclass
class Issue:
    id: int
    key: str
    fields: dict[str, Any]  # field id -> stored value (see module docstring)
    changelog: list[History] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)  # entity properties: key -> JSON value

    @property
    def project(self) -> str:
        return self.key.split("-", 1)[0]


@dataclass(frozen=True)
class Link:
    id: int
    type: str  # link type name, e.g. "Relates"
    inward: str  # issue key
    outward: str


LINK_TYPES = {
    "Blocks": ("10000", "is blocked by", "blocks"),
    "Relates": ("10003", "relates to", "relates to"),
    "Delivers": ("10100", "is delivered by", "delivers"),
}


@dataclass
class JiraData:
    """Everything the emulated Jira holds. The HTTP layer serialises access with one lock."""

    users: dict[str, JiraUser] = field(default_factory=dict)  # by account id
    fields: dict[str, FieldDef] = field(default_factory=dict)  # by field id
    statuses: dict[str, Status] = field(default_factory=dict)  # by id
    projects: dict[str, str] = field(default_factory=dict)  # key -> name
    issues: dict[str, Issue] = field(default_factory=dict)  # by key
    links: list[Link] = field(default_factory=list)
    # Shapes real instances produce (off in the demo): fields a project's field configuration hides from
    # every answer (project key -> field ids), and issues a search returns with `"fields": null`.
    hidden_fields: dict[str, set[str]] = field(default_factory=dict)
    null_fields: set[str] = field(default_factory=set)
    # Cloud users whose profile hides their e-mail: no emailAddress in any answer, though user/search's
    # `query` still matches it (https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-user-search/).
    hidden_emails: set[str] = field(default_factory=set)  # account ids
    # Statuses a project's workflows use (project key -> status ids); a project not listed uses them all.
    project_statuses: dict[str, list[str]] = field(default_factory=dict)
    next_issue_id: int = 10000
    next_history_id: int = 1
    next_comment_id: int = 1
    next_link_id: int = 1

    def __post_init__(self) -> None:
        self._by_id: dict[str, Issue] = {str(i.id): i for i in self.issues.values()}
        self._links_by_key: dict[str, list[Link]] = {}
        for link in self.links:
            self._index_link(link)

    def _index_link(self, link: Link) -> None:
        self._links_by_key.setdefault(link.inward, []).append(link)
        if link.outward != link.inward:
            self._links_by_key.setdefault(link.outward, []).append(link)

    def add_link(self, type_name: str, inward: str, outward: str) -> Link:
        link = Link(self.next_link_id, type_name, inward, outward)
        self.next_link_id += 1
        self.links.append(link)
        self._index_link(link)
        return link

    def add_issue(self, issue: Issue) -> Issue:
        self.issues[issue.key] = issue
        self._by_id[str(issue.id)] = issue
        self.next_issue_id = max(self.next_issue_id, issue.id + 1)
        return issue

    def issue(self, id_or_key: str) -> Issue | None:
        """Look up by key (case-insensitive, as Jira does) or numeric id."""
        return self.issues.get(id_or_key.upper()) or self._by_id.get(id_or_key)

    def status_by_name(self, name: str) -> Status | None:
        low = name.casefold()
        return next((s for s in self.statuses.values() if s.name.casefold() == low), None)

    def field_by_clause(self, clause: str) -> FieldDef | None:
        """Resolve a JQL clause name: system clause names, `cf[N]`, or a custom field's name."""
        low = clause.casefold()
        for f in self.fields.values():
            if any(c.casefold() == low for c in f.clause_names) or f.id.casefold() == low:
                return f
        return None

    def user_for(self, literal: str) -> JiraUser | None:
        return next((u for u in self.users.values() if u.matches(literal)), None)

    def links_of(self, key: str) -> list[Link]:
        return self._links_by_key.get(key, [])

    def status_category_changed(self, issue: Issue) -> datetime:
        """When the issue last changed status category (Jira's statuscategorychangedate)."""
        changed = issue.fields["created"]
        for history in issue.changelog:
            for item in history.items:
                if item.get("field") != "status" or item.get("from") not in self.statuses:
                    continue
                if self.statuses[item["from"]].category != self.statuses[item["to"]].category:
                    changed = history.created
        return changed


def default_statuses() -> dict[str, Status]:
    """The demo workflow: status names differ from stages on purpose, so mappings must map them."""
    statuses = [
        Status("10000", "Backlog", "new"),
        Status("10001", "Under Review", "new"),
        Status("3", "In Progress", "indeterminate"),
        Status("10002", "Rolling Out", "indeterminate"),
        Status("10003", "Done", "done"),
        Status("10004", "Won't Do", "done"),
    ]
    return {s.id: s for s in statuses}


DEMO_CUSTOM_FIELDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Integrator", USER, ()),
    ("Decision owner", USER, ()),
    ("Team", OPTION, ("Payments", "Platform", "Growth", "Data", "Mobile", "Partnerships")),
    ("Lane", OPTION, ("Decide", "Build", "Launch")),
    ("Learning note", TEXT, ()),
    ("Execution health", OPTION, ("Green", "Amber", "Red")),
    ("Health reasons", TEXT, ()),
    ("Salesforce opportunity id", STRING, ()),
    ("Start date", DATE, ()),
    ("Account owner", USER, ()),
    ("Commitment", OPTION, ("Yes", "No")),
    ("Scorecard measures", NUMBER, ()),
    ("Slip reason", TEXT, ()),  # why the due date moved (TB117)
)


def default_fields() -> dict[str, FieldDef]:
    fields = {f.id: f for f in SYSTEM_FIELDS}
    for n, (name, kind, allowed) in enumerate(DEMO_CUSTOM_FIELDS):
        fid = f"customfield_{10100 + n}"
        fields[fid] = FieldDef(fid, name, kind, custom=True, allowed_values=allowed)
    return fields


def new_jira_data() -> JiraData:
    return JiraData(fields=default_fields(), statuses=default_statuses())
