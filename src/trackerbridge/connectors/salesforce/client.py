"""Signing in to Salesforce (access token, password or JWT bearer grant, renewed once when the session
expires mid-run) and the calls every part makes: SOQL through `query_all_iter`, and Composite.

Requests go through our retry session (`tracker_session`): 429/503 honour Retry-After, 5xx and
dropped connections back off, a POST is never sent twice (but for a Composite made only of record
updates, which is idempotent like the PATCH it wraps), every attempt is counted in `calls`, and a
request sent without a timeout gets the connection's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from trackerbridge.connectors.base import AuthError, ConnectorError
from trackerbridge.connectors.http import RESEND
from trackerbridge.connectors.salesforce.errors import SalesforceErrors, _host, _snippet
from trackerbridge.connectors.salesforce.values import USER_ID

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = timedelta(minutes=3)  # Salesforce accepts at most 3 minutes (plus clock skew)


def _user_of_identity(url: Any) -> str | None:
    """The User Id at the end of an OAuth identity URL (`https://login.salesforce.com/id/00D.../005...`)."""
    last = str(url).rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) else ""
    return last if USER_ID.fullmatch(last) else None


class SalesforceClient(SalesforceErrors):
    """The signed-in session with one org (the attributes are set by `SalesforceQuery.__init__`)."""

    api_version: str
    _client: Salesforce | None
    _renewed: bool
    _user_id: str | None
    _now: Callable[[], datetime]

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
                self._user_id = str(user) if isinstance(user, str) and USER_ID.fullmatch(user) else None
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
                self._client._salesforce_login_partial = self._renew  # type: ignore[assignment]  # a bound method does
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

    def _query(self, soql: str, action: str) -> list[dict[str, Any]]:
        try:
            return [row for row in self._connect().query_all_iter(soql) if isinstance(row, dict)]
        except (SalesforceError, requests.RequestException) as exc:
            raise self._translate(exc, action) from None

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
