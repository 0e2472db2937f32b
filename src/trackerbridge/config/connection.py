"""A connector file with its environment resolved: what a connector needs to connect.

Secrets are wrapped so that printing, logging or formatting a connection never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trackerbridge.config.models import JiraConnector, JiraScope, SalesforceConnector, SalesforceScope


@dataclass(frozen=True)
class Secret:
    """A credential read from the environment; `reveal()` is the only way to the value."""

    _value: str = field(repr=False)
    source: str  # the environment variable it came from, safe to name in messages

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return f"<secret from ${self.source}>"

    def __repr__(self) -> str:
        return f"Secret(source={self.source!r})"

    def __format__(self, spec: str) -> str:
        return str(self)


@dataclass(frozen=True)
class Connection:
    name: str
    type: Literal["jira", "salesforce"]
    url: str
    auth_method: str
    credentials: dict[str, Secret]  # role -> secret; roles per method are listed in CREDENTIAL_ROLES
    scope: JiraScope | SalesforceScope
    file: JiraConnector | SalesforceConnector
    ca_bundle: str | None = None
    timeout: float = 30.0
    login_url: str | None = None  # Salesforce password and JWT flows
    key_file: str | None = None  # Salesforce JWT: path of the private key (a path, not a secret)
    insecure_http: bool = False  # plain http to another host, allowed by `allow_insecure_http: true`

    def secret(self, role: str) -> Secret:
        return self.credentials[role]


CREDENTIAL_ROLES: dict[str, tuple[str, ...]] = {
    "api_token": ("email", "token"),
    "pat": ("token",),
    "basic": ("username", "password"),
    "access_token": ("token",),
    "password": ("username", "password", "security_token", "client_id", "client_secret"),
    "jwt": ("username", "client_id"),
}
"""Which credentials each auth method carries (security_token may be absent)."""
