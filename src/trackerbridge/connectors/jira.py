"""Jira Cloud and Data Center, through the `jira` client library.

The client does the HTTP plumbing (auth, URLs, JSON); this module decides what to ask for and
turns the answers into plain trackerbridge data. Three things matter more than they look:

- One retry layer. The client's own retries are switched off (`max_retries=0`) and our policy
  (`trackerbridge.connectors.http.mount_retry`) is mounted on its session, so a 429 is not
  retried by two loops with two ideas of Retry-After. Every attempt is counted in `calls`; a
  Retry-After longer than `max_retry_after` is not waited for but reported as a spent quota.
- Watermarks that never skip. Searches are ordered `updated ASC, key ASC`; an incremental search
  starts `OVERLAP` before `since`: in whole minutes back from Jira's clock when the run knows the
  time (checked against the answer's `Date` header), else as a date in the signed-in user's time
  zone (JQL dates are read in it, to the minute). Data Center's offset paging re-reads one record per page to notice a
  list that moved under it (an edit moves an issue to the end) and steps back instead of
  skipping.
- Safe errors. `JIRAError.__str__` prints request headers (the Authorization header), so it is
  never shown or chained: every failure becomes a `ConnectorError` whose message names the
  connector and the credential's environment variable, never its value.
"""

from __future__ import annotations

import json
import math
import re
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache, partial
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from jira import JIRA, JIRAError
from urllib3.util.retry import Retry

from trackerbridge.activity import STAMP_KEY, read_stamp, stamp_value
from trackerbridge.changes import Note, Outcome, RecordChange
from trackerbridge.config.connection import CREDENTIAL_ROLES, Connection
from trackerbridge.config.models import JiraConnector as JiraConnectorFile
from trackerbridge.connectors.base import (
    DATE,
    DATETIME,
    LABELS,
    NUMBER,
    OPTION,
    TEXT,
    USER,
    AuthError,
    Catalog,
    Connector,
    ConnectorError,
    FieldInfo,
    QuotaExceeded,
    RawRecord,
    ScopeRejected,
    ServerInfo,
)
from trackerbridge.connectors.http import NO_RESEND, RETRY_STATUSES, mount_retry, retry_policy
from trackerbridge.connectors.jira_bulk import BulkWriter, _Stopped
from trackerbridge.connectors.jira_fetch import TwoPhaseRead
from trackerbridge.connectors.jira_write import comment_body, edit_body, has_marker
from trackerbridge.connectors.record_write import (
    NOTE_ATTEMPTS,
    STOPS,
    Unreachable,
    WriteError,
    causes,
    changed_since_read,
    maybe_sent,
    people_of,
    synced_fields,
    unique,
    unreachable,
)
from trackerbridge.model import Person
from trackerbridge.net import require_https

DEFAULT_WORKERS = 4  # issues written at once by `apply`
COMMENT_PAGE = 5000  # comments asked per page when looking for a note's marker (Jira's own default)
OVERLAP = timedelta(minutes=2)
SKEW_ALLOWED = timedelta(seconds=5)  # of OVERLAP a relative search may lose to clock skew before it asks by date
"""How far before `since` an incremental search starts: clock skew and minute-granular JQL."""

CLOUD_PAGE = 5000  # asked of the enhanced search; Cloud answers 100 when fields are asked, 5000 for ids only
DC_PAGE = 1000  # Data Center's default jira.search.views.default.max; the answer's maxResults wins
POST_ABOVE = 2000  # characters of URL-encoded JQL above which a search goes by POST
MAX_RETRY_AFTER = 120.0  # seconds; a longer Retry-After is a spent quota, not a hiccup
STALLS = 5  # pages in a row that bring nothing new before Data Center paging is declared broken
UNKNOWN_ZONE_SLACK = timedelta(hours=14)  # no usable time zone: the widest UTC offset, so nothing is missed
AUTH_METHODS = ("api_token", "pat", "basic")
PEOPLE_CACHE = 20_000  # distinct users whose Person objects records share (see `_shared_person`)

_OPTION_TYPES = frozenset(
    {"option", "option-with-child", "status", "priority", "issuetype", "resolution", "project", "securitylevel"}
)
_LIST_ITEMS = frozenset({"string", "option", "component", "version"})
READ_ONLY = frozenset(
    {
        "created",
        "updated",
        "status",
        "resolution",
        "resolutiondate",
        "statuscategorychangedate",
        "lastViewed",
        "creator",
        "project",
        "issuekey",
        "thumbnail",
        "subtasks",
        "votes",
        "watches",
        "worklog",
        "progress",
        "aggregateprogress",
        "timespent",
        "aggregatetimespent",
        "aggregatetimeestimate",
        "aggregatetimeoriginalestimate",
        "workratio",
    }
)
"""System fields a PUT cannot set (status and resolution move through transitions)."""

_RETRIED = frozenset(RETRY_STATUSES)  # a note-carrying request that got one of these is checked for, then resent
_API_PATH = re.compile(r"^/rest/api/(?:\d+|latest)/")
_ISSUE_PATH = re.compile(r"^issue/[^/]+")
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)  # where changelog entries without a readable date sort
_DATETIME = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,6})\d*)?)?\s*(Z|[+-]\d\d:?\d\d)?$"
)


