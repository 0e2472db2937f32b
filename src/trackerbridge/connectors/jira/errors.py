"""Jira's failures as `ConnectorError`s.

- Safe errors. `JIRAError.__str__` prints request headers (the Authorization header), so it is
  never shown or chained: every failure becomes a `ConnectorError` whose message names the
  connector and the credential's environment variable, never its value.
"""

from __future__ import annotations

import socket
from typing import NoReturn
from urllib.parse import urlsplit

import requests

from trackerbridge.config.connection import CREDENTIAL_ROLES, Connection
from trackerbridge.connectors.base import AuthError, Connector, ConnectorError, QuotaExceeded, ScopeRejected
from trackerbridge.connectors.errors import Unreachable, causes, retry_after, scrub, unreachable


class JiraErrors(Connector):
    """The messages of `JiraConnector`'s failures (the attributes are set by `JiraConnector.__init__`)."""

    connection: Connection
    site: str
    _flavor: str | None
    _max_retry_after: float
    _last_content_type: str

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
        return scrub(text, self.connection.credentials.values())

    def _waited(self, response: requests.Response | None) -> str:
        """Whether we retried, and what Retry-After said: a wait longer than we accept was not retried."""
        wait = response.headers.get("Retry-After") if response is not None else None
        seconds = retry_after(response)
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
        detail = error_detail(response) if response is not None else ""
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


def error_detail(response: requests.Response) -> str:
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
