"""The one retry policy for both trackers, as a requests session, with every attempt counted.

429 and 503 honour Retry-After; other 5xx and dropped connections back off exponentially with
jitter and a cap. POST is never retried after it may have reached the server (a comment or a
created record must not happen twice); every other verb trackerbridge uses is idempotent. A
read-only search sent by POST may opt in (`post_retry_prefixes`), and so may a POST that is idempotent
whatever its verb (a Salesforce Composite of updates) with the `RESEND` header; a request that is not
idempotent whatever its verb (a Jira PUT that also adds a comment) opts out with the `NO_RESEND` header.

urllib3 retries inside the adapter, so a requests `response` hook sees only the last answer.
`CountingRetry` reports each attempt that reached the server (an answer, or a connection
dropped after sending) from inside the retry loop, and the hook installed by `mount_retry`
reports the last answer unless the retry already did: each attempt is reported exactly once.
"""

from __future__ import annotations

import inspect
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError, NewConnectionError, ResponseError
from urllib3.util.retry import Retry

from trackerbridge.net import VerifyingSession, environment_once

RETRY_STATUSES = (429, 500, 502, 503, 504)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
NO_RESEND = "X-Trackerbridge-No-Resend"
"""A request header (taken off before sending) for a request that must never be resent once it may
have reached the server, whatever its verb: only a connection that never opened is retried."""

RESEND = "X-Trackerbridge-Resend"
"""A request header (taken off before sending) for a POST that may be resent like a PUT: its effect is
the same however often it arrives (a Salesforce Composite request made only of record updates)."""

OnAttempt = Callable[[str, str, bool], None]
"""`on_attempt(method, url, dropped)`: one request reached the server; `dropped` if it got no answer."""

_REPORTED = "_trackerbridge_reported"  # set on a urllib3 response CountingRetry has already reported
_RETRY_PARAMS = tuple(n for n in inspect.signature(Retry.__init__).parameters if n != "self")
_DEFAULT_PORTS = {"http": 80, "https": 443}

RetryNotice = Callable[[int, int, str, str], None]
"""`notice(n, total, method_and_url, reason)`: a request is about to be sent again, the n-th time of `total`."""
_FAIL_FAST = threading.Event()
_NOTICE: list[RetryNotice] = []


@contextmanager
def fail_fast_when_unreachable() -> Iterator[None]:
    """Within the block a host that does not resolve or refuses the connection is not retried: an
    interactive command (`check`) says so at once instead of backing off for half a minute. Cron runs
    keep retrying: there a DNS or network blip is usually gone a few seconds later."""
    _FAIL_FAST.set()
    try:
        yield
    finally:
        _FAIL_FAST.clear()


@contextmanager
def retry_notices(notice: RetryNotice) -> Iterator[None]:
    """Call `notice` before each retry of a transient error (the CLI shows "retrying (n/N)" on a terminal)."""
    _NOTICE.append(notice)
    try:
        yield
    finally:
        _NOTICE.remove(notice)


