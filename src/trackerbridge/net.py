"""HTTP sessions for the trackers: a CA bundle that is really used, and HTTPS except on loopback."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import requests

from trackerbridge.redact import mask_url


class VerifyingSession(requests.Session):
    """A session whose own `verify` (a CA bundle path) wins over REQUESTS_CA_BUNDLE.

    requests lets the environment variable override `session.verify` unless each call passes
    `verify=`; simple-salesforce does not, so a private CA would silently be ignored.
    Proxies and the rest of the environment still apply."""

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if verify is None and isinstance(self.verify, str):
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def session_for(ca_bundle: str | None = None) -> requests.Session:
    session = VerifyingSession()
    if ca_bundle:
        session.verify = ca_bundle
    return session


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(url: str) -> None:
    """Plain HTTP would send tokens in the clear; allow it only to this machine."""
    if urlsplit(url).scheme != "https" and not is_loopback(url):
        raise ValueError(f"{mask_url(url)} must use https:// (plain http is allowed only for loopback addresses)")
