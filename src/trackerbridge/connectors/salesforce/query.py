"""Salesforce through the real `simple_salesforce` client: sign-in, describe, SOQL pull.

Everything crosses the connector boundary as plain trackerbridge data: `simple_salesforce`
objects and exceptions stay inside. Errors become `ConnectorError`s that name environment
variables, never their values.

Reading lives here (describe, the scope's SOQL and its rows); signing in and the calls in `client`,
failures in `errors`, writes in `write` (see the package docstring).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_soql
from urllib3.util.retry import Retry

from trackerbridge.config.connection import Connection
from trackerbridge.config.models import SalesforceConnector as SalesforceFile
from trackerbridge.config.models import SalesforceScope
from trackerbridge.connectors.base import (
    BOOLEAN,
    DATE,
    DATETIME,
    NUMBER,
    OPTION,
    TEXT,
    USER,
    Catalog,
    ConnectorError,
    FieldInfo,
    RawRecord,
    ScopeRejected,
    ServerInfo,
    VersionUnsupported,
)
from trackerbridge.connectors.http import retry_policy, tracker_session
from trackerbridge.connectors.salesforce.client import SalesforceClient
from trackerbridge.connectors.salesforce.history import with_history
from trackerbridge.connectors.salesforce.values import (
    USER_ID,
    _Column,
    _field_type,
    _same_id,
    _to_ms,
    field_value,
    parse_datetime,
)
from trackerbridge.model import Person

DEFAULT_API_VERSION = "59.0"
USER_COLUMNS = ("Email", "Name")  # read through a user reference's relationship

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class SalesforceQuery(SalesforceClient):
    """Reading one Salesforce org, scoped to one sObject (and an optional SOQL condition): describe and SOQL."""

    system = "salesforce"

    def __init__(
        self,
        connection: Connection,
        *,
        retry: Retry | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """`retry` replaces the default policy (tests use a short backoff); `now` signs JWTs."""
        super().__init__(connection)
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
        if self._user_id is None and isinstance(user, str) and USER_ID.fullmatch(user):
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
        if isinstance(user, str) and USER_ID.fullmatch(user):
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

        With `history`, each record carries its field history (`salesforce.history`: the requested
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
            codes: set[Any] = (
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
        raw = field_value(row, column.name)
        if column.type == USER:
            if raw is None:
                return None
            related = field_value(row, column.relationship) if column.relationship else None
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