class Pacing:
    """The share of a tracker's remaining API allowance one run may use, from the headers each answer
    carries (per host and API, see `_api_of`): Salesforce's `Sforce-Limit-Info: api-usage=USED/LIMIT`
    (the org's daily allowance,
    https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm) and
    Jira Cloud's `X-RateLimit-Remaining` / `X-RateLimit-NearLimit`
    (https://developer.atlassian.com/cloud/jira/platform/rate-limiting). What is left at a host's first
    answer is the base; once the run has used `share` of it (or Jira says it is near the limit), the
    next request raises `QuotaExceeded` before it is sent, so the run stops cleanly between writes and
    the next run carries on. Answers of 429 are left to the retry (they say "wait", not "spent")."""

    def __init__(self, share: float) -> None:
        self.share = share
        self._lock = threading.Lock()
        # host -> [what, left at the start, left now, near limit, requests sent since the start]
        self._hosts: dict[str, list[Any]] = {}

    def observe(self, response: requests.Response) -> None:
        if response.status_code == 429:
            return
        host = _api_of(response.url or "")
        usage = re.search(r"api-usage=(\d+)/(\d+)", response.headers.get("Sforce-Limit-Info", ""))
        if usage:
            what, left, near = "the Salesforce daily API allowance", int(usage[2]) - int(usage[1]), False
        elif response.headers.get("X-RateLimit-Remaining", "").strip().isdigit():
            what, left = "Jira's API rate limit", int(response.headers["X-RateLimit-Remaining"])
            near = response.headers.get("X-RateLimit-NearLimit", "").strip().lower() == "true"
        else:
            return
        with self._lock:
            seen = self._hosts.setdefault(host, [what, left, left, False, 0])
            seen[2], seen[3] = min(left, seen[2]), near  # answers of concurrent requests come in any order

    def check(self, url: str) -> None:
        """Raise `QuotaExceeded` when this run has used its share of the host's allowance."""
        with self._lock:  # counted as it is let through, so requests sent at once cannot overshoot together
            seen = self._hosts.get(_api_of(url))
            if seen is None:
                return
            what, start, left, near, sent = seen
            used = max(start - left, sent)
            spent = used + 1 > self.share * start or (near and self.share < 1) or left <= 0  # this one included
            if not spent:
                seen[4] += 1
        if spent:
            from trackerbridge.connectors.base import QuotaExceeded

            raise QuotaExceeded(
                f"paused at the run's share of {what}: {used} of the {start} requests left at the start used "
                f"({self.share:.0%} allowed{', and Jira says it is near the limit' if near else ''}); "
                "the next run carries on where this one stopped"
            )


_PACING: list[Pacing] = []


def _api_of(url: str) -> str:
    """Whose allowance a URL draws on: its host and first path segment (`/rest` is Jira's, `/services`
    Salesforce's), so two services behind one host (the sandbox, a proxy) are paced apart."""
    parts = urlsplit(url)
    return f"{parts.netloc}/{parts.path.lstrip('/').partition('/')[0]}"


@contextmanager
def pacing(share: float) -> Iterator[Pacing]:
    """Within the block every tracker session keeps to `share` of each host's remaining allowance."""
    pace = Pacing(share)
    _PACING.append(pace)
    try:
        yield pace
    finally:
        _PACING.remove(pace)


def unreachable(error: BaseException | None) -> bool:
    """A name that does not resolve, or a connection refused: nothing reached the server."""
    if not isinstance(error, NewConnectionError):
        return False
    chain: list[BaseException] = []
    e: BaseException | None = error
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    return (
        any(isinstance(c, (socket.gaierror, ConnectionRefusedError)) for c in chain)
        or type(error).__name__ == "NameResolutionError"
    )


def retry_policy(attempts: int = 6, backoff: float = 0.5, cap: float = 30.0) -> Retry:
    return Retry(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        other=0,
        allowed_methods=IDEMPOTENT,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff,
        backoff_max=cap,
        backoff_jitter=backoff,
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer reaches the connector, which turns it into a message
        raise_on_redirect=False,
    )


