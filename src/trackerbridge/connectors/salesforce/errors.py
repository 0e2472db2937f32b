"""Salesforce's failures as `ConnectorError`s without secrets, every attempt counted, and the org's
concurrent-request limit waited out (it is not the daily allowance).

A 403 REQUEST_LIMIT_EXCEEDED is not
retried at all: the org's API allowance is spent and every further call makes it worse.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from simple_salesforce.exceptions import SalesforceError
from urllib3.util.retry import Retry

from trackerbridge.config.connection import Connection
from trackerbridge.connectors.base import AuthError, Connector, ConnectorError, QuotaExceeded
from trackerbridge.connectors.errors import Unreachable, backoff, note_attempts, scrub, unreachable
from trackerbridge.connectors.salesforce.values import RECORD_ID
from trackerbridge.net import VerifyingSession


class SalesforceErrors(Connector):
    """The messages of `SalesforceConnector`'s failures (the attributes are set by `SalesforceQuery.__init__`)."""

    connection: Connection
    session: VerifyingSession
    _retry: Retry
    _sleep: Callable[[float], None]
    _concurrency_waits: int
    _api_usage: str | None
    _instance_url: str | None

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
        if self._concurrency_waits >= note_attempts(self._retry) or response.request is None:
            return None  # the last refusal goes to the caller, who names it
        attempt = self._concurrency_waits
        self._concurrency_waits += 1
        try:
            self._sleep(backoff(self._retry, attempt))
            keep = {k: sent[k] for k in ("timeout", "verify", "cert", "proxies", "stream") if k in sent}
            return self.session.send(response.request.copy(), **keep)
        finally:
            self._concurrency_waits -= 1

    def _host(self) -> str:
        return _host(self._instance_url or self.connection.url)

    def _scrub(self, text: str) -> str:
        """Belt and braces: no credential value survives into a message, whatever a server echoed."""
        return scrub(text, self.connection.credentials.values(), named=True)

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
                f"(ConcurrentPerOrgLongTxn), still after {note_attempts(self._retry)} waits; this is not the daily "
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


_DATA_PATH = re.compile(r"/services/data/v\d+\.\d+/?")


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
    shown = ["{id}" if RECORD_ID.fullmatch(p) and any(c.isdigit() for c in p) else p for p in parts]
    return f"{method} {'/'.join(shown) or '/'}"


def _concurrency_limited(response: requests.Response) -> bool:
    """Whether a 403 is the transient concurrent-request limit (not the daily one, TotalRequests)."""
    head = response.content[:4000]
    return b"REQUEST_LIMIT_EXCEEDED" in head and b"ConcurrentPerOrgLongTxn" in head


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
