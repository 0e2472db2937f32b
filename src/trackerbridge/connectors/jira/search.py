"""Jira Cloud and Data Center, through the `jira` client library.

The client does the HTTP plumbing (auth, URLs, JSON); this module decides what to ask for and
turns the answers into plain trackerbridge data (the layers below: see the package docstring).
What matters more than it looks here:

- Watermarks that never skip. Searches are ordered `updated ASC, key ASC`; an incremental search
  starts at `since`, which the run's cursor puts `overlap` (`OVERLAP`) before the watermark: in
  whole minutes back from Jira's clock when the run knows the
  time (checked against the answer's `Date` header), else as a date in the signed-in user's time
  zone (JQL dates are read in it, to the minute). Data Center's offset paging re-reads one record per page to notice a
  list that moved under it (an edit moves an issue to the end) and steps back instead of
  skipping.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jira import JIRA
from urllib3.util.retry import Retry

from trackerbridge.activity import STAMP_KEY, read_stamp
from trackerbridge.config.connection import CREDENTIAL_ROLES, Connection
from trackerbridge.config.models import JiraConnector as JiraConnectorFile
from trackerbridge.connectors.base import (
    OPTION,
    Catalog,
    ConnectorError,
    FieldInfo,
    RawRecord,
    ScopeRejected,
)
from trackerbridge.connectors.http import retry_policy
from trackerbridge.connectors.jira.bulk import BulkWriter
from trackerbridge.connectors.jira.discovery import JiraDiscovery
from trackerbridge.connectors.jira.fetch import TwoPhaseRead
from trackerbridge.connectors.jira.values import int_or, normalise, person_of, to_datetime
from trackerbridge.connectors.jira.write import JiraWriter
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
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)  # where changelog entries without a readable date sort


class JiraConnector(JiraWriter, JiraDiscovery):
    """A Jira site (Cloud or Data Center), read through the `jira` client."""

    system = "jira"
    overlap = OVERLAP

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
        super().__init__(connection)
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
        self.bulk_edit = True  # Cloud writes shared payloads through bulk edit when Jira allows it (bulk.py)
        self._bulk_allowed: bool | None = None  # the Bulk change global permission, once asked
        self._issue_ids: dict[str, int] = {}  # key -> numeric id, of the issues read (bulk edit answers in ids)
        self._option_ids: dict[str, dict[str, str]] = {}  # field id -> option value -> option id
        self.bulk = BulkWriter(self)
        self.fetch = TwoPhaseRead(self)  # Cloud: ids-only search + bulk fetch where it pays (jira/fetch.py)

    # --- public -------------------------------------------------------------------------------

    def pull(
        self,
        fields: Sequence[FieldInfo],
        *,
        since: datetime | None = None,
        history: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> Iterator[RawRecord]:
        """Issues in scope (changed at or after `since`, which is `overlap` before the watermark), oldest change first.

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
        """The search for the scope: `(<scope>) [AND updated >= <since>] ORDER BY ...`.

        The bound is a date in the signed-in user's time zone (JQL reads dates in it, to the
        minute), or, given the tracker's `now`, whole minutes back from the server's clock."""
        scope = self.connection.scope.jql.strip()  # type: ignore[union-attr]
        where = f"({scope})"
        if since is not None and now is not None:
            where += f' AND updated >= "-{_minutes_back(now, since)}m"'
        elif since is not None:
            where += f' AND updated >= "{self._jql_minute(since)}"'
        return f"{where} ORDER BY updated ASC, key ASC"

    def record_url(self, key: str) -> str:
        return f"{self.site}/browse/{quote(key)}"

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

    # --- searching ----------------------------------------------------------------------------

    def _search(self, jql: str, ids: list[str], expand: str | None) -> Generator[dict[str, Any], None, None]:
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
        if answered is None or answered - timedelta(minutes=minutes) > since + SKEW_ALLOWED:
            pages.close()
            pages = self._search(self.jql(since), ids, expand)
            first = next(pages, None)
        if first is not None:
            yield first
            yield from pages

    def _cloud_issues(
        self, jql: str, ids: list[str], expand: str | None, token: str | None = None, read: int = 0
    ) -> Generator[dict[str, Any], None, None]:
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

    def _dc_issues(self, jql: str, ids: list[str], expand: str | None) -> Generator[dict[str, Any], None, None]:
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
            total = int_or(body.get("total"), start + len(issues))
            size = max(int_or(body.get("maxResults"), size), 1)
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
        updated = to_datetime(values.get("updated"))
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
            values={f.id: normalise(values.get(f.id), f) for f in fields},
            updated=updated,
            created=to_datetime(values.get("created")),
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
                "created": to_datetime(h.get("created")),
                "author": person_of(h.get("author")),
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
            total = int_or(body.get("total"), start) if isinstance(body, dict) else start
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


def _minutes_back(now: datetime, since: datetime) -> int:
    """Whole minutes from `now` back to at least `since`."""
    return max(1, math.ceil((now - since) / timedelta(minutes=1)))


def _ident(raw: dict[str, Any]) -> tuple[str, str]:
    """A record version: the same key with a newer `updated` is news, not a duplicate."""
    return str(raw.get("key") or raw.get("id")), str((raw.get("fields") or {}).get("updated"))


def _issues(body: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("issues", []), list):
        raise ConnectorError(f"jira {name!r}: the search answered without an issue list")
    return [i for i in body.get("issues") or [] if isinstance(i, dict)]


_NONE: frozenset[str] = frozenset()


def _show(value: Any) -> str:
    return "null" if value is None else type(value).__name__
