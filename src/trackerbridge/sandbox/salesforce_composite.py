"""The emulated Salesforce's Composite resource (see salesforce_api.py's docstring for the references)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from trackerbridge.sandbox.salesforce_errors import NOT_FOUND, PROCESSING_HALTED, _error
from trackerbridge.sandbox.salesforce_model import SUPPORTED_VERSIONS
from trackerbridge.sandbox.salesforce_saving import SalesforceSaving
from trackerbridge.sandbox.web import Request, Response

COMPOSITE_MAX = 25  # subrequests per Composite request
COMPOSITE_BULK_MAX = 5  # of them, sObject Collections and query subrequests together


_REFERENCE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"@\{([A-Za-z][A-Za-z0-9_]*)\.([^}]+)\}")
_BULK_SUBREQUEST = re.compile(r"/services/data/v\d+\.\d+/(?:composite/sobjects|query|queryAll)(?:[/?]|$)")


def _halted(ref: str, message: str = PROCESSING_HALTED) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref,
    }


def _subresult(ref: str, response: Response, url: str = "") -> dict[str, Any]:
    """One subrequest's answer as a Composite Subrequest Result (no Content-Length among the headers)."""
    body = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "sforce-limit-info")}
    if response.status == 201 and isinstance(body, dict) and isinstance(body.get("id"), str):
        headers.setdefault("Location", f"{url.split('?')[0].rstrip('/')}/{body['id']}")
    return {"body": body, "httpHeaders": headers, "httpStatusCode": response.status, "referenceId": ref}


def _resolve(text: str, answers: dict[str, Any], *, quote_values: bool = False) -> str:
    """`@{ref.path}` (path: names and [n] indexes, e.g. `records[0].Id`) replaced by the earlier answer's
    value (URL-quoted in a url, JSON-escaped inside a body's string); LookupError names a reference that
    has no such value."""

    def value(m: re.Match[str]) -> str:
        ref, path = m.group(1), m.group(2)
        if ref not in answers:
            raise LookupError(f"No response for referenceId {ref} (it failed, or comes later)")
        found: Any = answers[ref]
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
            if part.startswith("["):
                index = int(part[1:-1])
                if not isinstance(found, list) or index >= len(found):
                    raise LookupError(f"No value for {ref}.{path} found in {ref}")
                found = found[index]
            elif isinstance(found, dict) and part in found:
                found = found[part]
            else:
                raise LookupError(f"No value for {ref}.{path} found in {ref}")
        if quote_values:
            return quote(found if isinstance(found, str) else json.dumps(found), safe="")
        return json.dumps(found)[1:-1] if isinstance(found, str) else json.dumps(found)

    return _REFERENCE.sub(value, text)


class SalesforceComposite(SalesforceSaving):
    # --- Composite ----------------------------------------------------------------------------

    def composite_resources(self, request: Request) -> Response:
        version = self._version(request)
        return Response(200, {"sobjects": f"/services/data/v{version}/composite/sobjects"})

    def composite(self, request: Request) -> Response:
        """Subrequests in order, in the caller's session, answered together; the whole request is one
        API call (`_data_request` counted it), its subrequests are not counted again."""
        parsed = self._json_object(request, "CompositeRequest")
        if isinstance(parsed, Response):
            return parsed
        body, _ = parsed
        subrequests = body.get("compositeRequest")
        all_or_none = body.get("allOrNone", False)
        collate = body.get("collateSubrequests", True)
        if not isinstance(all_or_none, bool) or not isinstance(collate, bool):
            return _error(400, "JSON_PARSER_ERROR", "allOrNone and collateSubrequests must be booleans")
        if not isinstance(subrequests, list) or not subrequests:
            return _error(400, "INVALID_API_INPUT", "compositeRequest: a list of at least one subrequest is required")
        if len(subrequests) > COMPOSITE_MAX:
            return _error(400, "LIMIT_EXCEEDED", f"Composite requests can have at most {COMPOSITE_MAX} subrequests")
        seen: set[str] = set()
        bulk = 0
        for sub in subrequests:
            problem = self._subrequest_problem(sub, seen)
            if problem is not None:
                return _error(400, "INVALID_API_INPUT", problem)
            bulk += bool(_BULK_SUBREQUEST.match(sub["url"]))
        if bulk > COMPOSITE_BULK_MAX:
            return _error(
                400,
                "LIMIT_EXCEEDED",
                f"Composite requests can have at most {COMPOSITE_BULK_MAX} sObject Collections or query subrequests",
            )
        answers: dict[str, Any] = {}  # referenceId -> its answer's body, for @{ref.path}
        results: list[dict[str, Any]] = []
        journal: list[Callable[[], object]] | None = [] if all_or_none else None
        outer, self._journal = self._journal, journal
        failed = False
        try:
            for sub in subrequests:
                ref = sub["referenceId"]
                if failed and all_or_none:
                    results.append(_halted(ref))
                    continue
                result = self._run_subrequest(request, sub, answers)
                results.append(result)
                if result["httpStatusCode"] >= 400:
                    failed = True
                else:
                    answers[ref] = result["body"]
        finally:
            self._journal = outer
        if failed and all_or_none:
            for step in reversed(journal or []):
                step()
            results = [r if r["httpStatusCode"] >= 400 else _halted(r["referenceId"]) for r in results]
        return Response(200, {"compositeResponse": results})

    @staticmethod
    def _subrequest_problem(sub: Any, seen: set[str]) -> str | None:
        if not isinstance(sub, dict):
            return "each subrequest must be an object with method, url and referenceId"
        method, url, ref = sub.get("method"), sub.get("url"), sub.get("referenceId")
        if method not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            return f"subrequest {ref!r}: method must be one of GET, POST, PATCH, PUT, DELETE"
        if not isinstance(url, str) or not url.startswith("/services/data/v"):
            return f"subrequest {ref!r}: url must start with /services/data/vXX.X/"
        if not isinstance(ref, str) or not _REFERENCE_ID.fullmatch(ref):
            return f"Invalid referenceId {ref!r}: use letters, numbers and underscores, starting with a letter"
        if ref in seen:
            return f"Duplicate referenceId provided in the request: {ref}"
        seen.add(ref)
        return None

    def _run_subrequest(self, outer: Request, sub: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
        ref = sub["referenceId"]
        try:
            url = _resolve(sub["url"], answers, quote_values=True)
            payload = json.loads(_resolve(json.dumps(sub["body"]), answers)) if sub.get("body") is not None else None
        except LookupError as exc:
            return _halted(ref, f"Invalid reference specified. {exc}")
        if re.match(r"/services/data/v\d+\.\d+/composite/?(?:\?|$)", url):
            return _subresult(ref, _error(400, "INVALID_API_INPUT", "A composite request cannot contain a composite"))
        m = re.match(r"/services/data/v(\d+\.\d+)(?:/|$)", url)
        if not m or m.group(1) not in SUPPORTED_VERSIONS:
            return _subresult(ref, _error(404, "NOT_FOUND", NOT_FOUND))
        headers = {"Authorization": outer.header("Authorization") or "", "Content-Type": "application/json"}
        for name, value in (sub.get("httpHeaders") or {}).items():
            headers[str(name)] = str(value)
        inner = Request(sub["method"], url, headers, json.dumps(payload).encode() if payload is not None else b"")
        return _subresult(ref, self._dispatch(inner, self.router.match(inner)), url)
