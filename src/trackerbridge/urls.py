"""Which tracker URLs trackerbridge may talk to: HTTPS, or plain HTTP to this machine only. Plain string
checks, apart from `trackerbridge.net`'s sessions, so that loading a project's config loads no HTTP library."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from trackerbridge.redact import mask_url


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
