"""Salesforce through the real `simple_salesforce` client: sign-in, describe, SOQL pull.

Everything crosses the connector boundary as plain trackerbridge data: `simple_salesforce`
objects and exceptions stay inside. Errors become `ConnectorError`s that name environment
variables, never their values.

Requests go through our retry session (`tracker_session`): 429/503 honour Retry-After, 5xx and
dropped connections back off, a POST is never sent twice (but for a Composite made only of record
updates, which is idempotent like the PATCH it wraps), every attempt is counted in `calls`, and a
request sent without a timeout gets the connection's.

Writes go through Composite (`POST composite`), which counts as one API call for up to 5 sObject
Collections of 200 records each, so W updates cost ceil(W/1000) calls (a single collection is sent as
its own PATCH); the "turned red" Tasks likewise, 1000 a call:
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite_post.htm

A 403 REQUEST_LIMIT_EXCEEDED is not
retried at all: the org's API allowance is spent and every further call makes it worse.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_soql
from urllib3.util.retry import Retry

from trackerbridge.changes import Note, Outcome, RecordChange
from trackerbridge.config.connection import Connection
from trackerbridge.config.models import SalesforceConnector as SalesforceFile
from trackerbridge.config.models import SalesforceScope
from trackerbridge.connectors.base import (
    BOOLEAN,
    DATE,
    DATETIME,
    NUMBER,
    OPTION,
    REFERENCE,
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
    VersionUnsupported,
)
from trackerbridge.connectors.http import RESEND, retry_policy, tracker_session
from trackerbridge.connectors.record_write import (
    NOTE_ATTEMPTS,
    STOPS,
    Unreachable,
    WriteError,
    changed_since_read,
    chunked,
    maybe_sent,
    people_of,
    synced_fields,
    unique,
    unreachable,
)
from trackerbridge.connectors.salesforce_history import with_history
from trackerbridge.connectors.salesforce_write import (
    COLLECTION_MAX,
    COMPOSITE_RECORDS,
    MARKER_LIKE,
    markers_in,
    record_values,
    same_record,
    save_errors,
    task_record,
    update_record,
)
from trackerbridge.model import Person

DEFAULT_API_VERSION = "59.0"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = timedelta(minutes=3)  # Salesforce accepts at most 3 minutes (plus clock skew)
USER_COLUMNS = ("Email", "Name")  # read through a user reference's relationship
USER_PREFIX = "005"  # the key prefix of User ids
EMAIL_CHUNK = 100  # addresses per user lookup: the query travels in the URL (16 KB at most)

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_USER_ID = re.compile(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")


def _user_of_identity(url: Any) -> str | None:
    """The User Id at the end of an OAuth identity URL (`https://login.salesforce.com/id/00D.../005...`)."""
    last = str(url).rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) else ""
    return last if _USER_ID.fullmatch(last) else None


def _same_id(a: str, b: str) -> bool:
    """Salesforce Ids in their 15- or 18-character forms: the first 15 are case-sensitive and decide."""
    return a[:15] == b[:15]
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_DATA_PATH = re.compile(r"/services/data/v\d+\.\d+/?")
_SF_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")

# describe `type` -> normalised type; references are decided by their target, see `_field_type`.
_TYPES = {
    "picklist": OPTION,
    "multipicklist": OPTION,
    "combobox": OPTION,
    "date": DATE,
    "datetime": DATETIME,
    "boolean": BOOLEAN,
    "double": NUMBER,
    "currency": NUMBER,
    "percent": NUMBER,
    "int": NUMBER,
    "long": NUMBER,
    "string": TEXT,
    "textarea": TEXT,
    "email": TEXT,
    "phone": TEXT,
    "url": TEXT,
    "id": TEXT,
    "encryptedstring": TEXT,
    "time": TEXT,
}
# Compound and binary fields: their parts are separate fields, their values are not plain text.
_SKIPPED_TYPES = frozenset({"address", "location", "base64", "complexvalue"})


def _field_type(described: dict[str, Any]) -> str | None:
    """The normalised type of one describe field, or None for fields trackerbridge cannot use."""
    native = str(described.get("type") or "")
    if native == "reference":
        # A polymorphic owner (User or Group/queue) still reads through Owner.Email / Owner.Name.
        return USER if "User" in (described.get("referenceTo") or []) else REFERENCE
    if native in _SKIPPED_TYPES:
        return None
    return _TYPES.get(native, TEXT)


def parse_datetime(text: str) -> datetime:
    """Salesforce's wire format (2026-11-25T08:25:46.000+0000) and its ISO 8601 siblings, as aware UTC."""
    m = _SF_DATETIME.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a Salesforce datetime: {text!r}")
    day, clock, fraction, zone = m.groups()
    value = datetime.fromisoformat(f"{day}T{clock}").replace(
        microsecond=int((fraction or ".0")[1:7].ljust(6, "0")), tzinfo=timezone.utc
    )
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        value -= offset if zone[0] == "+" else -offset
    return value


def _to_ms(value: datetime) -> datetime:
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def endpoint_name(method: str, url: str) -> str:
    """A stable `calls` key: "GET query", "GET queryMore", "GET sobjects/Opportunity/describe", "POST oauth2/token".

    Record ids and query locators are folded away so the counter has one key per kind of call."""
    path = urlsplit(url).path
    m = _DATA_PATH.match(path)
    if m:
        path = path[m.end() :]
    elif path.startswith("/services/"):
        path = path[len("/services/") :]
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] in ("query", "queryAll"):
        return f"{method} {parts[0]}More"
    shown = ["{id}" if _RECORD_ID.fullmatch(p) and any(c.isdigit() for c in p) else p for p in parts]
    return f"{method} {'/'.join(shown) or '/'}"


@dataclass(frozen=True)
class _Column:
    """How one requested field is read from a query row."""

    key: str  # the id the caller asked for; the key in RawRecord.values
    name: str  # the API name, as describe spells it
    type: str  # normalised
    relationship: str | None = None  # for user references: Owner, Delivery_Owner__r
    multiple: bool = False  # a multipicklist: "A;B" is the values A and B


