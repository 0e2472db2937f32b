"""Signing in to Jira and sending its requests: the `jira` client with our retry layer and call
counter mounted on its session, serverInfo and the flavour, and each call's failure turned into a
`ConnectorError` (`JiraErrors`).

- One retry layer. The client's own retries are switched off (`max_retries=0`) and our policy
  (`trackerbridge.connectors.http.mount_retry`) is mounted on its session, so a 429 is not
  retried by two loops with two ideas of Retry-After. Every attempt is counted in `calls`; a
  Retry-After longer than `max_retry_after` is not waited for but reported as a spent quota.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from jira import JIRA, JIRAError
from urllib3.util.retry import Retry

from trackerbridge.connectors.base import ConnectorError
from trackerbridge.connectors.errors import maybe_sent
from trackerbridge.connectors.http import NO_RESEND, mount_retry
from trackerbridge.connectors.jira.errors import JiraErrors

_API_PATH = re.compile(r"^/rest/api/(?:\d+|latest)/")
_ISSUE_PATH = re.compile(r"^issue/[^/]+")


class JiraClient(JiraErrors):
    """The connection to one Jira site (the attributes are set by `JiraConnector.__init__`)."""

    dropped: Counter[str]
    _retry: Retry
    _client: JIRA | None
    _server_info: dict[str, Any] | None
    _server_date: datetime | None
    _server_seen: tuple[datetime, float] | None
    _me: dict[str, Any] | None
    _base_path: str
    _count_lock: threading.Lock

    @property
    def flavor(self) -> str:
        """cloud or datacenter, as the server says (connects on first use)."""
        self._connect()
        assert self._flavor is not None
        return self._flavor

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

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
                    return exc.response
                raise
            except requests.exceptions.RequestException as exc:
                if uncertain and maybe_sent(exc):
                    return None
                raise

        return self._call(what, send)

    def _json(self, what: str, response: requests.Response | None) -> Any:
        if response is None:
            raise ConnectorError(f"jira {self.name!r}: no answer while {what}")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            self._raise_not_json(what)

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


def _flavor_of(info: Mapping[str, Any]) -> str:
    return "cloud" if info.get("deploymentType") == "Cloud" else "datacenter"


def _http_date(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
