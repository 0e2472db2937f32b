"""The one retry policy for both trackers, as a requests session.

429 and 503 honour Retry-After; other 5xx and dropped connections back off exponentially with
jitter and a cap. POST is never retried after it may have reached the server (a comment or a
created record must not happen twice); every other verb trackerbridge uses is idempotent.
"""

from __future__ import annotations

from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from trackerbridge.net import VerifyingSession

RETRY_STATUSES = (429, 500, 502, 503, 504)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


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


def tracker_session(ca_bundle: str | None = None, retry: Retry | None = None) -> VerifyingSession:
    session = VerifyingSession()
    if ca_bundle:
        session.verify = ca_bundle
    adapter = HTTPAdapter(max_retries=retry or retry_policy(), pool_connections=4, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