class SalesforceConnector(Connector):
    """One Salesforce org, scoped to one sObject (and an optional SOQL condition)."""

    system = "salesforce"

    def __init__(
        self,
        connection: Connection,
        *,
        retry: Retry | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """`retry` replaces the default policy (tests use a short backoff); `now` signs JWTs."""
        super().__init__(connection.name)
        if not isinstance(connection.scope, SalesforceScope):
            raise ConnectorError(f"connector {connection.name!r} is not a Salesforce connection")
        self.connection = connection
        self.scope: SalesforceScope = connection.scope
        file = connection.file
        self.api_version = file.api_version if isinstance(file, SalesforceFile) else DEFAULT_API_VERSION
        self._now = now or (lambda: datetime.now(timezone.utc))
        # simple-salesforce passes no timeout on most calls: the session gives each request ours.
        self._retry = retry or retry_policy()
        self.session = tracker_session(
            connection.ca_bundle, self._retry, timeout=connection.timeout, on_attempt=self._count
        )
        self.session.hooks["response"].append(self._on_response)
        self._client: Salesforce | None = None
        self._concurrency_waits = 0  # nested resends of one request refused for concurrency
        self._sleep = time.sleep
        self._renewed = False  # a mid-run expiry was answered by signing in again (only once)
        self._instance_url: str | None = None
        self._described: dict[str, Any] | None = None
        self._catalog: Catalog | None = None
        self._api_usage: str | None = None  # the last Sforce-Limit-Info, e.g. "api-usage=25/15000"
        self._people: dict[str, str | None] = {}  # Person.identity -> User Id; None: no active user
        self._people_why: dict[str, str] = {}  # identity -> why a lookup failed (not cached)
        self._user_id: str | None = None  # the signed-in User's Id: its writes are trackerbridge's

    # --- the Connector interface ----------------------------------------------------------------

    def server(self, *, identify: bool = True) -> ServerInfo:
        """Sign in; with `identify`, ask the OpenID Connect UserInfo endpoint who we are."""
        client = self._connect()
        url = self._instance_url or self.connection.url
        if not identify:
            self._own_id()  # now, so that the discovery kept for the next run holds it
            return ServerInfo("salesforce", "salesforce", self.api_version, url, "")
        try:
            info = client.oauth2("userinfo")
        except (SalesforceError, requests.RequestException) as exc:
            raise self._translate(exc, "the userinfo request") from None
        if not isinstance(info, dict):
            raise ConnectorError(f"Salesforce at {self._host()} answered the userinfo request without JSON")
        user = info.get("user_id")
        if self._user_id is None and isinstance(user, str) and _USER_ID.fullmatch(user):
            self._user_id = user
        return ServerInfo(
            system="salesforce",
            flavor="salesforce",
            version=self.api_version,
            url=url,
            user=str(info.get("name") or info.get("preferred_username") or info.get("user_id") or "?"),
            user_email=info.get("email") or None,
            time_zone=str(info.get("zoneinfo") or "UTC"),
        )

    def catalog(self) -> Catalog:
        """The scope object's fields, from one describe call (cached for the connector's life)."""
        if self._catalog is None:
            fields = []
            for described in self._describe()["fields"]:
                kind = _field_type(described)
                if kind is None:
                    continue
                options: tuple[str, ...] = ()
                if kind == OPTION:
                    values = described.get("picklistValues") or []
                    options = tuple(str(v["value"]) for v in values if v.get("active", True) and v.get("value"))
                fields.append(
                    FieldInfo(
                        id=described["name"],
                        name=described.get("label") or described["name"],
                        type=kind,
                        updateable=bool(described.get("updateable")),
                        options=options,
                        native_type=str(described.get("type") or ""),
                        length=int(described.get("length") or 0) if kind == TEXT else 0,
                        multiple=described.get("type") == "multipicklist",
                    )
                )
            self._catalog = Catalog(fields)
        return self._catalog

    def discovery(self) -> dict[str, Any]:
        """The scope object's describe, as Salesforce sent it, and the signed-in User's Id."""
        if self._described is None:
            return {}
        return {"describe": self._described, **({"userId": self._user_id} if self._user_id else {})}

    def reuse(self, discovery: Mapping[str, Any]) -> bool:
        described = discovery.get("describe")
        if self._described is not None or not isinstance(described, dict):
            return False
        user = discovery.get("userId")
        if isinstance(user, str) and _USER_ID.fullmatch(user):
            self._user_id = user
        if not isinstance(described.get("fields"), list):
            return False
        if str(described.get("name") or "").casefold() != self.scope.object.casefold():
            return False
        self._described = described
        return True

    def pull(
        self,
        fields: Sequence[FieldInfo],
        *,
        since: datetime | None = None,
        history: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> Iterator[RawRecord]:
        """Records in scope changed at or after `since` (SystemModstamp), oldest first, page by page.

        The fields are checked against describe now; the query runs when the iterator is first
        advanced, and only one page (2000 rows) is held at a time. A naive `since` is taken as UTC.
        SOQL datetime literals have whole seconds, so rows from earlier in `since`'s second are
        dropped here: the result is exactly SystemModstamp >= since, at Salesforce's ms precision.

        With `history`, each record carries its field history (`salesforce_history`: the requested
        fields' rows, one query per 200 records). `clock` is ignored: SOQL datetimes are UTC, with no
        time zone to learn.
        """
        described = self._describe()
        columns = [self._column(f, described) for f in fields]
        since = _to_ms(since) if since is not None else None
        self._own_id()
        rows = self._rows(self._soql(described["name"], columns, since), columns, since)
        if not history:
            return rows
        return with_history(rows, described["name"], [c.name for c in columns], self._history_rows, parse_datetime)

    def _history_rows(self, soql: str) -> list[dict[str, Any]]:
        """A field history query; an object without history tracking is a configuration problem (exit 2)."""
        try:
            return self._query(soql, "the field history query")
        except ConnectorError as exc:
            if "INVALID_TYPE" not in str(exc) and "is not supported" not in str(exc):
                raise
            name = self._described["name"] if self._described else self.scope.object
            raise ScopeRejected(
                f"{exc}; the mapping reads field history (history: true): turn on Field History Tracking for {name} "
                "in Setup (Object Manager, Fields & Relationships, Set History Tracking), or set history: false"
            ) from None

    def record_url(self, key: str) -> str:
        """The Lightning record page."""
        instance = self._instance_url or self.connection.url.rstrip("/")
        name = self._described["name"] if self._described else self.scope.object
        return f"{instance}/lightning/r/{name}/{quote(key, safe='')}/view"

    def close(self) -> None:
        self.session.close()

    # --- writing --------------------------------------------------------------------------------

    def resolve_people(self, people: Iterable[Person]) -> dict[str, str]:
        """Person.identity -> the Id of the active User with that e-mail (one SOQL per 100 addresses),
        cached for the connector's life. A person without an e-mail is matched by a User Id they
        already carry. Two active users with one address are ambiguous: left out, with the reason."""
        wanted = unique(people)
        todo = [p for p in wanted if p.identity not in self._people]
        by_email: dict[str, list[Person]] = {}
        by_id: dict[str, list[Person]] = {}
        for p in todo:
            if p.email:
                by_email.setdefault(p.email.casefold(), []).append(p)
            elif p.ref and _RECORD_ID.fullmatch(p.ref) and p.ref.startswith(USER_PREFIX):
                by_id.setdefault(same_record(p.ref), []).append(p)
            else:
                self._people[p.identity] = None
        self._match_users(by_email, "Email", EMAIL_CHUNK)
        self._match_users(by_id, "Id", COLLECTION_MAX)
        return {p.identity: ref for p in wanted if (ref := self._people.get(p.identity))}

    def _match_users(self, wanted: dict[str, list[Person]], column: str, size: int) -> None:
        """Look active users up by `column` (Email or Id) and cache what each person resolves to."""
        keys = sorted(wanted)
        for chunk in chunked(keys, size):
            soql = format_soql(
                "SELECT Id, Email FROM User WHERE IsActive = true AND {column:literal} IN {values}",
                column=column,
                values=list(chunk),
            )
            try:
                rows = self._query(soql, "the user lookup")
            except STOPS:
                raise
            except ConnectorError as exc:
                for key in chunk:
                    for p in wanted[key]:
                        self._people_why[p.identity] = str(exc)
                continue
            found: dict[str, set[str]] = {}
            for row in rows:
                value = _get(row, column)
                if isinstance(value, str):
                    key = value.casefold() if column == "Email" else same_record(value)
                    found.setdefault(key, set()).add(str(row["Id"]))
            for key in chunk:
                ids = found.get(key, set())
                for p in wanted[key]:
                    self._people[p.identity] = next(iter(ids)) if len(ids) == 1 else None
                    self._people_why.pop(p.identity, None)
                    if len(ids) > 1:
                        self._people_why[p.identity] = f"{len(ids)} active users share that e-mail address"

    def apply(self, changes: Sequence[RecordChange], fields: Mapping[str, FieldInfo]) -> Iterator[Outcome]:
        """Field changes through sObject Collections (PATCH, 200 records each, allOrNone=false, an
        outcome per record), up to 5 of them in one Composite call, then notes as Tasks, at most once
        per marker. A failed call fails the records it carried and the next call is still made; a
        spent quota (or rejected session, or unreachable org) stops: the outcomes already known are
        yielded, then it is raised."""
        todo = list(changes)
        if not todo:
            return
        sobject = self._describe()["name"]
        refs = self.resolve_people(people_of(todo))
        why = dict(self._people_why)
        saving: list[tuple[RecordChange, dict[str, Any]]] = []
        noting: list[RecordChange] = []  # fields saved (or none to save): their notes come next
        for change in todo:
            try:
                values = record_values(change, fields, refs, why)
            except WriteError as exc:
                yield Outcome(self.name, change.key, False, str(exc))
                continue
            if values:
                saving.append((change, values))
            elif change.notes:
                noting.append(change)
            else:
                yield Outcome(self.name, change.key, True)
        stopped: ConnectorError | None = None
        for wave in chunked(saving, COMPOSITE_RECORDS):
            chunks = list(chunked(wave, COLLECTION_MAX))
            try:
                moved = self._changed_since_read(sobject, wave, fields)
            except STOPS as exc:
                stopped = exc
                break
            for change, _ in wave:
                if change.key in moved:
                    yield Outcome(self.name, change.key, False, moved[change.key])
            kept = [[item for item in chunk if item[0].key not in moved] for chunk in chunks]
            kept = [chunk for chunk in kept if chunk]
            results, stop = self._save_wave(sobject, kept) if kept else ([], None)
            for chunk, errors in zip(kept, results, strict=True):
                if errors is None:  # the wave stopped before this collection's outcome was known
                    continue
                for (change, _), error in zip(chunk, errors, strict=True):
                    if error is not None:
                        gone = error.startswith("ENTITY_IS_DELETED")  # deleted since it was read: nothing to write
                        yield Outcome(self.name, change.key, False, error, gone=gone)
                    elif change.notes:
                        noting.append(change)
                    else:
                        yield Outcome(self.name, change.key, True)
            if stop is not None:
                stopped = stop
                break
        start = 0
        while stopped is None and start < len(noting):
            try:
                yield from self._note_chunk(noting[start : start + COMPOSITE_RECORDS], refs)
            except STOPS as exc:
                stopped = exc
                break
            start += COMPOSITE_RECORDS
        if stopped is not None:
            for change in noting[start:]:
                if change.fields:  # in `noting`, fields mean saved fields
                    yield Outcome(self.name, change.key, False, f"fields written; note not posted: {stopped}")
            raise stopped

    def _changed_since_read(
        self, sobject: str, wave: Sequence[tuple[RecordChange, dict[str, Any]]], fields: Mapping[str, FieldInfo]
    ) -> dict[str, str]:
        """Records of the wave whose synced fields a person changed since the read: key -> message.
        sObject Collections has no per-record precondition, so the synced fields are re-read (only
        for records that write synced values: a query per 200, the ids travel in its URL; more than
        one query go together in one Composite call) and those records are left out."""
        watched = {c.key: w for c, _ in wave if (w := synced_fields(c))} if self.recheck_synced else {}
        if not watched:
            return {}
        described = self._describe()
        columns = {fc.field: self._column(fields[fc.field], described) for w in watched.values() for fc in w}
        names = {"id": "Id"}
        for column in columns.values():
            names.setdefault(column.name.casefold(), column.name)
            for part in USER_COLUMNS if column.relationship else ():
                names.setdefault(f"{column.relationship}.{part}".casefold(), f"{column.relationship}.{part}")
        groups = list(chunked(list(watched), COLLECTION_MAX))
        queries = [
            format_soql(
                "SELECT {names:literal} FROM {sobject:literal} WHERE Id IN {ids}",
                names=", ".join(names.values()),
                sobject=sobject,
                ids=list(ids),
            )
            for ids in groups
        ]
        action = "re-reading synced fields before writing them"
        rows: list[dict[str, Any]] = []
        failed: dict[str, str] = {}
        try:
            answers = self._reread(queries, action)
        except STOPS:
            raise
        except ConnectorError as exc:
            return {key: f"not written: {exc}" for key in watched}
        for ids, answer in zip(groups, answers, strict=True):
            if isinstance(answer, ConnectorError):
                failed.update((key, f"not written: {answer}") for key in ids)
            else:
                rows.extend(answer)
        now = {same_record(str(r.get("Id"))): self._record(r, list(columns.values())).values for r in rows}
        out = dict(failed)
        for key, w in watched.items():
            values = now.get(same_record(key))
            message = changed_since_read(w, values) if values is not None and key not in failed else None
            if message is not None:
                out[key] = message
        return out

    def _reread(self, queries: Sequence[str], action: str) -> list[list[dict[str, Any]] | ConnectorError]:
        """Each query's rows (or the error that query met): one query alone, several (5 at most) as the
        Query subrequests of one Composite call, which is one API call; a spent quota raises."""
        if len(queries) == 1:
            return [self._query(queries[0], action)]
        base = f"/services/data/v{self.api_version}"
        subrequests = [{"method": "GET", "url": f"{base}/query?q={quote(q, safe='')}"} for q in queries]
        try:
            answers = self._composite_call(subrequests, resend=True)
        except (SalesforceError, requests.RequestException) as exc:
            raise self._translate(exc, action) from None
        if answers is None:
            raise ConnectorError(f"Salesforce answered Composite without one result per query while {action}")
        out: list[list[dict[str, Any]] | ConnectorError] = []
        for status, body in answers:
            if status != 200 or not isinstance(body, dict) or not isinstance(body.get("records"), list):
                failure = self._api_error(status, body, action)
                if isinstance(failure, STOPS):
                    raise type(failure)(self._scrub(str(failure)))
                out.append(type(failure)(self._scrub(str(failure))))
                continue
            found = [r for r in body["records"] if isinstance(r, dict)]
            next_url = body.get("nextRecordsUrl")
            while not body.get("done", True) and isinstance(next_url, str):  # more than a batch: not for 200 ids
                try:
                    body = self._connect().query_more(next_url, identifier_is_url=True)
                except (SalesforceError, requests.RequestException) as exc:
                    raise self._translate(exc, action) from None
                found += [r for r in body.get("records") or [] if isinstance(r, dict)]
                next_url = body.get("nextRecordsUrl")
            out.append(found)
        return out

    def _save(self, sobject: str, chunk: Sequence[tuple[RecordChange, dict[str, Any]]]) -> list[str | None]:
        """One PATCH composite/sobjects: per record, None (saved) or Salesforce's errors. A request
        Salesforce refuses whole (400: one value it cannot even parse) is split to find the record."""
        body = {"allOrNone": False, "records": [update_record(sobject, c.key, v) for c, v in chunk]}
        action = f"saving {len(chunk)} {sobject} record{'s' if len(chunk) != 1 else ''}"
        try:
            results = self._connect().restful("composite/sobjects", method="PATCH", json=body)
        except (SalesforceError, requests.RequestException) as exc:
            error = self._translate(exc, action)
            if isinstance(error, STOPS):
                raise error from None
            if isinstance(exc, SalesforceError) and exc.status == 400 and len(chunk) > 1:
                half = len(chunk) // 2
                return self._save(sobject, chunk[:half]) + self._save(sobject, chunk[half:])
            return [str(error)] * len(chunk)
        if not isinstance(results, list) or len(results) != len(chunk):
            count = len(results) if isinstance(results, list) else "no"
            return [f"Salesforce answered {count} results for {len(chunk)} records while {action}"] * len(chunk)
        return [None if isinstance(r, dict) and r.get("success") is True else save_errors(r) for r in results]

    def _save_wave(
        self, sobject: str, chunks: Sequence[Sequence[tuple[RecordChange, dict[str, Any]]]]
    ) -> tuple[list[list[str | None] | None], ConnectorError | None]:
        """Up to 5 collections in one Composite call: per collection, its records' results (None: not
        known, the run stopped first), and the error that stops the run, if one did (the collections
        Salesforce did answer keep their results). One collection alone is its own PATCH. A collection
        Salesforce refused whole (400) is sent again alone and split to find the record (`_save`); so is
        every collection of a composite refused whole."""
        if len(chunks) == 1:
            try:
                return [self._save(sobject, chunks[0])], None
            except STOPS as exc:
                return [None], exc
        size = sum(len(c) for c in chunks)
        action = f"saving {size} {sobject} records"
        subrequests = [
            {"allOrNone": False, "records": [update_record(sobject, c.key, v) for c, v in chunk]} for chunk in chunks
        ]
        try:
            answers = self._composite("PATCH", subrequests, resend=True)
        except (SalesforceError, requests.RequestException) as exc:
            error = self._translate(exc, action)
            if isinstance(error, STOPS):
                return [None] * len(chunks), error
            if not (isinstance(exc, SalesforceError) and exc.status == 400):
                return [[str(error)] * len(chunk) for chunk in chunks], None
            answers = [(400, None)] * len(chunks)  # refused whole: each collection again alone
        if answers is None:
            message = f"Salesforce answered Composite without one result per collection while {action}"
            return [[message] * len(chunk) for chunk in chunks], None
        results: list[list[str | None] | None] = []
        again: list[int] = []
        stop: ConnectorError | None = None
        for n, chunk in enumerate(chunks):
            status, body = answers[n]
            if status == 200 and isinstance(body, list) and len(body) == len(chunk):
                results.append([None if isinstance(r, dict) and r.get("success") is True else save_errors(r)
                                for r in body])
                continue
            failure = self._api_error(status, body, action) if status >= 400 else None
            if isinstance(failure, STOPS):  # the other collections' outcomes are still known: keep them
                stop = stop or type(failure)(self._scrub(str(failure)))
                results.append(None)
                continue
            if status == 400:  # a value Salesforce cannot even parse: this collection alone, split
                again.append(n)
                results.append(None)
                continue
            message = str(failure) if failure is not None else (
                f"Salesforce answered {len(body) if isinstance(body, list) else 'no'} results for "
                f"{len(chunk)} records while {action}"
            )
            results.append([self._scrub(message)] * len(chunk))
        for n in again if stop is None else ():  # no more calls once the run must stop
            try:
                results[n] = self._save(sobject, chunks[n])
            except STOPS as exc:
                return results, exc
        return results, stop

    def _composite(
        self, method: str, bodies: Sequence[dict[str, Any]], *, resend: bool
    ) -> list[tuple[int, Any]] | None:
        """One POST composite of sObject Collections subrequests (`method` composite/sobjects, one per
        body, in order): each subrequest's (httpStatusCode, body), or None for an answer without one
        result per subrequest. A request that failed whole raises as simple-salesforce raises it.
        `resend` lets the retry layer resend it (updates only: a create must not be sent twice)."""
        url = f"/services/data/v{self.api_version}/composite/sobjects"
        return self._composite_call([{"method": method, "url": url, "body": body} for body in bodies], resend=resend)

    def _composite_call(self, subrequests: Sequence[dict[str, Any]], *, resend: bool) -> list[tuple[int, Any]] | None:
        """POST composite with these subrequests (method, url, body), referenceIds c0, c1, ...: each one's
        (httpStatusCode, body) in order, or None for an answer without one result per subrequest."""
        request = {
            "allOrNone": False,
            "compositeRequest": [{**sub, "referenceId": f"c{n}"} for n, sub in enumerate(subrequests)],
        }
        extra: dict[str, Any] = {"headers": {RESEND: "1"}} if resend else {}
        answer = self._connect().restful("composite", method="POST", json=request, **extra)
        found = answer.get("compositeResponse") if isinstance(answer, dict) else None
        if not isinstance(found, list) or len(found) != len(subrequests):
            return None
        by_ref = {r.get("referenceId"): r for r in found if isinstance(r, dict)}
        out: list[tuple[int, Any]] = []
        for n in range(len(subrequests)):
            r = by_ref.get(f"c{n}", {})
            status = r.get("httpStatusCode")
            out.append((status if isinstance(status, int) else 500, r.get("body")))
        return out

    def _note_chunk(self, chunk: Sequence[RecordChange], refs: Mapping[str, str]) -> Iterator[Outcome]:
        """Tasks for up to 1000 records: one query per 200 for the markers already there (only on records with a
        note an earlier run may have posted, `Note.maybe_posted`; none when there is no such note),
        then the missing ones."""
        existing = self._markers([c.key for c in chunk if any(n.maybe_posted for n in c.notes)])
        wanted: list[tuple[RecordChange, Note]] = []
        asked: set[tuple[str, str]] = set()
        for change in chunk:
            have = existing.setdefault(same_record(change.key), set())
            for note in change.notes:
                ident = (same_record(change.key), note.marker)
                if note.marker not in have and ident not in asked:
                    asked.add(ident)
                    wanted.append((change, note))
        failed: dict[str, str] = {}
        for batch in chunked(wanted, COMPOSITE_RECORDS):
            for (change, note), error in zip(batch, self._create_tasks(batch, refs), strict=True):
                if error is None:
                    existing[same_record(change.key)].add(note.marker)
                else:
                    failed.setdefault(change.key, f"note {note.marker} not posted: {error}")
        for change in chunk:
            have = existing[same_record(change.key)]
            posted = tuple(dict.fromkeys(n.marker for n in change.notes if n.marker in have))
            error = failed.get(change.key)
            if error is not None and change.fields:
                error = "fields written; " + error
            yield Outcome(self.name, change.key, error is None, error, posted)

    def _markers(self, keys: Sequence[str]) -> dict[str, set[str]]:
        """Record (15-character id) -> markers of trackerbridge Tasks on it: one SOQL per 200 records."""
        out: dict[str, set[str]] = {}
        for chunk in chunked(list(dict.fromkeys(keys)), COLLECTION_MAX):
            soql = format_soql(
                "SELECT Id, WhatId, Subject FROM Task WHERE WhatId IN {ids} AND Subject LIKE {like}",
                ids=list(chunk),
                like=MARKER_LIKE,
            )
            for row in self._query(soql, "the query for notes already posted"):
                what = _get(row, "WhatId")
                if isinstance(what, str):
                    out.setdefault(same_record(what), set()).update(markers_in(_get(row, "Subject")))
        return out

    def _create_tasks(self, batch: Sequence[tuple[RecordChange, Note]], refs: Mapping[str, str]) -> list[str | None]:
        """POST composite/sobjects for the batch's Tasks (more than 200: collections of 200 in one
        Composite call): per Task, None (it exists now) or the error.

        A POST is never resent blindly: after a 5xx or a dropped connection the markers are queried
        again and only Tasks still missing are sent again."""
        results: list[str | None] = [None] * len(batch)
        remaining = list(range(len(batch)))
        attempts = _attempts(self._retry)
        for attempt in range(attempts):
            if attempt:
                there = self._markers([batch[i][0].key for i in remaining])
                remaining = [
                    i for i in remaining if batch[i][1].marker not in there.get(same_record(batch[i][0].key), set())
                ]
                if not remaining:
                    return results
            records = []
            for i in remaining:
                change, note = batch[i]
                owner = refs.get(note.mention.identity) if note.mention is not None else None
                records.append(task_record(change.key, note, owner))
            action = f"creating {len(records)} Task{'s' if len(records) != 1 else ''}"
            try:
                answer = self._post_tasks(records, action)
            except (SalesforceError, requests.RequestException) as exc:
                error = self._translate(exc, action)
                if isinstance(error, STOPS):
                    raise error from None
                again = maybe_sent(exc) or (isinstance(exc, SalesforceError) and exc.status >= 500)
                if not again or attempt == attempts - 1:
                    for i in remaining:
                        results[i] = str(error)
                    return results
                time.sleep(_backoff(self._retry, attempt))
                continue
            if not isinstance(answer, list) or len(answer) != len(remaining):
                for i in remaining:
                    results[i] = f"Salesforce answered {action} without one result per Task"
                return results
            for i, result in zip(remaining, answer, strict=True):
                ok = isinstance(result, dict) and result.get("success") is True
                results[i] = None if ok else save_errors(result)
            return results
        return results

    def _post_tasks(self, records: Sequence[dict[str, Any]], action: str) -> Any:
        """Create the Tasks: one collection, or up to 5 in a Composite call (never resent by the retry
        layer: the caller checks the markers before it sends again). The results, in order, as one
        collection would give them; a collection refused whole fails its Tasks with its errors."""
        body = {"allOrNone": False, "records": list(records)}
        if len(records) <= COLLECTION_MAX:
            return self._connect().restful("composite/sobjects", method="POST", json=body)
        parts = [{"allOrNone": False, "records": list(c)} for c in chunked(records, COLLECTION_MAX)]
        answers = self._composite("POST", parts, resend=False)
        if answers is None:
            return None  # the caller reports an answer without one result per Task
        results: list[Any] = []
        for part, (status, found) in zip(parts, answers, strict=True):
            if status == 200 and isinstance(found, list) and len(found) == len(part["records"]):
                results.extend(found)
                continue
            failure = self._api_error(status, found, action)
            if isinstance(failure, STOPS):
                raise type(failure)(self._scrub(str(failure)))
            said = [{"statusCode": "ERROR", "message": self._scrub(str(failure))}]
            results.extend({"success": False, "errors": said} for _ in part["records"])
        return results

    def _query(self, soql: str, action: str) -> list[dict[str, Any]]:
        try:
            return [row for row in self._connect().query_all_iter(soql) if isinstance(row, dict)]
        except (SalesforceError, requests.RequestException) as exc:
            raise self._translate(exc, action) from None

    # --- query ----------------------------------------------------------------------------------

    def _column(self, field: FieldInfo, described: dict[str, Any]) -> _Column:
        by_name = {f["name"].casefold(): f for f in described["fields"]}
        found = by_name.get(field.id.casefold())
        if found is None or not _API_NAME.fullmatch(found["name"]):
            hint = self.catalog().suggest(field.id)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise ConnectorError(f"{described['name']} has no field {field.id!r}{suggestion}")
        kind = _field_type(found)
        if kind is None:
            raise ConnectorError(
                f"{described['name']}.{found['name']} is a {found.get('type')} field, which cannot be read"
            )
        relationship = found.get("relationshipName") if kind == USER else None
        if relationship is not None and not _API_NAME.fullmatch(relationship):
            relationship = None
        return _Column(field.id, found["name"], kind, relationship, found.get("type") == "multipicklist")

    def _soql(self, sobject: str, columns: list[_Column], since: datetime | None) -> str:
        """Values (the watermark) are quoted by format_soql; names were checked against describe."""
        names = ["Id", "SystemModstamp", "LastModifiedById", "CreatedDate"]
        for column in columns:
            names.append(column.name)
            if column.relationship:
                names.extend(f"{column.relationship}.{part}" for part in USER_COLUMNS)
        unique: dict[str, str] = {}
        for name in names:
            unique.setdefault(name.casefold(), name)
        conditions = []
        if self.scope.where and self.scope.where.strip():
            conditions.append(format_soql("({where:literal})", where=self.scope.where))
        if since is not None:
            conditions.append(format_soql("SystemModstamp >= {}", since))
        soql = format_soql(
            "SELECT {names:literal} FROM {sobject:literal}", names=", ".join(unique.values()), sobject=sobject
        )
        if conditions:
            soql += " WHERE " + " AND ".join(conditions)
        return soql + " ORDER BY SystemModstamp, Id"

    def _rows(self, soql: str, columns: list[_Column], since: datetime | None) -> Iterator[RawRecord]:
        client = self._connect()
        try:
            for row in client.query_all_iter(soql):
                record = self._record(row, columns)
                if since is not None and record.updated is not None and record.updated < since:
                    continue  # same second as the watermark, but earlier
                yield record
        except SalesforceError as exc:
            codes = (
                {e.get("errorCode") for e in exc.content if isinstance(e, dict)}
                if isinstance(exc.content, list)
                else set()
            )
            if exc.status == 400 and codes & {"MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE"}:
                error = self._translate(exc, "the query")
                fix = f"check the scope in connectors/{self.name}.yaml and the mapped fields (trackerbridge check)"
                raise ScopeRejected(f"{error}; {fix}") from None
            raise self._translate(exc, "the query") from None
        except requests.RequestException as exc:
            raise self._translate(exc, "the query") from None

    def _record(self, row: dict[str, Any], columns: list[_Column]) -> RawRecord:
        key = str(row["Id"])
        stamp, born = row.get("SystemModstamp"), row.get("CreatedDate")
        values = {}
        for column in columns:
            try:
                values[column.key] = self._value(row, column)
            except (TypeError, ValueError) as exc:
                raise ConnectorError(f"{key}: cannot read {column.name} as {column.type}: {exc}") from None
        modifier = row.get("LastModifiedById")
        return RawRecord(
            key=key,
            url=self.record_url(key),
            values=values,
            updated=parse_datetime(stamp) if isinstance(stamp, str) else None,
            ours=isinstance(modifier, str) and self._user_id is not None and _same_id(modifier, self._user_id),
            created=parse_datetime(born) if isinstance(born, str) else None,
        )

    @staticmethod
    def _value(row: dict[str, Any], column: _Column) -> Any:
        raw = _get(row, column.name)
        if column.type == USER:
            if raw is None:
                return None
            related = _get(row, column.relationship) if column.relationship else None
            related = related if isinstance(related, dict) else {}
            return Person(email=related.get("Email") or None, name=related.get("Name") or None, ref=str(raw))
        if raw is None:
            return None
        if column.type == DATE:
            return date.fromisoformat(str(raw)[:10])
        if column.type == DATETIME:
            return parse_datetime(str(raw))
        if column.type == NUMBER:
            return float(raw)
        if column.type == BOOLEAN:
            return raw if isinstance(raw, bool) else str(raw).lower() == "true"
        if column.multiple:  # the REST API sends a multipicklist's values joined by ';'
            return [v for v in str(raw).split(";") if v]
        return str(raw)

    # --- describe -------------------------------------------------------------------------------

    def _describe(self) -> dict[str, Any]:
        if self._described is None:
            sobject = self.scope.object
            if not _API_NAME.fullmatch(sobject):
                raise ConnectorError(f"sObject type {sobject!r} is not an API name (scope.object of {self.name!r})")
            client = self._connect()
            try:
                described = client.restful(f"sobjects/{sobject}/describe")
            except SalesforceError as exc:
                if exc.status == 404:
                    self._require_version()
                    raise ConnectorError(
                        f"sObject type {sobject!r} is not supported by the org at {self._host()} "
                        f"(scope.object of connector {self.name!r}); use the API name, e.g. Opportunity "
                        "or Initiative__c, and check the user can see it"
                    ) from None
                raise self._translate(exc, f"the describe of {sobject}") from None
            except requests.RequestException as exc:
                raise self._translate(exc, f"the describe of {sobject}") from None
            if not isinstance(described, dict) or not isinstance(described.get("fields"), list):
                raise ConnectorError(f"Salesforce answered the describe of {sobject} without a field list")
            self._described = described
        return self._described

    def _require_version(self) -> None:
        """A 404 may mean the org does not serve our API version at all: ask `GET /services/data/`
        (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_versions.htm)
        and say which versions it does serve."""
        url = f"{self._instance_url or self.connection.url.rstrip('/')}/services/data/"
        try:
            response = self.session.get(url, headers={"Accept": "application/json"})
            listed = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return  # the describe's own error says what is known
        served = [str(v["version"]) for v in listed or [] if isinstance(v, dict) and v.get("version")]
        if served and self.api_version not in served:
            raise VersionUnsupported(
                f"Salesforce at {self._host()} does not serve API version {self.api_version} (api_version in "
                f"connectors/{self.name}.yaml); it serves {', '.join(served)}: set api_version to one of them, "
                f'e.g. "{served[-1]}"'
            )

    # --- sign-in --------------------------------------------------------------------------------

    def _own_id(self) -> str | None:
        """The signed-in User's Id: from the OAuth token answer's identity URL, an earlier run's
        discovery, or (an access-token session) one UserInfo request. Records whose LastModifiedById
        it is were last changed by trackerbridge (see `trackerbridge.activity`)."""
        if self._user_id is None:
            client = self._connect()
            if self._user_id is None:
                try:
                    info = client.oauth2("userinfo")
                except (SalesforceError, requests.RequestException) as exc:
                    raise self._translate(exc, "the userinfo request") from None
                user = info.get("user_id") if isinstance(info, dict) else None
                self._user_id = str(user) if isinstance(user, str) and _USER_ID.fullmatch(user) else None
        return self._user_id

    def _connect(self) -> Salesforce:
        if self._client is None:
            token, instance = self._sign_in()
            self._instance_url = instance.rstrip("/")
            self._client = Salesforce(
                session_id=token, instance_url=self._instance_url, version=self.api_version, session=self.session
            )
            if self.connection.auth_method in ("password", "jwt"):
                # The client's own hook for INVALID_SESSION_ID: it signs in again through us and repeats the call.
                self._client._salesforce_login_partial = self._renew
        return self._client

    def _renew(self) -> tuple[str, str]:
        """A session that expired mid-run is renewed once by signing in again; a second expiry in one run
        means something else is wrong (a revoked app, a policy of very short sessions): stop."""
        if self._renewed:
            raise AuthError(self._session_rejected("INVALID_SESSION_ID, again after signing in anew"))
        self._renewed = True
        token, instance = self._sign_in()
        self._instance_url = instance.rstrip("/")
        return token, _host(self._instance_url)

    def _sign_in(self) -> tuple[str, str]:
        """An access token and the instance URL it works against."""
        method = self.connection.auth_method
        if method == "access_token":
            return self.connection.secret("token").reveal(), self.connection.url
        if method == "password":
            password = self._reveal("password") + (self._reveal("security_token") or "")
            form = {
                "grant_type": "password",
                "client_id": self._reveal("client_id"),
                "client_secret": self._reveal("client_secret"),
                "username": self._reveal("username"),
                "password": password,
            }
            return self._token(form)
        if method == "jwt":
            return self._token({"grant_type": JWT_GRANT, "assertion": self._assertion()})
        raise AuthError(f"connector {self.name!r}: unknown Salesforce auth method {method!r}")

    def _reveal(self, role: str) -> str:
        secret = self.connection.credentials.get(role)
        return secret.reveal() if secret is not None else ""

    def _login_url(self) -> str:
        return (self.connection.login_url or self.connection.url or DEFAULT_LOGIN_URL).rstrip("/")

    def _audience(self) -> str:
        """The JWT `aud`: login or test.salesforce.com, as Salesforce's docs require, even when the
        token is requested from a My Domain; an Experience Cloud site's URL; else the login URL's origin."""
        url = urlsplit(self._login_url())
        host = (url.hostname or "").lower()
        if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
            return "https://test.salesforce.com"
        if host == "login.salesforce.com" or host.endswith(".my.salesforce.com"):
            return "https://login.salesforce.com"
        if host.endswith((".my.site.com", ".force.com")) and url.path.strip("/"):
            return f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}"
        return f"{url.scheme}://{url.netloc}"

    def _assertion(self) -> str:
        path = self.connection.key_file
        if not path:
            raise AuthError(f"connector {self.name!r}: the JWT flow needs key_file (or key_file_env)")
        try:
            with open(path, "rb") as handle:
                key = handle.read()
        except OSError as exc:
            raise AuthError(f"cannot read the JWT private key {path}: {exc.strerror or exc}") from None
        claims = {
            "iss": self._reveal("client_id"),
            "sub": self._reveal("username"),
            "aud": self._audience(),
            "exp": int((self._now() + JWT_LIFETIME).timestamp()),
        }
        try:
            return jwt.encode(claims, key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise AuthError(f"the JWT private key {path} is not a PEM-encoded RSA private key") from None

    def _token(self, form: dict[str, str]) -> tuple[str, str]:
        """POST the OAuth token request ourselves: simple-salesforce's login cannot take our login URL or CA."""
        url = f"{self._login_url()}/services/oauth2/token"
        try:
            response = self.session.post(url, data=form, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise self._translate(exc, "the login", url) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict):
            token, instance = body.get("access_token"), body.get("instance_url")
            if isinstance(token, str) and token and isinstance(instance, str) and instance.startswith("https://"):
                self._user_id = self._user_id or _user_of_identity(body.get("id"))
                return token, instance
            raise ConnectorError(f"Salesforce login at {_host(url)} answered without an access token and instance URL")
        if isinstance(body, dict) and body.get("error"):
            raise AuthError(self._oauth_failure(str(body["error"]), str(body.get("error_description") or "")))
        raise ConnectorError(
            f"Salesforce login at {_host(url)} answered HTTP {response.status_code}{_snippet(response)}"
        )

    def _oauth_failure(self, error: str, description: str) -> str:
        method = self.connection.auth_method
        grant = "password" if method == "password" else "JWT bearer"
        if error in ("invalid_client_id", "invalid_client"):
            roles = ["client_id"] if error == "invalid_client_id" else ["client_id", "client_secret"]
            hint = "the connected app's consumer key" + (" and secret" if len(roles) > 1 else "")
        elif method == "password":
            roles = ["username", "password", "security_token"]
            hint = "the user's password with its security token appended, or the org's IP restrictions"
        else:
            roles = ["username"]
            hint = (
                f"that the user is pre-authorised for the connected app, and that its certificate matches the key "
                f"{self.connection.key_file}"
            )
        if error not in ("invalid_client_id", "invalid_client", "invalid_grant"):
            roles = list(self.connection.credentials)
            hint = "the login URL and the connected app's OAuth settings"
        named = ", ".join(f"${s.source}" for r in roles if (s := self.connection.credentials.get(r)) is not None)
        said = f"{error}: {description}" if description else error
        return self._scrub(
            f"Salesforce login at {_host(self._login_url())} refused the {grant} grant ({said}); "
            f"check {named or 'the credentials'} ({hint})"
        )

    # --- counting and errors --------------------------------------------------------------------

    def _count(self, method: str, url: str, dropped: bool) -> None:
        """Every attempt that reached Salesforce, retries and dropped connections included."""
        self.calls[endpoint_name(method, url)] += 1

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response | None:
        usage = response.headers.get("Sforce-Limit-Info")
        if usage:
            self._api_usage = usage
        if response.status_code == 403 and _concurrency_limited(response):
            return self._after_concurrency_limit(response, kwargs)
        return None

    def _after_concurrency_limit(self, response: requests.Response, sent: dict[str, Any]) -> requests.Response | None:
        """REQUEST_LIMIT_EXCEEDED for ConcurrentPerOrgLongTxn is the org's limit on requests running
        longer than 20 s at once, not the daily allowance: wait and send again (the refused request was
        not carried out, so even a POST may go again), as often as the retry policy allows."""
        if self._concurrency_waits >= _attempts(self._retry) or response.request is None:
            return None  # the last refusal goes to the caller, who names it
        attempt = self._concurrency_waits
        self._concurrency_waits += 1
        try:
            self._sleep(_backoff(self._retry, attempt))
            keep = {k: sent[k] for k in ("timeout", "verify", "cert", "proxies", "stream") if k in sent}
            return self.session.send(response.request.copy(), **keep)
        finally:
            self._concurrency_waits -= 1

    def _host(self) -> str:
        return _host(self._instance_url or self.connection.url)

    def _scrub(self, text: str) -> str:
        """Belt and braces: no credential value survives into a message, whatever a server echoed."""
        for secret in self.connection.credentials.values():
            value = secret.reveal()
            if len(value) >= 4 and value in text:
                text = text.replace(value, str(secret))
        return text

    def _translate(self, exc: Exception, action: str, contacted: str | None = None) -> ConnectorError:
        """`contacted`: the URL the failed request went to, when it is not the instance (the login host)."""
        if isinstance(exc, SalesforceError):
            error = self._api_error(exc.status, exc.content, action)
        elif isinstance(exc, requests.RequestException):
            error = self._network_error(exc, contacted or self._instance_url or self.connection.url)
        else:
            error = ConnectorError(f"{action} failed: {type(exc).__name__}")
        return type(error)(self._scrub(str(error)))

    def _api_error(self, status: int, content: Any, action: str) -> ConnectorError:
        """Salesforce's error body, `[{"errorCode", "message", "fields"}]`, as a message without secrets."""
        errors = [e for e in content if isinstance(e, dict)] if isinstance(content, list) else []
        code = str(errors[0].get("errorCode") or "") if errors else ""
        text = content.strip() if isinstance(content, str) else ""
        if status == 401 or code == "INVALID_SESSION_ID" or text in ("Bad_OAuth_Token", "Missing_OAuth_Token"):
            return AuthError(self._session_rejected(code or text or f"HTTP {status}"))
        if code == "REQUEST_LIMIT_EXCEEDED" and "ConcurrentPerOrgLongTxn" in str(errors[0].get("message") or ""):
            return ConnectorError(
                f"Salesforce refused {action}: too many long-running requests at once in the org "
                f"(ConcurrentPerOrgLongTxn), still after {_attempts(self._retry)} waits; this is not the daily "
                "API limit: run again later"
            )
        if code == "REQUEST_LIMIT_EXCEEDED":
            m = re.search(r"api-usage=(\d+/\d+)", self._api_usage or "")
            usage = f"api-usage {m.group(1)}" if m else "no usage reported"
            said = errors[0].get("message") or ""
            return QuotaExceeded(
                f"Salesforce API request limit reached ({usage}); stopping"
                + (f". Salesforce said: {said}" if said else "")
            )
        if errors:
            parts = []
            for error in errors:
                fields = error.get("fields") or []
                shown = f" (fields: {', '.join(map(str, fields))})" if fields else ""
                parts.append(f"{error.get('errorCode') or 'ERROR'}: {error.get('message') or ''}{shown}")
            return ConnectorError(f"Salesforce refused {action}: {'; '.join(parts)}")
        return ConnectorError(f"Salesforce answered HTTP {status} to {action}{_text_snippet(text)}")

    def _session_rejected(self, code: str) -> str:
        method = self.connection.auth_method
        if method == "access_token":
            return f"the access token from ${self.connection.secret('token').source} was rejected ({code})"
        username = self.connection.credentials.get("username")
        who = f" for ${username.source}" if username is not None else ""
        grant = "password" if method == "password" else "JWT bearer"
        return f"the Salesforce session from the {grant} grant{who} was rejected ({code})"

    def _network_error(self, exc: requests.RequestException, url: str) -> ConnectorError:
        host = _host(url)
        if isinstance(exc, requests.exceptions.SSLError):
            bundle = self.connection.ca_bundle
            hint = (
                f"the CA bundle {bundle} (ca_bundle or ca_bundle_env in the connector file) does not sign its "
                "certificate; set it to the PEM bundle of the CA that does"
                if bundle
                else "if it uses a private CA, set ca_bundle (or ca_bundle_env) to that CA's PEM bundle"
            )
            return Unreachable(f"TLS verification of {host} failed ({_reason(exc)}); {hint}")
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return Unreachable(f"cannot reach Salesforce at {host}: no connection within {self.connection.timeout:g} s")
        if isinstance(exc, requests.exceptions.Timeout):
            return ConnectorError(f"Salesforce at {host} did not answer within {self.connection.timeout:g} s")
        if isinstance(exc, requests.exceptions.InvalidJSONError):
            return ConnectorError(f"Salesforce at {host} answered with something that is not JSON")
        if isinstance(exc, requests.exceptions.RetryError):
            return ConnectorError(f"Salesforce at {host} kept failing after retries ({_reason(exc)})")
        kind = Unreachable if unreachable(exc) else ConnectorError
        return kind(f"cannot reach Salesforce at {host}: {_reason(exc)}")


def _attempts(policy: Retry) -> int:
    """Check-then-create rounds for notes: as many as the retry policy gives any other request."""
    total = policy.total if isinstance(policy.total, int) and not isinstance(policy.total, bool) else 0
    return max(NOTE_ATTEMPTS, total)


def _backoff(policy: Retry, attempt: int) -> float:
    factor = float(getattr(policy, "backoff_factor", 0.5) or 0.0)
    cap = float(getattr(policy, "backoff_max", 30.0) or 30.0)
    return float(min(cap, factor * (2**attempt)))


def _concurrency_limited(response: requests.Response) -> bool:
    """Whether a 403 is the transient concurrent-request limit (not the daily one, TotalRequests)."""
    head = response.content[:4000]
    return b"REQUEST_LIMIT_EXCEEDED" in head and b"ConcurrentPerOrgLongTxn" in head


def _get(row: dict[str, Any], name: str | None) -> Any:
    """A row's value by API name; Salesforce may spell the key in another case than describe."""
    if name is None:
        return None
    if name in row:
        return row[name]
    folded = name.casefold()
    return next((v for k, v in row.items() if k.casefold() == folded), None)


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


def _reason(exc: BaseException) -> str:
    """The innermost useful words of a requests/urllib3 error chain, without URLs or request bodies."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        nested = [a for a in current.args if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else nested[0] if nested else current.__cause__
    for error in reversed(seen):
        text = str(error)
        m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text) or re.search(r"(certificate verify failed[^('\")]*)", text)
        if m:
            return m.group(1).strip()
        if text and "://" not in text and "host=" not in text:
            return text.strip()
    return type(exc).__name__


def _snippet(response: requests.Response) -> str:
    return _text_snippet(response.text if response.content else "")


def _text_snippet(text: str) -> str:
    """A short, tag-free excerpt of an unexpected answer (Salesforce's HTML maintenance page, say)."""
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    plain = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    plain = " ".join(plain.split())
    return f": {plain[:160]}" if plain else ""