class JiraConnector(Connector):
    """A Jira site (Cloud or Data Center), read through the `jira` client."""

    system = "jira"

    def __init__(
        self,
        connection: Connection,
        *,
        retry: Retry | None = None,
        page_size: int | None = None,
        max_retry_after: float = MAX_RETRY_AFTER,
        max_workers: int = DEFAULT_WORKERS,
    ) -> None:
        """`retry` replaces the default policy (tests use tiny backoffs); `page_size` asks for
        smaller pages than the largest the server allows (tests, or proxies with small limits);
        `max_workers` bounds the issues `apply` writes at once (429s back off in the retry layer)."""
        super().__init__(connection.name)
        self.connection = connection
        self.site = connection.url.rstrip("/")
        self.dropped: Counter[str] = Counter()  # attempts that got no answer (also counted in calls)
        if connection.type != "jira" or not isinstance(connection.file, JiraConnectorFile):
            raise ConnectorError(f"jira {self.name!r}: the connection is of type {connection.type!r}, not jira")
        if connection.auth_method not in AUTH_METHODS:
            raise ConnectorError(
                f"jira {self.name!r}: auth method {connection.auth_method!r} is not one Jira takes; "
                f"expected one of {', '.join(AUTH_METHODS)}"
            )
        missing = [r for r in CREDENTIAL_ROLES[connection.auth_method] if r not in connection.credentials]
        if missing:
            raise ConnectorError(f"jira {self.name!r}: auth method {connection.auth_method} needs {', '.join(missing)}")
        try:
            if not connection.insecure_http:
                require_https(self.site)
        except ValueError as exc:
            raise ConnectorError(f"jira {self.name!r}: {exc}") from None
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._retry = retry or retry_policy()
        self._page_size = page_size
        self._max_retry_after = max_retry_after
        self._client: JIRA | None = None
        self._server_info: dict[str, Any] | None = None
        self._fields: list[Any] | None = None  # GET field as sent (or as `reuse` gave it)
        self._server_date: datetime | None = None  # the last answer's `Date` header
        self._server_seen: tuple[datetime, float] | None = None  # a `Date` header and when it came
        self._me: dict[str, Any] | None = None
        self._catalog: Catalog | None = None
        self._flavor: str | None = None
        self._last_content_type = ""
        self._base_path = urlsplit(self.site).path.rstrip("/")
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.comment_page = COMMENT_PAGE
        self._count_lock = threading.Lock()  # apply's workers count their calls concurrently
        self._people_lock = threading.Lock()
        self._people: dict[str, str | None] = {}  # Person.identity -> accountId / username; None: no account
        self._people_why: dict[str, str] = {}  # identity -> why a lookup failed (not cached: it may pass next time)
        self._notify: bool | None = None  # may we send notifyUsers=false? None until Jira has said
        self._probe_lock = threading.Lock()  # held by the one worker asking
        self.bulk_edit = True  # Cloud writes shared payloads through bulk edit when Jira allows it (jira_bulk.py)
        self._bulk_allowed: bool | None = None  # the Bulk change global permission, once asked
        self._issue_ids: dict[str, int] = {}  # key -> numeric id, of the issues read (bulk edit answers in ids)
        self._option_ids: dict[str, dict[str, str]] = {}  # field id -> option value -> option id
        self.bulk = BulkWriter(self)
        self.fetch = TwoPhaseRead(self)  # Cloud: ids-only search + bulk fetch where it pays (jira_fetch.py)

    # --- public -------------------------------------------------------------------------------

    @property
    def flavor(self) -> str:
        """cloud or datacenter, as the server says (connects on first use)."""
        self._connect()
        assert self._flavor is not None
        return self._flavor

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
            self._catalog = Catalog([_field_info(f) for f in raw if isinstance(f, dict) and f.get("id")])
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
        """Admin only: a new custom field (see `jira_admin`); the cached catalog is dropped so it shows."""
        from trackerbridge.connectors.jira_admin import create_field

        try:
            return create_field(self, name, kind, options, description)
        finally:
            self._catalog = self._fields = None

    def pull(
        self,
        fields: Sequence[FieldInfo],
        *,
        since: datetime | None = None,
        history: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> Iterator[RawRecord]:
        """Issues in scope (changed at or after `since` minus `OVERLAP`), oldest change first.

        Records inside the overlap are returned again on purpose: re-reading is idempotent and
        the caller keeps the newest copy of each key. With a `clock`, the window is relative
        (`updated >= "-Nm"`), which needs no time zone; see `_relative_pages`."""
        self._connect()
        self.catalog()  # the client would fetch it on the first search anyway; ours seeds its cache
        ids = list(dict.fromkeys([*(f.id for f in fields), "updated", "created"]))
        expand = "changelog" if history else None
        if since is not None and clock is not None:
            pages = self._relative_pages(since, clock(), ids, expand)
        else:
            pages = self._search(self.jql(since), ids, expand)
        for raw in pages:
            yield self._record(raw, fields, history)

    def jql(self, since: datetime | None = None, *, now: datetime | None = None) -> str:
        """The search for the scope: `(<scope>) [AND updated >= <since - overlap>] ORDER BY ...`.

        The bound is a date in the signed-in user's time zone (JQL reads dates in it, to the
        minute), or, given the tracker's `now`, whole minutes back from the server's clock."""
        scope = self.connection.scope.jql.strip()  # type: ignore[union-attr]
        where = f"({scope})"
        if since is not None and now is not None:
            where += f' AND updated >= "-{_minutes_back(now, since)}m"'
        elif since is not None:
            where += f' AND updated >= "{self._jql_minute(since - OVERLAP)}"'
        return f"{where} ORDER BY updated ASC, key ASC"

    def record_url(self, key: str) -> str:
        return f"{self.site}/browse/{quote(key)}"

    def live_values(self, field: FieldInfo, seen: Sequence[str] = ()) -> tuple[str, ...] | None:
        """Statuses of the workflows of the projects the scope's records are in (GET project/{key}/statuses;
        the whole site's GET status when none was seen), priorities (GET priority); an option field's allowed
        values when the catalog gave them. https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-projects/"""
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

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- writing ------------------------------------------------------------------------------

    def resolve_people(self, people: Iterable[Person]) -> dict[str, str]:
        """Person.identity -> accountId (Cloud) or username (Data Center), looked up once per connector.

        By e-mail through user/search, matched exactly on emailAddress (Cloud hides addresses by
        privacy setting: then a Jira reference the person already carries is checked instead);
        on Data Center, a person without an e-mail is looked up by username or unique display name."""
        self._connect()
        wanted = unique(people)
        with self._people_lock:
            todo = [p for p in wanted if p.identity not in self._people]
        if len(todo) > 1 and self.max_workers > 1:
            with ThreadPoolExecutor(min(self.max_workers, len(todo)), thread_name_prefix="tb-jira-people") as pool:
                list(pool.map(self._lookup, todo))
        else:
            for p in todo:
                self._lookup(p)
        with self._people_lock:
            return {p.identity: ref for p in wanted if (ref := self._people.get(p.identity))}

    def apply(self, changes: Sequence[RecordChange], fields: Mapping[str, FieldInfo]) -> Iterator[Outcome]:
        """One call per changed issue: a PUT with its fields and label add/remove operations (with
        notifyUsers=false), carrying its note's comment as an `update.comment` add when it has one
        (then with Jira's usual notifications: the comment is meant to be seen); a note alone is a
        POST comment. At most one comment per marker: the comments are read first only for notes an
        earlier run may have posted (`Note.maybe_posted`), or after a failure that may have landed.
        `max_workers` issues at a time, outcomes in the order they complete. A spent quota, rejected
        credentials or an unreachable site stop the run: the outcomes already known are yielded,
        then the error is raised."""
        todo = list(changes)
        if not todo:
            return
        self._connect()
        cloud = self.flavor == "cloud"
        if cloud and self.bulk_edit and self.bulk.worth(todo) and self._may_bulk():
            groups, todo = self.bulk.split(todo, fields)
            if groups:
                stopping = threading.Event()
                try:
                    yield from self.bulk.write(groups, stopping)
                except _Stopped:
                    return
            if not todo:
                return
        refs = self.resolve_people(people_of(todo, mentions=False))  # mentions: only for comments still to post
        with self._people_lock:
            why = dict(self._people_why)
        stop = threading.Event()
        stopped: list[ConnectorError] = []
        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="tb-jira-apply")
        try:
            futures = [pool.submit(self._apply_one, c, fields, refs, why, cloud, stop) for c in todo]
            for future in as_completed(futures):
                outcome, error = future.result()
                if error is not None and not stopped:
                    stopped.append(error)
                    stop.set()  # issues not yet started come back at once, untouched
                if outcome is not None:
                    yield outcome
        finally:
            stop.set()  # also when the caller stops iterating: start nothing new
            pool.shutdown(wait=True, cancel_futures=True)
        if stopped:
            raise stopped[0]

    def _apply_one(
        self,
        change: RecordChange,
        fields: Mapping[str, FieldInfo],
        refs: Mapping[str, str],
        why: Mapping[str, str],
        cloud: bool,
        stop: threading.Event,
    ) -> tuple[Outcome | None, ConnectorError | None]:
        """The outcome of one issue, and the error that should stop the run (if one did).

        One call in the common case: the edit carries the first note's comment. The comments are
        read first only when a note may be there already; a note with no edit to ride in (or a
        second note) is a POST of its own."""
        if stop.is_set():
            return None, None
        key = change.key
        try:
            body = edit_body(change, fields, refs, cloud=cloud, why=why)
        except WriteError as exc:
            return Outcome(self.name, key, False, str(exc)), None
        if body and change.stamp:  # this write is trackerbridge's: say so, and what it judged on
            body["properties"] = [{"key": STAMP_KEY, "value": stamp_value(change.activity, self._server_now())}]
        posted: list[str] = []  # markers now on the issue
        own = change.connector == self.name  # its owner was read from this site
        try:
            if body:
                moved = self._changed_since_read(key, change, fields)
                if moved is not None:
                    return Outcome(self.name, key, False, moved), None
            notes = self._unposted(key, change.notes, posted)
            if body and notes:
                if self._edit_noting(key, body, self._note_text(notes[0], cloud, own), notes[0].marker):
                    posted.append(notes[0].marker)
                    notes = notes[1:]
            elif body:
                self._edit(key, body)
        except STOPS as exc:
            stop.set()  # now, not when the caller gets to this result: the next issue must not start
            return None, exc
        except (ConnectorError, WriteError) as exc:
            error = self._record_error(exc, change) if body else f"note not posted: {self._record_error(exc, change)}"
            return Outcome(self.name, key, False, error, tuple(posted)), None
        try:
            for note in notes:
                self._post_comment(key, self._note_text(note, cloud, own), note.marker)
                posted.append(note.marker)
        except (ConnectorError, WriteError) as exc:
            done = "fields written; " if body else ""
            error = f"{done}note not posted: {self._record_error(exc, change)}"
            outcome = Outcome(self.name, key, False, error, tuple(posted))
            if isinstance(exc, STOPS):
                stop.set()
                return (outcome if body or posted else None), exc
            return outcome, None
        return Outcome(self.name, key, True, None, tuple(posted)), None

    def _learn_ids(self, keys: Sequence[str]) -> None:
        """The numeric ids of issues this run did not read (a verdict that moved because another record
        did): one ids-only search per 1000 keys (Cloud answers up to 5000 ids a page). A search Jira
        refuses (a key that is gone) leaves them to the per-issue PUT."""
        for start in range(0, len(keys), 1000):
            part = keys[start : start + 1000]
            jql = f"key in ({', '.join(part)})"
            try:
                for raw in self._cloud_issues(jql, ["id"], None):
                    if str(raw.get("id") or "").isdigit() and raw.get("key"):
                        self._issue_ids[str(raw["key"])] = int(raw["id"])
            except ScopeRejected:
                continue

    def _may_bulk(self) -> bool:
        """Whether the signed-in user holds the Bulk change global permission (asked once per connector):
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-permissions/#api-rest-api-3-mypermissions-get"""
        if self._bulk_allowed is None:
            what = "asking for the Bulk change permission"
            params = {"permissions": "BULK_CHANGE"}
            response = self._request(what, "GET", "mypermissions", params=params, accept=(400, 404))
            answer = self._json(what, response) if response is not None and response.ok else None
            perms = answer.get("permissions") if isinstance(answer, dict) else None
            entry = perms.get("BULK_CHANGE") if isinstance(perms, dict) else None
            self._bulk_allowed = isinstance(entry, dict) and entry.get("havePermission") is True
        return self._bulk_allowed

    def _load_option_ids(self, fid: str) -> None:
        """The option ids of a select field, from its global context (bulk edit names options by id):
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-custom-field-options/"""
        base = f"field/{quote(fid, safe='')}/context"
        what = f"reading the contexts of {fid}"
        listed = self._json(what, self._request(what, "GET", base, accept=(403, 404)))
        values = listed.get("values") if isinstance(listed, dict) else None
        ctx = next((c for c in values or [] if isinstance(c, dict) and c.get("isGlobalContext") and c.get("id")), None)
        if ctx is None:
            return
        what = f"reading the options of {fid}"
        path = f"{base}/{quote(str(ctx['id']), safe='')}/option"
        answer = self._json(what, self._request(what, "GET", path, accept=(403, 404)))
        known = self._option_ids.setdefault(fid, {})
        for o in (answer.get("values") if isinstance(answer, dict) else None) or []:
            if isinstance(o, dict) and o.get("id") and o.get("value") and not o.get("disabled"):
                known.setdefault(str(o["value"]), str(o["id"]))

    def _changed_since_read(self, key: str, change: RecordChange, fields: Mapping[str, FieldInfo]) -> str | None:
        """Re-read the synced fields the change writes (only those: the verdict fields are
        trackerbridge's outright) and say which a person changed since the read, if any."""
        watched = synced_fields(change) if self.recheck_synced else []
        if not watched:
            return None
        what = f"re-reading {key} before writing synced fields"
        params = {"fields": ",".join(fc.field for fc in watched)}
        raw = self._json(what, self._request(what, "GET", f"issue/{quote(key, safe='')}", params=params))
        values = raw.get("fields") if isinstance(raw, dict) else None
        values = values if isinstance(values, dict) else {}
        now = {fc.field: _normalise(values.get(fc.field), fields[fc.field]) for fc in watched}
        return changed_since_read(watched, now)

    def _edit(self, key: str, body: dict[str, Any]) -> None:
        """PUT issue/{key}?notifyUsers=false. Data Center refuses notifyUsers=false without admin
        rights (Cloud ignores it): then the issue is sent again without it, and so is every other."""
        what = f"editing {key}"
        path = f"issue/{quote(key, safe='')}"
        if self._notify is None:
            with self._probe_lock:  # one probe per run: the other workers wait for its answer
                if self._notify is None:
                    self._probe_edit(key, body)
                    return
        if self._notify is False:
            self._request(what, "PUT", path, body=body)
            return
        self._request(what, "PUT", path, params={"notifyUsers": "false"}, body=body)

    def _probe_edit(self, key: str, body: dict[str, Any]) -> None:
        """The first edit of a run asks for notifyUsers=false and learns from the answer whether it may."""
        what = f"editing {key}"
        path = f"issue/{quote(key, safe='')}"
        response = self._request(what, "PUT", path, params={"notifyUsers": "false"}, body=body, accept=(400, 403))
        assert response is not None
        if response.ok:
            self._notify = True
            return
        detail = _detail(response)
        if response.status_code == 403 or "notif" in detail.casefold():
            self._request(what, "PUT", path, body=body)
            self._notify = False
            return
        self._raise_http(response.status_code, response, what, search=False, token=False, read=0, text=detail)

    def _edit_noting(self, key: str, body: dict[str, Any], text: str, marker: str) -> bool:
        """PUT issue/{key} with the fields and, in the same edit, the note's comment: an `update.comment`
        add, as Jira's Edit issue takes it next to `fields` and label operations. Sent with Jira's usual
        notifications (no notifyUsers=false): the comment is meant to reach the owner and the watchers.
        Not idempotent any more, so it goes through `_send_note`. False when Jira refuses a comment in
        this edit (a 400 naming `comment`): the fields are then written alone, the note left to a POST."""
        what = f"editing {key}"
        path = f"issue/{quote(key, safe='')}"
        update = {**body.get("update", {}), "comment": [{"add": {"body": text}}]}
        response = self._send_note(key, what, "PUT", path, {**body, "update": update}, marker, accept=(400,))
        if response is None or response.ok:
            return True
        if _refuses_comment(response):
            self._edit(key, body)
            return False
        detail = _detail(response)
        self._raise_http(response.status_code, response, what, search=False, token=False, read=0, text=detail)

    def _unposted(self, key: str, notes: Sequence[Note], posted: list[str]) -> list[Note]:
        """The notes still to post, one per marker. The comments are read (once) only when a note may
        be there already (`Note.maybe_posted`: a crashed run's); the markers found go into `posted`."""
        todo = list({n.marker: n for n in reversed(notes)}.values())[::-1]  # the first of each marker
        if not any(n.maybe_posted for n in notes):
            return todo
        bodies = self._comment_bodies(key)
        there = {n.marker for n in todo if any(has_marker(b, n.marker) for b in bodies)}
        posted.extend(n.marker for n in todo if n.marker in there)
        return [n for n in todo if n.marker not in there]

    def _note_text(self, note: Note, cloud: bool, own: bool) -> str:
        """The note's comment. Its owner is mentioned by the reference they already carry when they
        were read from this site (`own`: accountId on Cloud, username on Data Center), without a call;
        a person with no such reference (e-mail or name only) is looked up, once per run."""
        person = note.mention
        ref = None
        if person is not None:
            ref = person.ref if own and person.ref else self.resolve_people([person]).get(person.identity)
        return comment_body(note, ref, cloud=cloud)

    def _comment_bodies(self, key: str) -> list[Any]:
        """Every comment body of the issue, page by page."""
        what = f"reading the comments of {key}"
        bodies: list[Any] = []
        start = 0
        while True:
            params = {"startAt": start, "maxResults": self.comment_page}
            body = self._json(what, self._request(what, "GET", f"issue/{quote(key, safe='')}/comment", params=params))
            comments = body.get("comments") if isinstance(body, dict) else None
            if not isinstance(comments, list):
                raise ConnectorError(f"jira {self.name!r}: the comments of {key} came without a comment list")
            bodies += [c.get("body") for c in comments if isinstance(c, dict)]
            start += len(comments)
            if not comments or start >= _int(body.get("total"), start):
                return bodies

    def _post_comment(self, key: str, text: str, marker: str) -> None:
        """POST one comment (a note with no edit to ride in), through `_send_note`: at most once."""
        what = f"commenting on {key}"
        self._send_note(key, what, "POST", f"issue/{quote(key, safe='')}/comment", {"body": text}, marker)

    def _send_note(
        self,
        key: str,
        what: str,
        method: str,
        path: str,
        body: dict[str, Any],
        marker: str,
        *,
        accept: Iterable[int] = (),
    ) -> requests.Response | None:
        """Send a request that adds the comment carrying `marker`, so that the comment lands once.

        Never resent blindly: the retry layer keeps out (`once`), and after a 5xx or a dropped
        connection (it may have landed) the comments are read, and it is sent again only if the
        marker is not there. A 429 was not carried out: it is sent again after Retry-After without a
        read. Returns the answer (a success, or a status in `accept` for the caller), or None when
        the marker showed that a failed-looking attempt had landed."""
        attempts = _attempts(self._retry)
        look = False  # whether an earlier attempt may have landed
        response: requests.Response | None = None
        for attempt in range(attempts):
            if look and any(has_marker(b, marker) for b in self._comment_bodies(key)):
                return None
            response = self._request(
                what, method, path, body=body, accept=(*_RETRIED, *accept), uncertain=True, once=True
            )
            if response is not None and response.status_code not in _RETRIED:
                return response
            look = look or response is None or response.status_code != 429
            wait = self._note_wait(response, attempt)
            if attempt == attempts - 1 or wait is None:
                break
            time.sleep(wait)
        if response is not None:
            self._raise_http(
                response.status_code, response, what, search=False, token=False, read=0, text=response.reason
            )
        raise ConnectorError(
            f"jira {self.name!r}: the connection closed without an answer while {what}, "
            f"{attempts} times; the comment is posted by the next run if it is not there"
        )

    def _note_wait(self, response: requests.Response | None, attempt: int) -> float | None:
        """Seconds before trying a note again: Retry-After if Jira sent one, else the policy's backoff;
        None when Jira asks for longer than trackerbridge waits."""
        header = response.headers.get("Retry-After") if response is not None else None
        try:
            wait = float(header) if header else None
        except ValueError:
            wait = None
        if wait is None:
            factor = float(getattr(self._retry, "backoff_factor", 0.5) or 0.0)
            cap = float(getattr(self._retry, "backoff_max", 30.0) or 30.0)
            wait = min(cap, factor * (2**attempt))
        return wait if wait <= self._max_retry_after else None

    def _lookup(self, person: Person) -> None:
        """Find one person's account and cache it (None: no account); a failed lookup is not cached."""
        try:
            ref = None
            if person.email:
                ref = self._user_by_email(person.email)
            if ref is None and person.ref:
                ref = self._user_by_ref(person.ref)
            if ref is None and not person.email and not person.ref and person.name and self.flavor != "cloud":
                ref = self._user_by_name(person.name)
        except STOPS:
            raise
        except ConnectorError as exc:
            with self._people_lock:
                self._people_why[person.identity] = str(exc).removeprefix(f"jira {self.name!r}: ")
            return
        with self._people_lock:
            self._people[person.identity] = ref
            self._people_why.pop(person.identity, None)

    def _user_by_email(self, email: str) -> str | None:
        """The account with that e-mail. On Cloud, `user/search?query=` matches e-mail addresses even of
        people whose profile hides theirs (no emailAddress in the answer): the one account it finds that
        shows no other address is theirs; several such accounts are ambiguous, and the reason is kept."""
        cloud = self.flavor == "cloud"
        params = {"query": email} if cloud else {"username": email}
        users = self._user_search(params, f"looking up the user {email}")
        found = [u for u in users if str(u.get("emailAddress") or "").casefold() == email.casefold()]
        if not found and cloud:
            found = [u for u in users if not u.get("emailAddress") and u.get("accountType", "atlassian") == "atlassian"]
            if len({self._user_ref(u) for u in found} - {None}) > 1:
                raise ConnectorError(
                    f"{len(found)} Jira accounts that hide their e-mail match {email}; map the person by account id"
                )
        refs = {r for u in found if (r := self._user_ref(u))}
        return refs.pop() if len(refs) == 1 else None

    def _user_by_name(self, name: str) -> str | None:
        """Data Center: a username, or a display name that only one active user has."""
        users = self._user_search({"username": name}, f"looking up the user {name}")
        exact = [u for u in users if u.get("name") == name]
        shown = [u for u in users if str(u.get("displayName") or "").casefold() == name.casefold()]
        chosen = exact or shown
        return self._user_ref(chosen[0]) if len(chosen) == 1 else None

    def _user_by_ref(self, ref: str) -> str | None:
        """A reference the person already carries, if it is an active account of this site."""
        params = {"accountId": ref} if self.flavor == "cloud" else {"username": ref}
        what = f"looking up the user {ref}"
        response = self._request(what, "GET", "user", params=params, accept=(400, 404))
        if response is None or not response.ok:
            return None
        user = self._json(what, response)
        return self._user_ref(user) if isinstance(user, dict) else None

    def _user_search(self, params: dict[str, Any], what: str) -> list[dict[str, Any]]:
        response = self._request(what, "GET", "user/search", params={**params, "maxResults": 50})
        users = self._json(what, response)
        return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []

    def _user_ref(self, user: dict[str, Any]) -> str | None:
        if user.get("active") is False:
            return None
        ref = user.get("accountId") if self.flavor == "cloud" else user.get("name")
        return str(ref) if ref else None

    def _record_error(self, exc: Exception, change: RecordChange) -> str:
        """A record's error without the connector prefix, with field ids shown with their names."""
        text = str(exc).removeprefix(f"jira {self.name!r}: ")
        for fc in change.fields:
            if fc.name and fc.name != fc.field:
                text = text.replace(f"{fc.field}: ", f"{fc.name} ({fc.field}): ")
        return text

    def _request(
        self,
        what: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: Iterable[int] = (),
        uncertain: bool = False,
        once: bool = False,
    ) -> requests.Response | None:
        """One REST call through the client's session (our retry layer, our counter). Answers with a
        status in `accept` come back instead of raising; with `uncertain`, a connection that dropped
        after sending gives None (the request may or may not have been carried out); with `once`,
        the retry layer never resends it after it may have reached Jira (`NO_RESEND`)."""
        client = self._connect()
        url = client._get_url(path)
        data = json.dumps(body) if body is not None else None
        accepted = frozenset(accept)
        extra: dict[str, Any] = {"headers": {NO_RESEND: "1"}} if once else {}

        def send() -> requests.Response | None:
            try:
                response: requests.Response = client._session.request(method, url, params=params, data=data, **extra)
                return response
            except JIRAError as exc:
                if exc.status_code in accepted and exc.response is not None:
                    return exc.response  # type: ignore[no-any-return]
                raise
            except requests.exceptions.RequestException as exc:
                if uncertain and maybe_sent(exc):
                    return None
                raise

        return self._call(what, send)  # type: ignore[no-any-return]

    def _json(self, what: str, response: requests.Response | None) -> Any:
        if response is None:
            raise ConnectorError(f"jira {self.name!r}: no answer while {what}")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            self._raise_not_json(what)

    # --- connecting ---------------------------------------------------------------------------

    def _connect(self) -> JIRA:
        """Build the client, mount our retry layer and call counter, read serverInfo, check the flavour.

        serverInfo is read after mounting (the client would read it before, uncounted and unretried)."""
        if self._client is not None:
            return self._client
        conn = self.connection
        auth: dict[str, Any]
        if conn.auth_method == "pat":
            auth = {"token_auth": conn.secret("token").reveal()}
        elif conn.auth_method == "api_token":
            auth = {"basic_auth": (conn.secret("email").reveal(), conn.secret("token").reveal())}
        else:
            auth = {"basic_auth": (conn.secret("username").reveal(), conn.secret("password").reveal())}
        client = JIRA(
            server=self.site,
            options={"verify": conn.ca_bundle or True, "check_update": False},
            max_retries=0,
            timeout=conn.timeout,
            get_server_info=False,
            **auth,
        )
        session = client._session
        mount_retry(
            session,
            self._retry,
            timeout=conn.timeout,
            on_attempt=self._attempted,
            max_wait=self._max_retry_after,
            # Searching is read-only, so a search by POST (long JQL) may be retried like a GET.
            post_retry_prefixes=[client._get_url("search")],
        )
        session.hooks["response"].append(self._responded)
        self._client = client
        info = self._server_info  # given by `reuse`, or asked now
        if info is None:
            try:
                info = self._call("connecting", client.server_info)
            except BaseException:
                self.close()
                raise
        if not isinstance(info, dict) or "versionNumbers" not in info:
            self.close()
            raise ConnectorError(
                f"jira {self.name!r}: {self.site} did not answer serverInfo like Jira does; "
                "is the URL the Jira base URL (with its context path, such as /jira)?"
            )
        client._version = tuple(info.get("versionNumbers") or (0, 0, 0))
        self._server_info = info
        conflict = self._flavor_conflict(info)
        if conflict:
            self.close()
            raise ConnectorError(conflict)
        self._flavor = self._flavor_from(info)
        client.deploymentType = info.get("deploymentType") or ("Cloud" if self._flavor == "cloud" else "Server")
        return client

    def _flavor_from(self, info: Mapping[str, Any]) -> str:
        """serverInfo's deploymentType; when it has none, the connector file's flavor wins over a guess."""
        configured = self.connection.file.flavor  # type: ignore[union-attr]
        if not info.get("deploymentType") and configured != "auto":
            return str(configured)
        return _flavor_of(info)

    def _flavor_conflict(self, info: Mapping[str, Any]) -> str | None:
        configured = self.connection.file.flavor  # type: ignore[union-attr]
        detected = _flavor_of(info)
        if configured in ("auto", detected) or not info.get("deploymentType"):
            return None  # nothing said against the file
        return (
            f"jira {self.name!r}: the connector file says flavor: {configured}, but {self.site} reports "
            f"deploymentType {info.get('deploymentType')!r} ({detected}); set flavor: {detected} or auto"
        )

    def _myself(self) -> dict[str, Any]:
        if self._me is None:
            client = self._connect()
            me = self._call("reading the signed-in user", client.myself)
            self._me = me if isinstance(me, dict) else {}
        return self._me

    def _seed_client_field_cache(self, raw: list[dict[str, Any]]) -> None:
        """The client translates `fields=` names through a clause-name cache it fills with its own
        GET field on the first search; fill it from ours (ids map to themselves) to save that call."""
        client = self._client
        if client is None or not hasattr(client, "_fields_cache_value"):
            return
        cache: dict[str, str] = {}
        for f in raw:
            if isinstance(f, dict) and f.get("id"):
                for clause in f.get("clauseNames") or []:
                    cache[str(clause)] = str(f["id"])
        for f in raw:
            if isinstance(f, dict) and f.get("id"):
                cache[str(f["id"])] = str(f["id"])
        client._fields_cache_value = cache

    # --- searching ----------------------------------------------------------------------------

    def _search(self, jql: str, ids: list[str], expand: str | None) -> Iterator[dict[str, Any]]:
        if self.flavor == "cloud":
            if self.fetch.wanted(ids, expand):
                return self.fetch.issues(jql, ids)
            return self._cloud_issues(jql, ids, expand)
        return self._dc_issues(jql, ids, expand)

    def _relative_pages(
        self, since: datetime, now: datetime, ids: list[str], expand: str | None
    ) -> Iterator[dict[str, Any]]:
        """An incremental search relative to the server's clock, so neither `myself` (for the time
        zone) nor a guess about daylight saving is needed. Jira counts "-Nm" back from its own
        clock; the first answer's `Date` header proves the window reached back far enough. If it
        did not (Jira's clock ahead of ours by more than `SKEW_ALLOWED`, or no `Date`), the search
        is asked again with a date in the user's time zone."""
        minutes = _minutes_back(now, since)
        self._server_date = None
        pages = self._search(self.jql(since, now=now), ids, expand)
        first = next(pages, None)
        answered = self._server_date
        if answered is None or answered - timedelta(minutes=minutes) > since - OVERLAP + SKEW_ALLOWED:
            pages.close()
            pages = self._search(self.jql(since), ids, expand)
            first = next(pages, None)
        if first is not None:
            yield first
            yield from pages

    def _cloud_issues(
        self, jql: str, ids: list[str], expand: str | None, token: str | None = None, read: int = 0
    ) -> Iterator[dict[str, Any]]:
        """Enhanced search (`search/jql`): follow nextPageToken until the last page (from `token`, when the
        first pages were read elsewhere: `read` records)."""
        client = self._connect()
        post = len(quote(jql)) > POST_ABOVE
        while True:
            page_token = token
            body = self._call(
                "searching",
                partial(
                    client.enhanced_search_issues,
                    jql,
                    nextPageToken=page_token,
                    maxResults=self._page_size or CLOUD_PAGE,
                    fields=list(ids),
                    expand=expand,
                    properties=STAMP_KEY,
                    json_result=True,
                    use_post=post,
                ),
                search=True,
                token=page_token is not None,
                read=read,
            )
            issues = _issues(body, self.name)
            yield from issues
            read += len(issues)
            token = body.get("nextPageToken") or None
            if token is None:
                if body.get("isLast") is False:
                    raise ConnectorError(
                        f"jira {self.name!r}: the search said more results follow (isLast=false) but sent no "
                        f"nextPageToken after {read} records; run again"
                    )
                return
            if body.get("isLast") is True:
                return
            if token == page_token:
                raise ConnectorError(f"jira {self.name!r}: the search returned the same page token twice; run again")

    def _dc_issues(self, jql: str, ids: list[str], expand: str | None) -> Iterator[dict[str, Any]]:
        """Offset search (`search`) with `startAt` / `total`, paged by the server's own `maxResults`.

        Each page after the first starts on the last record already read. If that record is not
        where it was (an issue was edited, moved to the end of the `updated` order, or left the
        scope), the list shifted left and a plain offset would skip records: step back until the
        page starts on something already read."""
        client = self._connect()
        post = len(quote(jql)) > POST_ABOVE
        size = self._page_size or DC_PAGE
        recent: _Recent = _Recent(max(2 * size, 100))
        consumed, back, stalls = 0, 1, 0
        while True:
            start = max(consumed - back, 0)
            body = self._call(
                "searching",
                partial(
                    client.search_issues,
                    jql,
                    startAt=start,
                    maxResults=size,
                    fields=list(ids),
                    expand=expand,
                    properties=STAMP_KEY,
                    json_result=True,
                    use_post=post,
                ),
                search=True,
            )
            issues = _issues(body, self.name)
            total = _int(body.get("total"), start + len(issues))
            size = max(_int(body.get("maxResults"), size), 1)
            if start > 0 and back > 0 and (not issues or _ident(issues[0]) not in recent):
                back *= 2
                continue  # start reaches 0 within log2(consumed) steps
            back = 1 if size > 1 else 0
            fresh = 0
            for raw in issues:
                ident = _ident(raw)
                if ident not in recent:
                    recent.add(ident)
                    fresh += 1
                    yield raw
            end = start + len(issues)
            if not issues or end >= total:
                return
            stalls = 0 if fresh else stalls + 1
            if stalls >= STALLS:
                raise ConnectorError(
                    f"jira {self.name!r}: the search's pages stopped advancing at startAt={start} "
                    f"(total {total}); run again"
                )
            consumed = end

    # --- records ------------------------------------------------------------------------------

    def _record(self, raw: dict[str, Any], fields: Sequence[FieldInfo], history: bool) -> RawRecord:
        key = str(raw.get("key") or raw.get("id") or "")
        values = raw.get("fields")
        if not isinstance(values, dict):  # `"fields": null`: unreadable, not an empty record
            return RawRecord(key, self.record_url(key), {}, unreadable=f'Jira answered with "fields": {_show(values)}')
        # A requested field left out of the answer is hidden from us, not empty (a null is empty).
        if "issuekey" not in values:  # the key travels beside `fields`, never in it
            values["issuekey"] = key
        missing = [f.id for f in fields if f.id not in values]
        updated = _to_datetime(values.get("updated"))
        if str(raw.get("id") or "").isdigit():
            self._issue_ids[key] = int(raw["id"])
        for f in fields:  # a select's value carries its option id: bulk edit needs it, and it comes free
            value = values.get(f.id) if f.type == OPTION else None
            if isinstance(value, dict) and value.get("id") and value.get("value"):
                self._option_ids.setdefault(f.id, {}).setdefault(str(value["value"]), str(value["id"]))
        props = raw.get("properties")
        ours, stamp = read_stamp(props.get(STAMP_KEY) if isinstance(props, dict) else None, updated)
        return RawRecord(
            key=key,
            url=self.record_url(key),
            values={f.id: _normalise(values.get(f.id), f) for f in fields},
            updated=updated,
            created=_to_datetime(values.get("created")),
            history=self._history(key, raw) if history else [],
            absent=frozenset(missing) if missing else _NONE,
            ours=ours,
            stamp=stamp,
        )

    def _history(self, key: str, raw: dict[str, Any]) -> list[dict[str, Any]]:
        """The changelog, oldest first. Cloud's search carries only recent entries; when it says
        there are more, read the issue's own changelog."""
        log = raw.get("changelog") or {}
        histories = list(log.get("histories") or [])
        total = log.get("total")
        if isinstance(total, int) and total > len(histories) and self.flavor == "cloud":
            histories = list(self._full_changelog(key))
        out = [
            {
                "created": _to_datetime(h.get("created")),
                "author": _person(h.get("author")),
                "items": [
                    {
                        "field": item.get("field"),
                        "from": item.get("from"),
                        "to": item.get("to"),
                        "fromString": item.get("fromString"),
                        "toString": item.get("toString"),
                    }
                    for item in h.get("items") or []
                    if isinstance(item, dict)
                ],
            }
            for h in histories
            if isinstance(h, dict)
        ]
        out.sort(key=lambda h: h["created"] if isinstance(h["created"], datetime) else _EPOCH)
        return out

    def _full_changelog(self, key: str) -> Iterator[dict[str, Any]]:
        client = self._connect()
        start = 0
        while True:
            params = {"startAt": start, "maxResults": 100}
            body = self._call(
                f"reading the changelog of {key}", partial(client._get_json, f"issue/{quote(key)}/changelog", params)
            )
            values = [v for v in body.get("values") or [] if isinstance(v, dict)] if isinstance(body, dict) else []
            yield from values
            start += len(values)
            total = _int(body.get("total"), start) if isinstance(body, dict) else start
            if not values or body.get("isLast") is True or start >= total:
                return

    # --- time ---------------------------------------------------------------------------------

    def _jql_minute(self, when: datetime) -> str:
        """`when` as a JQL literal in the user's time zone, rounded down to the minute.

        If a wall time is ambiguous (the hour a DST change repeats), step back until every reading
        of it is at or before `when`. Without a usable zone, widen by the largest UTC offset."""
        instant = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
        name = str(self._myself().get("timeZone") or "")
        try:
            zone = ZoneInfo(name) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            wall = (instant.astimezone(timezone.utc) - UNKNOWN_ZONE_SLACK).replace(tzinfo=None)
        else:
            wall = instant.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
            for _ in range(8):
                latest = max(wall.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc) for fold in (0, 1))
                if latest <= instant:
                    break
                wall -= timedelta(minutes=30)
        return wall.strftime("%Y/%m/%d %H:%M")

    # --- HTTP and errors ----------------------------------------------------------------------

    def _endpoint(self, url: str) -> str:
        path = urlsplit(url).path
        if self._base_path and path.startswith(self._base_path + "/"):
            path = path[len(self._base_path) :]
        short = _API_PATH.sub("", path)
        if short == path:
            return path
        return _ISSUE_PATH.sub("issue/{key}", short)

    def _attempted(self, method: str, url: str, dropped: bool) -> None:
        key = f"{method.upper()} {self._endpoint(url)}"
        with self._count_lock:  # Counter's += is a read and a write: not atomic across threads
            self.calls[key] += 1
            if dropped:
                self.dropped[key] += 1

    def _responded(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_content_type = response.headers.get("Content-Type", "")
        self._server_date = _http_date(response.headers.get("Date"))
        if self._server_date is not None:
            self._server_seen = (self._server_date, time.monotonic())

    def _server_now(self) -> datetime:
        """Jira's clock now: its last `Date` header plus the time since (this machine's clock before
        any answer). The stamp's `at` is compared with Jira's own `updated`."""
        seen = self._server_seen
        if seen is None:
            return datetime.now(timezone.utc)
        return seen[0] + timedelta(seconds=time.monotonic() - seen[1])

    def _call(
        self, what: str, fn: Callable[[], Any], *, search: bool = False, token: bool = False, read: int = 0
    ) -> Any:
        try:
            return fn()
        except JIRAError as exc:
            self._raise_http(exc.status_code, exc.response, what, search=search, token=token, read=read, text=exc.text)
        except requests.exceptions.JSONDecodeError:
            self._raise_not_json(what)
        except requests.exceptions.RequestException as exc:
            self._raise_network(exc, what)
        except ValueError:  # the body was not JSON: a login page, a proxy, the wrong URL
            self._raise_not_json(what)

    def _raise_not_json(self, what: str) -> NoReturn:
        kind = self._last_content_type.split(";")[0] or "no content type"
        raise ConnectorError(
            f"jira {self.name!r}: {self.site} answered with something that is not JSON ({kind}) while {what}; "
            "is the URL the Jira base URL (with its context path, such as /jira)?"
        ) from None

    def _envs(self) -> str:
        creds = self.connection.credentials
        return " / ".join(f"${creds[r].source}" for r in CREDENTIAL_ROLES[self.connection.auth_method] if r in creds)

    def _scrub(self, text: str) -> str:
        for secret in self.connection.credentials.values():
            value = secret.reveal()
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text

    def _waited(self, response: requests.Response | None) -> str:
        """Whether we retried, and what Retry-After said: a wait longer than we accept was not retried."""
        wait = response.headers.get("Retry-After") if response is not None else None
        try:
            seconds = float(wait) if wait else None
        except ValueError:
            seconds = None
        if seconds is not None and seconds > self._max_retry_after:
            return (
                f"; Jira asks to wait {wait}s (Retry-After), longer than trackerbridge waits "
                f"({self._max_retry_after:g}s): run again later"
            )
        return f" (after retrying; Jira asks to wait {wait}s)" if wait else " (after retrying)"

    def _raise_http(
        self,
        status: int | None,
        response: requests.Response | None,
        what: str,
        *,
        search: bool,
        token: bool,
        read: int,
        text: str | None,
    ) -> NoReturn:
        prefix = f"jira {self.name!r}"
        detail = _detail(response) if response is not None else ""
        said = f": {detail}" if detail else ""
        error: ConnectorError
        if status is None:
            error = ConnectorError(f"{prefix}: {what} failed: {text or 'no answer'}")
        elif status == 401:
            hint = ""
            if self._flavor == "cloud" and self.connection.auth_method == "pat":
                hint = "; Jira Cloud does not take personal access tokens: use auth method api_token"
            elif self._flavor == "datacenter" and self.connection.auth_method == "api_token":
                hint = "; Data Center takes a personal access token (auth method pat) or a password (basic)"
            error = AuthError(f"{prefix}: the server rejected the credentials from {self._envs()} (401){hint}")
        elif status == 403 and response is not None and response.headers.get("X-Authentication-Denied-Reason"):
            reason = response.headers["X-Authentication-Denied-Reason"]
            error = AuthError(
                f"{prefix}: Jira refused to sign in with {self._envs()} (403, {reason}); after too many failed "
                "logins Jira asks for a CAPTCHA: sign in once in a browser, then run again"
            )
        elif status == 403:
            error = ConnectorError(
                f"{prefix}: permission denied (403) while {what}{said}; the account from {self._envs()} "
                "lacks a permission this needs (Browse projects for searches)"
            )
        elif status == 429:
            error = QuotaExceeded(f"{prefix}: rate limited by Jira (429) while {what}{self._waited(response)}")
        elif status == 400 and search and token:
            error = ConnectorError(
                f"{prefix}: the search's page token was refused after {read} records (400{said}); "
                "tokens expire when a search sits idle: run again"
            )
        elif status == 400 and search:
            fix = f"fix scope.jql in connectors/{self.name}.yaml"
            error = ScopeRejected(f"{prefix}: the scope's JQL was rejected{said or ' (400)'}; {fix}")
        elif status == 404:
            where = "" if detail else f"; is {self.site} the Jira base URL (with its context path, such as /jira)?"
            error = ConnectorError(f"{prefix}: not found (404) while {what}{said}{where}")
        elif status == 410:
            error = ConnectorError(f"{prefix}: Jira has removed the API used while {what} (410){said}")
        elif status >= 500:
            reason = response.reason if response is not None and response.reason else ""
            failing = f"{prefix}: Jira kept failing while {what}: {status} {reason}".rstrip()
            error = ConnectorError(failing + said + self._waited(response))
        else:
            error = ConnectorError(f"{prefix}: {what} failed with HTTP {status}{said}")
        error.args = (self._scrub(str(error)),)
        raise error from None

    def _raise_network(self, exc: requests.exceptions.RequestException, what: str) -> NoReturn:
        prefix = f"jira {self.name!r}"
        parts = urlsplit(self.site)
        host = parts.hostname or self.site
        where = f"{host}:{parts.port}" if parts.port else host
        chain = list(causes(exc))
        if isinstance(exc, requests.exceptions.SSLError):
            bundle = self.connection.ca_bundle
            now = f" (now {bundle})" if bundle else ""
            message = (
                f"{prefix}: TLS verification of {where} failed while {what}; if its certificate comes from a "
                f"private CA, set ca_bundle (or ca_bundle_env) in the connector file to that CA's PEM bundle{now}"
            )
        elif isinstance(exc, requests.exceptions.ConnectTimeout):
            message = f"{prefix}: could not connect to {where} within {self.connection.timeout:g}s while {what}"
        elif isinstance(exc, requests.exceptions.ReadTimeout):
            message = f"{prefix}: {where} did not answer within {self.connection.timeout:g}s while {what}"
        elif any(isinstance(c, ConnectionRefusedError) for c in chain):
            message = f"{prefix}: cannot reach {where}: connection refused (is the URL right, and is Jira up?)"
        elif any(isinstance(c, socket.gaierror) for c in chain):
            message = f"{prefix}: cannot reach {where}: the host name does not resolve"
        elif any(type(c).__name__ in ("ProtocolError", "RemoteDisconnected") for c in chain):
            message = f"{prefix}: {where} closed the connection without answering while {what}, after retrying"
        else:
            message = f"{prefix}: cannot reach {where} while {what} ({type(exc).__name__})"
        raise (Unreachable if unreachable(exc) else ConnectorError)(self._scrub(message)) from None


# --- plain helpers ------------------------------------------------------------------------------


class _Recent:
    """The last `limit` records read, as (key, updated): memory stays flat however many pass."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._order: deque[tuple[str, str]] = deque()
        self._set: set[tuple[str, str]] = set()

    def __contains__(self, ident: object) -> bool:
        return ident in self._set

    def __len__(self) -> int:
        return len(self._set)

    def add(self, ident: tuple[str, str]) -> None:
        self._order.append(ident)
        self._set.add(ident)
        while len(self._order) > self.limit:
            self._set.discard(self._order.popleft())


def _flavor_of(info: Mapping[str, Any]) -> str:
    return "cloud" if info.get("deploymentType") == "Cloud" else "datacenter"


def _minutes_back(now: datetime, since: datetime) -> int:
    """Whole minutes from `now` back to at least `since - OVERLAP`."""
    return max(1, math.ceil((now - since + OVERLAP) / timedelta(minutes=1)))


def _http_date(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def _ident(raw: dict[str, Any]) -> tuple[str, str]:
    """A record version: the same key with a newer `updated` is news, not a duplicate."""
    return str(raw.get("key") or raw.get("id")), str((raw.get("fields") or {}).get("updated"))


def _issues(body: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("issues", []), list):
        raise ConnectorError(f"jira {name!r}: the search answered without an issue list")
    return [i for i in body.get("issues") or [] if isinstance(i, dict)]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _refuses_comment(response: requests.Response) -> bool:
    """Whether a 400 to an edit names the comment: Jira takes no comment in this edit (a missing
    Add comments permission, say), which says nothing about the fields."""
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return response.status_code == 400 and isinstance(errors, dict) and "comment" in errors


def _attempts(policy: Retry) -> int:
    """Check-then-post rounds for a note: as many as the retry policy gives any other request."""
    total = policy.total if isinstance(policy.total, int) and not isinstance(policy.total, bool) else 0
    return max(NOTE_ATTEMPTS, total)


def _detail(response: requests.Response) -> str:
    """Jira's own words: errorMessages, then errors as 'field: message'."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:200] if text and not text.startswith("<") else ""
    parts: list[str] = []
    if isinstance(body, dict):
        messages = body.get("errorMessages")
        if isinstance(messages, list):
            parts += [str(m) for m in messages if m]
        elif isinstance(messages, str) and messages:
            parts.append(messages)
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        for k in ("message", "errorMessage"):
            if isinstance(body.get(k), str) and body[k] and body[k] not in parts:
                parts.append(body[k])
    return "; ".join(parts)


def _field_info(f: dict[str, Any]) -> FieldInfo:
    schema = f.get("schema") or {}
    kind, items = schema.get("type"), schema.get("items")
    if kind == "user" or (kind == "array" and items == "user"):  # a multi-user picker holds people
        ftype = USER
    elif kind == "date":
        ftype = DATE
    elif kind == "datetime":
        ftype = DATETIME
    elif kind in _OPTION_TYPES:
        ftype = OPTION
    elif kind == "array" and items in _LIST_ITEMS:
        ftype = LABELS
    elif kind == "number":
        ftype = NUMBER
    else:
        ftype = TEXT
    native = schema.get("custom") or (f"array<{items}>" if kind == "array" and items else kind) or ""
    options = tuple(
        str(o.get("value") or o.get("name"))
        for o in f.get("allowedValues") or []
        if isinstance(o, dict) and (o.get("value") or o.get("name"))
    )
    fid = str(f["id"])
    return FieldInfo(
        id=fid,
        name=str(f.get("name") or fid),
        type=ftype,
        updateable=bool(f.get("orderable")) and fid not in READ_ONLY,
        options=options,
        native_type=str(native),
        multiple=kind == "array",
    )


_NONE: frozenset[str] = frozenset()


def _show(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _person(value: Any) -> Person | None:
    if not isinstance(value, dict):
        return _shared_person(None, None, str(value)) if isinstance(value, str) and value else None
    return _shared_person(
        value.get("emailAddress") or None,
        value.get("displayName") or None,
        value.get("accountId") or value.get("name") or value.get("key") or None,
    )


@lru_cache(maxsize=PEOPLE_CACHE)
def _shared_person(email: str | None, name: str | None, ref: str | None) -> Person:
    """One Person object per distinct user. The same few thousand people are named on every record
    and changelog entry: sharing them (they are frozen) keeps a large run's memory, and the garbage
    collector's work, proportional to the people rather than to the mentions."""
    return Person(email=email, name=name, ref=ref)


def _name(value: Any, native: str = "") -> str | None:
    """The text people see for an option-like value (option value, status name, project key)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return str(value)
    if native == "project" and value.get("key"):
        return str(value["key"])
    text = value.get("value") or value.get("name") or value.get("displayName") or value.get("key")
    child = value.get("child")
    if isinstance(child, dict) and child.get("value"):
        text = f"{text} / {child['value']}"
    # Interned: a few option values (team, lane, issue type) repeat on every record, and each
    # record would otherwise keep its own copy of the string from its page of JSON.
    return None if text is None else sys.intern(str(text))


def _to_datetime(value: Any) -> datetime | None:
    """Jira's 2026-11-25T08:25:46.000+0000 (and ISO variants) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    m = _DATETIME.match(text)
    if not m:
        return None
    try:
        # The pattern decides what is a datetime; fromisoformat reads what it accepts the same way,
        # ten times faster (on Python 3.11+ that includes Jira's +0000). The rest, read by hand.
        moment = datetime.fromisoformat(text)
    except ValueError:
        return _from_parts(m)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _from_parts(m: re.Match[str]) -> datetime:
    """A datetime from `_DATETIME`'s groups; no zone means UTC."""
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    tz = timezone.utc
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    micro = int((fraction or "0").ljust(6, "0"))
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)


def _to_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _to_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _normalise(value: Any, field: FieldInfo) -> Any:
    """A raw JSON value as the plain value `base` promises for the field's type."""
    if value is None:
        return None
    kind, native = field.type, field.native_type
    if kind == USER:
        if isinstance(value, list):  # multi-user picker: each person, account id kept
            return [p for p in map(_person, value) if p is not None]
        return _person(value)
    if kind == DATE:
        return _to_date(value)
    if kind == DATETIME:
        return _to_datetime(value)
    if kind == OPTION:
        return _name(value, native)
    if kind == LABELS:
        items = value if isinstance(value, list) else [value]
        return [n for n in (_name(v) for v in items) if n is not None]
    if kind == NUMBER:
        return _to_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value) if n]
        return ", ".join(names) if names else None
    if isinstance(value, dict):
        return _name(value, native)
    return str(value)
