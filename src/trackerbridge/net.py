"""HTTP sessions for the trackers: a CA bundle that is really used, the environment's proxy settings
read once per session, and HTTPS except on loopback."""

from __future__ import annotations

import os
import types
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies

from trackerbridge.urls import is_loopback, require_https

__all__ = ["VerifyingSession", "environment_once", "is_loopback", "require_https", "session_for"]

_EnvKey = tuple[str, str, Any]
_Env = tuple[dict[str, str], str | None]


class VerifyingSession(requests.Session):
    """A session whose own `verify` (a CA bundle path) wins over REQUESTS_CA_BUNDLE, and which reads
    the environment's proxy settings once (see `environment_once`).

    requests lets the environment variable override `session.verify` unless each call passes
    `verify=`; simple-salesforce does not, so a private CA would silently be ignored.
    Proxies and the rest of the environment still apply."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[_EnvKey, _Env] = {}

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:  # requests' own return type is a private TypedDict
        if verify is None and isinstance(self.verify, str):
            verify = self.verify
        return _merge_once(self, self._environment, url, proxies, stream, verify, cert)


def environment_once(session: requests.Session) -> requests.Session:
    """Make `session` read the environment's proxy settings (HTTPS_PROXY, NO_PROXY, ...) and CA bundle
    variables once per scheme and host instead of on every request, as requests does: that lookup
    walks the whole environment twice per request, 8% of a first sync's CPU. The environment does not
    change during a run; what it says is applied exactly as requests applies it."""
    if isinstance(session, VerifyingSession):
        return session
    cache: dict[_EnvKey, _Env] = {}

    def merge(self: requests.Session, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        return _merge_once(self, cache, url, proxies, stream, verify, cert)

    session.merge_environment_settings = types.MethodType(merge, session)  # type: ignore[method-assign]
    return session


def _merge_once(
    session: requests.Session,
    cache: dict[_EnvKey, _Env],
    url: str | bytes | None,
    proxies: Any,
    stream: Any,
    verify: Any,
    cert: Any,
) -> dict[str, Any]:
    """`requests.Session.merge_environment_settings`, with the environment's part remembered by
    (scheme, host, no_proxy)."""
    if session.trust_env:
        text = url.decode() if isinstance(url, bytes) else str(url or "")
        parts = urlsplit(text)
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        key = (parts.scheme, parts.netloc, no_proxy)
        found = cache.get(key)
        if found is None:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            found = cache[key] = (get_environ_proxies(text, no_proxy=no_proxy), bundle)
        env_proxies, bundle = found
        if proxies is not None:
            for k, v in env_proxies.items():
                proxies.setdefault(k, v)
        if verify is True or verify is None:
            verify = bundle or verify
    return {
        "proxies": merge_setting(proxies, session.proxies),
        "stream": merge_setting(stream, session.stream),
        "verify": merge_setting(verify, session.verify),
        "cert": merge_setting(cert, session.cert),
    }


def session_for(ca_bundle: str | None = None) -> requests.Session:
    session = VerifyingSession()
    if ca_bundle:
        session.verify = ca_bundle
    return session
