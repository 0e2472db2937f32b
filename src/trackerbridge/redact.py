"""Credentials out of everything printed or logged: URLs with their secrets masked, and a test for
strings that look like a secret rather than a name.

Why a module of its own: state URLs (`postgresql://user:pw@host/db?sslpassword=...`), tracker URLs and
error texts that quote them reach messages from the CLI, the state store and the connectors alike; one
function keeps the rule the same everywhere.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = ["MASK", "looks_secret", "mask_text", "mask_url"]

MASK = "***"
_SECRET_PARAM = re.compile(
    r"pass|pwd|secret|token|key|auth|sig|credential|session|sid|code|assertion|bearer", re.IGNORECASE
)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]+")


def mask_url(url: str) -> str:
    """`url` with the password of its userinfo and every secret-looking query parameter replaced by ***.

    The user name stays (it says which account, and is no credential by itself); anything that does not
    parse as a URL comes back masked whole rather than risk showing a secret."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, sep, _password = userinfo.partition(":")
            netloc = f"{user}:{MASK}@{hostport}" if sep else f"{userinfo}@{hostport}"
            if sep and not user:
                netloc = f"{MASK}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = "&".join(
                f"{quote(k, safe='')}={MASK if _SECRET_PARAM.search(k) else quote(v, safe='/:')}" for k, v in pairs
            )
        if (netloc, query) == (parts.netloc, parts.query):
            return url  # nothing to hide (and urlunsplit would drop the // of sqlite:///path)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return MASK


def mask_text(text: str) -> str:
    """Every URL inside `text` masked (error messages of drivers and clients quote the URL they used)."""
    return _URL.sub(lambda m: mask_url(m.group(0)), text)


def looks_secret(value: str) -> bool:
    """Whether a string looks like a token or password rather than a variable name: long, or mixing
    cases and digits with high entropy. Variable names are short words in one case: TB_JIRA_TOKEN."""
    if len(value) >= 40:
        return True
    if len(value) < 12:
        return False
    letters = [c for c in value if c.isalpha()]
    mixed_case = any(c.islower() for c in letters) and any(c.isupper() for c in letters)
    digits = sum(c.isdigit() for c in value)
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return (mixed_case and digits >= 2 and entropy >= 3.5) or (digits >= len(value) // 3 and entropy >= 3.5)
