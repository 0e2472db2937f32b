"""The emulated Salesforce REST API: OAuth token, query with cursors, sObject rows, describe,
sObject Collections, Composite and limits, with Salesforce's payloads, status codes and error bodies.

Composite (`POST /services/data/vXX.X/composite`) runs up to 25 subrequests (at most 5 of them sObject
Collections or queries) in order, as one API call, and answers `{"compositeResponse": [{"body",
"httpHeaders", "httpStatusCode", "referenceId"}]}`; `@{ref.path}` in a later subrequest's url or body
takes a value from an earlier answer; with `allOrNone` true one failure rolls every subrequest back, and
the others answer 400 PROCESSING_HALTED. As Salesforce's references describe it:
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite_post.htm
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/requests_composite.htm
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_subrequest_result.htm
(the limit messages of a refused composite are the sandbox's own wording).

Writes go through one validation path (`_prepare`) so single-record and collection calls fail
the same way. Every write stamps LastModifiedDate and SystemModstamp at millisecond precision and
strictly increasing, so a client's "changed since" watermark never misses or repeats a write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import trackerbridge.sandbox.salesforce_history as salesforce_history
from trackerbridge.sandbox.clock import Clock
from trackerbridge.sandbox.salesforce_auth import SalesforceAuth, SalesforceOAuth
from trackerbridge.sandbox.salesforce_composite import SalesforceComposite
from trackerbridge.sandbox.salesforce_describe import SalesforceDescribe
from trackerbridge.sandbox.salesforce_model import SalesforceData
from trackerbridge.sandbox.salesforce_plumbing import FALLBACK_USER_ID
from trackerbridge.sandbox.salesforce_query import SalesforceQuery, _Cursor
from trackerbridge.sandbox.web import Router

__all__ = ["SalesforceAuth", "SalesforceService"]


class SalesforceService(SalesforceOAuth, SalesforceQuery, SalesforceDescribe, SalesforceComposite):
    """Turns `/services/...` requests into responses against one `SalesforceData` org."""

    def __init__(
        self,
        data: SalesforceData,
        clock: Clock,
        auth: SalesforceAuth,
        *,
        daily_api_limit: int = 15000,
        base_url: str = "",
    ) -> None:
        self.data = data
        self.clock = clock
        self.auth = auth
        self.daily_api_limit = daily_api_limit
        self.base_url = base_url
        self.login_url = ""  # set: the token endpoint answers only at this origin (see SandboxConfig)
        self.api_requests_used = 0
        self._token_users: dict[str, str] = {}  # tokens issued by the OAuth endpoint -> user id
        self._cursors: dict[str, _Cursor] = {}
        self._cursor_serial = 0
        self._last_stamp: datetime | None = None
        self._caller = FALLBACK_USER_ID
        self._journal: list[Callable[[], object]] | None = None  # undo steps, while a composite may roll back
        self.router = Router()
        self._routes()
        salesforce_history.install(self.data)

    def _routes(self) -> None:
        add = self.router.add
        add("GET", "/services/data", self.versions)
        add("POST", "/services/oauth2/token", self.token)
        add("GET", "/services/oauth2/userinfo", self.userinfo)
        add("POST", "/services/oauth2/userinfo", self.userinfo)
        api = "/services/data/v{version}"
        add("GET", api, self.resources)
        add("GET", f"{api}/limits", self.limits)
        add("GET", f"{api}/query", self.query)
        add("GET", f"{api}/queryAll", self.query_all)
        add("GET", f"{api}/query/{{locator}}", self.query_more)
        add("GET", f"{api}/queryAll/{{locator}}", self.query_more)
        add("GET", f"{api}/sobjects", self.describe_global)
        add("GET", f"{api}/sobjects/{{sobject}}", self.sobject_info)
        add("POST", f"{api}/sobjects/{{sobject}}", self.create_record)
        add("GET", f"{api}/sobjects/{{sobject}}/describe", self.describe)
        add("GET", f"{api}/sobjects/{{sobject}}/{{record_id}}", self.get_record)
        add("PATCH", f"{api}/sobjects/{{sobject}}/{{record_id}}", self.update_record)
        add("DELETE", f"{api}/sobjects/{{sobject}}/{{record_id}}", self.delete_record)
        add("POST", f"{api}/composite/sobjects", self.create_collection)
        add("PATCH", f"{api}/composite/sobjects", self.update_collection)
        add("GET", f"{api}/composite", self.composite_resources)
        add("POST", f"{api}/composite", self.composite)
