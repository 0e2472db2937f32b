"""The emulated Salesforce's sign-in: the credentials it accepts and the OAuth endpoints (password, client
credentials, refresh and JWT bearer grants; userinfo), with Salesforce's OAuth error bodies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trackerbridge.sandbox.salesforce_model import to_18
from trackerbridge.sandbox.salesforce_plumbing import SalesforcePlumbing
from trackerbridge.sandbox.web import Request, Response

ORG_ID = to_18("00D8d00000TbSnd")


JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
DEFAULT_TIME_ZONE = "GMT"  # userinfo's zoneinfo for users without a TimeZoneSidKey (the demo's have none)


@dataclass
class SalesforceAuth:
    """Credentials the emulated org accepts. `users` maps a username to password + security token
    for the OAuth password grant; `access_tokens` are session ids valid from the start."""

    access_tokens: set[str]
    users: dict[str, str]
    client_id: str = "trackerbridge-sandbox"
    client_secret: str = "sandbox-secret"
    jwt_certificate_pem: bytes | None = None  # public cert (or key) for the JWT bearer grant, RS256


def _oauth_error(error: str, description: str) -> Response:
    return Response(400, {"error": error, "error_description": description}, {"Cache-Control": "no-store"})


def _identity_error(status: int, code: str) -> Response:
    """The identity service (id URL, userinfo) answers errors as a bare code in plain text."""
    return Response(status, code.encode(), {"Content-Type": "text/plain;charset=UTF-8"})


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class SalesforceOAuth(SalesforcePlumbing):
    # --- OAuth --------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        """The OAuth 2.0 token endpoint: username-password and JWT bearer flows."""
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}

        def param(name: str) -> str | None:
            values = form.get(name) or request.args(name)
            return values[-1] if values else None

        if self.login_url and not self._at_login_host(request):
            # An org's credentials sent to another login host: that host knows no such user.
            return _oauth_error("invalid_grant", "authentication failure")
        grant = param("grant_type")
        if grant == "password":
            if param("client_id") != self.auth.client_id:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            if param("client_secret") != self.auth.client_secret:
                return _oauth_error("invalid_client", "invalid client credentials")
            username = param("username") or ""
            expected = self.auth.users.get(username)
            if expected is None or not hmac.compare_digest(expected, param("password") or ""):
                return _oauth_error("invalid_grant", "authentication failure")
            user_id = self._user_by_username(username)
            if isinstance(user_id, bool):  # False: an inactive user
                return _oauth_error("invalid_grant", "authentication failure")
            return self._issue_token(user_id or self.default_user_id(), scope=None)
        if grant == JWT_GRANT:
            return self._jwt_grant(param("assertion") or "")
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    def _at_login_host(self, request: Request) -> bool:
        """Whether the request's Host is the configured login host (the port is the same socket's)."""
        wanted = urlsplit(self.login_url).hostname or ""
        sent = request.header("Host") or ""
        host = urlsplit(f"//{sent}").hostname or ""
        return host.casefold() == wanted.casefold()

    def _user_by_username(self, username: str) -> str | bool | None:
        """The User record's id; False for an inactive user; None when the org has no such record."""
        for user_id, user in self.data.records.get("User", {}).items():
            if str(user.get("Username") or "").lower() == username.lower():
                return user_id if user.get("IsActive", True) is not False else False
        return None

    def _jwt_grant(self, assertion: str) -> Response:
        claims = self._verified_claims(assertion)
        if claims is None:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.auth.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        allowed = {*JWT_AUDIENCES, self.base_url.rstrip("/"), self.login_url.rstrip("/")} - {""}
        if not any(isinstance(a, str) and a.rstrip("/") in allowed for a in audiences):
            return _oauth_error("invalid_grant", "audience is invalid")
        try:
            expires = float(claims.get("exp"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return _oauth_error("invalid_grant", "invalid assertion")
        if expires <= self.clock.now().timestamp():
            return _oauth_error("invalid_grant", "expired authorization code")
        subject = claims.get("sub")
        user_id = self._user_by_username(subject) if isinstance(subject, str) else None
        if isinstance(user_id, bool) or (user_id is None and subject not in self.auth.users):
            return _oauth_error("invalid_grant", "invalid assertion")
        return self._issue_token(user_id or self.default_user_id(), scope="api")

    def _verified_claims(self, assertion: str) -> dict[str, Any] | None:
        """The JWT's claims if it is a well-formed RS256 token signed by the configured certificate."""
        pem = self.auth.jwt_certificate_pem
        parts = assertion.split(".")
        if pem is None or len(parts) != 3:
            return None
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            return None
        if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
            return None
        try:
            key: Any
            if b"BEGIN CERTIFICATE" in pem:
                key = x509.load_pem_x509_certificate(pem).public_key()
            else:
                key = serialization.load_pem_public_key(pem)
        except ValueError:
            return None
        if not isinstance(key, rsa.RSAPublicKey):
            return None
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return None
        return claims

    def expire_sessions(self) -> int:
        """End every session the token endpoint issued, as the org's session timeout does: the next call
        with one gets 401 INVALID_SESSION_ID. Returns how many ended."""
        issued = [t for t in self._token_users if t in self.auth.access_tokens]
        self.auth.access_tokens.difference_update(issued)
        return len(issued)

    def _issue_token(self, user_id: str, *, scope: str | None) -> Response:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"
        self.auth.access_tokens.add(token)
        self._token_users[token] = user_id
        issued_at = str(int(self.clock.now().timestamp() * 1000))
        identity = f"{self.base_url or 'https://login.salesforce.com'}/id/{ORG_ID}/{user_id}"
        digest = hmac.new(self.auth.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
        body: dict[str, Any] = {
            "access_token": token,
            "instance_url": self.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(digest.digest()).decode(),
        }
        if scope:
            body["scope"] = scope
        return Response(200, body, {"Cache-Control": "no-store"})

    def userinfo(self, request: Request) -> Response:
        """OpenID Connect UserInfo for the token's user, shaped as Salesforce answers it.

        An identity call, not a REST API call: not counted against DailyApiRequests, and a bad token
        gets the identity service's plain-text 403 (`Bad_OAuth_Token`), not INVALID_SESSION_ID.
        """
        token = self._bearer(request) or request.arg("oauth_token") or ""
        if not token:
            return _identity_error(403, "Missing_OAuth_Token")
        if token not in self.auth.access_tokens:
            return _identity_error(403, "Bad_OAuth_Token")
        users = self.data.records.get("User", {})
        user_id = self._token_users.get(token)
        if user_id not in users:
            user_id = self.default_user_id()
        user = users.get(user_id)
        if user is None:
            return _identity_error(404, "Bad_Id")
        if user.get("IsActive") is False:
            return _identity_error(404, "Inactive")
        return Response(200, self._userinfo_body(user_id, user), {"Cache-Control": "no-cache,must-revalidate"})

    def _userinfo_body(self, user_id: str, user: dict[str, Any]) -> dict[str, Any]:
        base = self.base_url or "https://login.salesforce.com"
        org = ORG_ID[:15]
        zone = user.get("TimeZoneSidKey") or DEFAULT_TIME_ZONE
        offset = ZoneInfo(zone).utcoffset(self.clock.now()) or timedelta(0)
        username = str(user.get("Username") or "")
        modified = user.get("LastModifiedDate")
        data = f"{base}/services/data/v{{version}}"
        return {
            "sub": f"{base}/id/{ORG_ID}/{user_id}",
            "user_id": user_id,
            "organization_id": ORG_ID,
            "preferred_username": username,
            "nickname": username.split("@")[0],
            "name": user.get("Name"),
            "email": user.get("Email"),
            "email_verified": True,
            "given_name": user.get("FirstName"),
            "family_name": user.get("LastName"),
            "zoneinfo": zone,
            "photos": {"picture": f"{base}/profilephoto/005/F", "thumbnail": f"{base}/profilephoto/005/T"},
            "profile": f"{base}/{user_id}",
            "picture": f"{base}/profilephoto/005/F",
            "address": {},
            "is_salesforce_integration_user": False,
            "urls": {
                "enterprise": f"{base}/services/Soap/c/{{version}}/{org}",
                "metadata": f"{base}/services/Soap/m/{{version}}/{org}",
                "partner": f"{base}/services/Soap/u/{{version}}/{org}",
                "rest": f"{data}/",
                "sobjects": f"{data}/sobjects/",
                "search": f"{data}/search/",
                "query": f"{data}/query/",
                "recent": f"{data}/recent/",
                "tooling_soap": f"{base}/services/Soap/T/{{version}}/{org}",
                "tooling_rest": f"{data}/tooling/",
                "profile": f"{base}/{user_id}",
                "feeds": f"{data}/chatter/feeds",
                "groups": f"{data}/chatter/groups",
                "users": f"{data}/chatter/users",
                "feed_items": f"{data}/chatter/feed-items",
                "feed_elements": f"{data}/chatter/feed-elements",
                "custom_domain": base,
            },
            "active": user.get("IsActive") is not False,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": int(offset.total_seconds() * 1000),
            "updated_at": (
                modified.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                if isinstance(modified, datetime)
                else None
            ),
            "is_app_installed": True,
        }
