"""What both connectors do when a call fails: which failures stop a run, whether a request may have
reached the tracker, how long to wait before a note is tried again, and how a message is kept free
of credential values. One implementation for Jira and Salesforce (they used to carry a copy each).

A failed record never stops the others; only failures that would fail every other record too
(a spent quota, rejected credentials, a tracker that cannot be reached) stop the run, after the
outcomes already known are handed back.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator

import requests
from urllib3.util.retry import Retry

from trackerbridge.config.connection import Secret
from trackerbridge.connectors.base import AuthError, ConnectorError, QuotaExceeded

NOTE_ATTEMPTS = 3
"""Check-then-post rounds for a note whose POST failed: the check makes a re-post safe."""


class Unreachable(ConnectorError):
    """The tracker cannot be reached at all (refused, unknown host, TLS): every record would fail."""


STOPS: tuple[type[ConnectorError], ...] = (QuotaExceeded, AuthError, Unreachable)
"""Failures that end an apply: raised after the outcomes already known are yielded."""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and exceptions held in args or `reason`."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        nested: Iterable[object] = [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
        todo.extend(n for n in nested if isinstance(n, BaseException))


def unreachable(exc: BaseException) -> bool:
    """A request that never reached the tracker, and would not for any other record either."""
    if isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.ConnectTimeout)):
        return True
    return any(isinstance(c, (ConnectionRefusedError, socket.gaierror)) for c in causes(exc))


def maybe_sent(exc: BaseException) -> bool:
    """A failed request that may have reached the tracker (the connection dropped, or no answer came)."""
    network = isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))
    return network and not unreachable(exc)


def note_attempts(policy: Retry) -> int:
    """Check-then-send rounds for a note: as many as the retry policy gives any other request."""
    total = policy.total if isinstance(policy.total, int) and not isinstance(policy.total, bool) else 0
    return max(NOTE_ATTEMPTS, total)


def backoff(policy: Retry, attempt: int) -> float:
    """The policy's exponential backoff before the `attempt`-th resend (0 first), without jitter."""
    factor = float(getattr(policy, "backoff_factor", 0.5) or 0.0)
    cap = float(getattr(policy, "backoff_max", 30.0) or 30.0)
    return float(min(cap, factor * (2**attempt)))


def retry_after(response: requests.Response | None) -> float | None:
    """The answer's Retry-After in seconds, when it sent one as a number."""
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None


def scrub(text: str, secrets: Iterable[Secret], *, named: bool = False) -> str:
    """Belt and braces: no credential value (of 4 characters or more) survives into a message, whatever a
    server echoed. It becomes `***`, or with `named` the secret's own safe name (`<secret from $VAR>`)."""
    for secret in secrets:
        value = secret.reveal()
        if len(value) >= 4 and value in text:
            text = text.replace(value, str(secret) if named else "***")
    return text