class CountingRetry(Retry):
    """A Retry that reports each attempt that reached the server, and will not wait too long.

    `on_attempt(method, url, dropped)` is called for every answer urllib3 looks at (retried or
    not) and for every connection dropped after the request was sent (ProtocolError, read
    timeout): `dropped` is True for those. Answers it reports are marked, so the session hook of
    `mount_retry` does not report them again; answers urllib3 never hands to the retry (a 200, a
    404, a 503 to a POST) are reported by that hook alone. Connections that never opened are not
    reported: nothing reached the server.

    A Retry-After longer than `max_wait` seconds is not slept through: the answer goes back to
    the caller (with `raise_on_status=False`, as `retry_policy` sets it), which can report a
    spent quota instead of blocking a cron job for an hour."""

    def __init__(
        self,
        *args: Any,
        on_attempt: OnAttempt | None = None,
        max_wait: float | None = None,
        resend: bool = True,
        **kw: Any,
    ):
        super().__init__(*args, **kw)
        self.on_attempt = on_attempt
        self.max_wait = max_wait
        self.resend = resend

    @classmethod
    def from_policy(
        cls,
        policy: Retry,
        *,
        on_attempt: OnAttempt | None = None,
        max_wait: float | None = None,
        allow_post: bool = False,
        resend: bool = True,
    ) -> CountingRetry:
        """`policy`'s settings, counting; `allow_post` retries POST too (only for read-only requests);
        `resend=False` retries no method once the request may have reached the server."""
        params = {n: getattr(policy, n) for n in _RETRY_PARAMS if hasattr(policy, n)}
        if allow_post and params.get("allowed_methods") is not None:  # None already allows every method
            params["allowed_methods"] = frozenset(params["allowed_methods"]) | {"POST"}
        return cls(**params, on_attempt=on_attempt, max_wait=max_wait, resend=resend)

    def new(self, **kw: Any) -> CountingRetry:
        out = super().new(**kw)
        out.on_attempt, out.max_wait, out.resend = self.on_attempt, self.max_wait, self.resend
        return out

    def _is_method_retryable(self, method: str) -> bool:
        # Read errors and statuses ask this; connections that never opened are retried regardless.
        # (An empty allowed_methods would mean "every method" to urllib3, hence this override.)
        return self.resend and super()._is_method_retryable(method)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> CountingRetry:
        dropped = error is not None and self._is_read_error(error)
        if (response is not None or dropped) and self.on_attempt is not None:
            self.on_attempt((method or "GET").upper(), _absolute(url or "", _pool), dropped)
            if response is not None:
                setattr(response, _REPORTED, True)  # this very answer may still reach the session hook
        if response is not None and self.max_wait is not None:
            try:
                wait = self.get_retry_after(response)
            except InvalidHeader:
                wait = None
            if wait is not None and wait > self.max_wait:
                # Not retried: urllib3 (and `responses`) hand this answer back when raise_on_status is off.
                raise MaxRetryError(_pool, url or "", ResponseError(f"Retry-After {wait:.0f}s is too long"))
        if _FAIL_FAST.is_set() and unreachable(error):
            raise MaxRetryError(_pool, url or "", error)
        again: CountingRetry = super().increment(method, url, response, error, _pool, _stacktrace)
        for notice in list(_NOTICE):
            done = len(again.history)
            total = done + again.total if isinstance(again.total, int) else done
            reason = f"HTTP {response.status}" if response is not None else type(error).__name__ if error else "?"
            notice(done, total, f"{(method or 'GET').upper()} {_absolute(url or '', _pool).split('?')[0]}", reason)
        return again


class TimeoutAdapter(HTTPAdapter):
    """An HTTPAdapter that gives requests sent without a timeout a default one.

    Client libraries (simple-salesforce) pass no timeout on most calls; without one a hung
    socket hangs the run. A request carrying the `NO_RESEND` header goes through `once` instead
    (a sibling whose retry resends nothing), without the header."""

    def __init__(
        self,
        *args: Any,
        timeout: float | None = None,
        once: HTTPAdapter | None = None,
        again: HTTPAdapter | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.default_timeout = timeout
        self.once = once
        self.again = again  # retries POST too: for requests carrying the RESEND header

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if timeout is None:
            timeout = self.default_timeout
        for pace in list(_PACING):
            pace.check(request.url or "")
        if request.headers.pop(NO_RESEND, None) is not None and self.once is not None:
            answer = self.once.send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        elif request.headers.pop(RESEND, None) is not None and self.again is not None:
            answer = self.again.send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        else:
            answer = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        for pace in list(_PACING):
            pace.observe(answer)
        return answer

    def close(self) -> None:
        super().close()
        for sibling in (self.once, self.again):  # not mounted themselves: the session closes only what is
            if sibling is not None:
                sibling.close()


def mount_retry(
    session: requests.Session,
    retry: Retry | None = None,
    *,
    timeout: float | None = None,
    on_attempt: OnAttempt | None = None,
    max_wait: float | None = None,
    post_retry_prefixes: Iterable[str] = (),
) -> requests.Session:
    """Mount `retry` (default `retry_policy()`) as a `CountingRetry` on every http(s) URL of `session`.

    `timeout` is the default for requests sent without one. With `on_attempt`, a response hook
    reports the last answer of each request unless the retry did; call this once per session.
    URLs starting with one of `post_retry_prefixes` (read-only searches) retry POST as well;
    requests with the `NO_RESEND` header are never resent once they may have reached the server, and POSTs
    with the `RESEND` header are retried as a PUT is."""
    environment_once(session)  # proxies and CA variables read once, not on every request
    policy = retry or retry_policy()
    once = _adapter(policy, timeout, on_attempt, max_wait, allow_post=False, resend=False)
    again = _adapter(policy, timeout, on_attempt, max_wait, allow_post=True)
    general = _adapter(policy, timeout, on_attempt, max_wait, allow_post=False, once=once, again=again)
    session.mount("https://", general)
    session.mount("http://", general)
    prefixes = list(post_retry_prefixes)
    if prefixes:
        searching = _adapter(policy, timeout, on_attempt, max_wait, allow_post=True, once=once, again=again)
        for prefix in prefixes:
            session.mount(prefix, searching)
    if on_attempt is not None:
        session.hooks["response"].append(_last_answer_hook(on_attempt))
    return session


def tracker_session(
    ca_bundle: str | None = None,
    retry: Retry | None = None,
    *,
    timeout: float | None = None,
    on_attempt: OnAttempt | None = None,
    max_wait: float | None = None,
    post_retry_prefixes: Iterable[str] = (),
) -> VerifyingSession:
    """A session that verifies with `ca_bundle`, retries with `retry` and counts as `mount_retry` says."""
    session = VerifyingSession()
    if ca_bundle:
        session.verify = ca_bundle
    mount_retry(
        session,
        retry,
        timeout=timeout,
        on_attempt=on_attempt,
        max_wait=max_wait,
        post_retry_prefixes=post_retry_prefixes,
    )
    return session


def _adapter(
    policy: Retry,
    timeout: float | None,
    on_attempt: OnAttempt | None,
    max_wait: float | None,
    *,
    allow_post: bool,
    resend: bool = True,
    once: HTTPAdapter | None = None,
    again: HTTPAdapter | None = None,
) -> TimeoutAdapter:
    retry = CountingRetry.from_policy(
        policy, on_attempt=on_attempt, max_wait=max_wait, allow_post=allow_post, resend=resend
    )
    return TimeoutAdapter(
        max_retries=retry, timeout=timeout, once=once, again=again, pool_connections=4, pool_maxsize=16
    )


def _last_answer_hook(on_attempt: OnAttempt) -> Callable[..., None]:
    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not getattr(response.raw, _REPORTED, False):
            request = response.request
            on_attempt((request.method or "GET").upper(), request.url or response.url, False)

    return hook


def _absolute(url: str, pool: Any) -> str:
    """urllib3 passes the path alone (unless proxied); the pool knows the rest."""
    if pool is None or not url.startswith("/") or not getattr(pool, "host", None):
        return url
    scheme = getattr(pool, "scheme", "http")
    host = f"[{pool.host}]" if ":" in pool.host else pool.host
    port = f":{pool.port}" if pool.port and pool.port != _DEFAULT_PORTS.get(scheme) else ""
    return f"{scheme}://{host}{port}{url}"
