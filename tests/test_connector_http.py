"""The shared retry layer: CountingRetry reports each attempt once, and tracker_session wires it up."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses
from urllib3.util.retry import Retry

from trackerbridge.connectors.http import NO_RESEND, RESEND, CountingRetry, mount_retry, retry_policy, tracker_session

SITE = "https://tracker.example.com"
FAST = retry_policy(attempts=3, backoff=0)

Attempt = tuple[str, str, bool]


@pytest.fixture()
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def counting_session(attempts: list[Attempt], retry: Retry = FAST, **kwargs: Any) -> requests.Session:
    return tracker_session(
        retry=retry, on_attempt=lambda method, url, dropped: attempts.append((method, url, dropped)), **kwargs
    )


def test_503_503_200_is_three_attempts_each_reported_once(rsps: responses.RequestsMock) -> None:
    for status in (503, 503, 200):
        rsps.get(f"{SITE}/items", status=status, json={})
    attempts: list[Attempt] = []
    response = counting_session(attempts).get(f"{SITE}/items")
    assert response.status_code == 200
    assert attempts == [("GET", f"{SITE}/items", False)] * 3 == [("GET", f"{SITE}/items", False)] * len(rsps.calls)


def test_the_last_answer_is_reported_once_when_retries_run_out(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{SITE}/items", status=503, json={})
    attempts: list[Attempt] = []
    response = counting_session(attempts).get(f"{SITE}/items")
    assert response.status_code == 503  # raise_on_status=False: the answer reaches the caller
    assert len(attempts) == len(rsps.calls) == 4  # the first try and three retries, none counted twice


def test_an_answer_no_retry_looks_at_is_reported_by_the_session_hook(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{SITE}/items/1", status=404, json={})
    attempts: list[Attempt] = []
    assert counting_session(attempts).get(f"{SITE}/items/1").status_code == 404
    assert attempts == [("GET", f"{SITE}/items/1", False)]


def test_post_is_not_retried_unless_its_url_allows_it(rsps: responses.RequestsMock) -> None:
    for status in (503, 200):
        rsps.post(f"{SITE}/comments", status=status, json={})
    attempts: list[Attempt] = []
    assert counting_session(attempts).post(f"{SITE}/comments", json={}).status_code == 503
    assert attempts == [("POST", f"{SITE}/comments", False)]
    assert len(rsps.calls) == 1


def test_post_is_retried_where_allowed(rsps: responses.RequestsMock) -> None:
    for status in (503, 200):
        rsps.post(f"{SITE}/search", status=status, json={})
    for status in (503, 200):
        rsps.post(f"{SITE}/comments", status=status, json={})
    attempts: list[Attempt] = []
    session = counting_session(attempts, post_retry_prefixes=[f"{SITE}/search"])
    assert session.post(f"{SITE}/search", json={}).status_code == 200
    assert session.post(f"{SITE}/comments", json={}).status_code == 503  # other URLs still never resend a POST
    assert [(m, u.rsplit("/", 1)[-1]) for m, u, _ in attempts] == [
        ("POST", "search"),
        ("POST", "search"),
        ("POST", "comments"),
    ]


def test_a_put_marked_no_resend_is_not_retried_and_the_mark_is_not_sent(rsps: responses.RequestsMock) -> None:
    for status in (503, 503, 204):
        rsps.put(f"{SITE}/issue/1", status=status)
    attempts: list[Attempt] = []
    session = counting_session(attempts)
    assert session.put(f"{SITE}/issue/1", json={}, headers={NO_RESEND: "1"}).status_code == 503  # a comment rides in
    assert session.put(f"{SITE}/issue/1", json={}).status_code == 204  # a plain edit is idempotent: retried
    assert [c.response.status_code for c in rsps.calls] == [503, 503, 204]  # type: ignore[union-attr]
    assert len(attempts) == 3
    assert all(NO_RESEND not in c.request.headers for c in rsps.calls)


def test_a_post_marked_resend_is_retried_like_a_put_and_the_mark_is_not_sent(rsps: responses.RequestsMock) -> None:
    for status in (503, 503, 200, 503):
        rsps.post(f"{SITE}/composite", status=status)
    attempts: list[Attempt] = []
    session = counting_session(attempts)
    assert session.post(f"{SITE}/composite", json={}, headers={RESEND: "1"}).status_code == 200  # updates only
    assert session.post(f"{SITE}/composite", json={}).status_code == 503  # a create: never resent
    assert [c.response.status_code for c in rsps.calls] == [503, 503, 200, 503]  # type: ignore[union-attr]
    assert len(attempts) == 4
    assert all(RESEND not in c.request.headers for c in rsps.calls)


def test_from_policy_without_resend_retries_no_method() -> None:
    once = CountingRetry.from_policy(FAST, resend=False)
    assert not once.is_retry("PUT", 503) and not once.is_retry("GET", 429, has_retry_after=True)
    assert not once.new(total=2).is_retry("PUT", 503)  # urllib3 derives a new Retry per attempt
    assert CountingRetry.from_policy(FAST).is_retry("PUT", 503)


def test_from_policy_adds_post_only_when_asked() -> None:
    assert "POST" not in (CountingRetry.from_policy(FAST).allowed_methods or ())
    counting = CountingRetry.from_policy(FAST, allow_post=True)
    assert counting.allowed_methods is not None and "POST" in counting.allowed_methods
    assert (counting.total, counting.status, counting.backoff_factor) == (FAST.total, FAST.status, 0)
    assert "POST" not in (FAST.allowed_methods or ())  # the policy itself is left alone


def test_a_retry_after_above_max_wait_is_returned_not_slept(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{SITE}/items", status=429, headers={"Retry-After": "3600"}, json={})
    rsps.get(f"{SITE}/items", status=200, json={})
    attempts: list[Attempt] = []
    response = counting_session(attempts, max_wait=120).get(f"{SITE}/items")
    assert response.status_code == 429 and response.headers["Retry-After"] == "3600"
    assert attempts == [("GET", f"{SITE}/items", False)]
    assert len(rsps.calls) == 1  # not retried, so not waited for


def test_a_retry_after_within_max_wait_is_retried(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{SITE}/items", status=429, headers={"Retry-After": "0"}, json={})
    rsps.get(f"{SITE}/items", status=200, json={})
    attempts: list[Attempt] = []
    assert counting_session(attempts, max_wait=120).get(f"{SITE}/items").status_code == 200
    assert len(attempts) == len(rsps.calls) == 2


def test_requests_without_a_timeout_get_the_default(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{SITE}/items", json={})
    session = tracker_session(timeout=7.5)
    session.get(f"{SITE}/items")
    session.get(f"{SITE}/items", timeout=2)
    assert [call.request.req_kwargs["timeout"] for call in rsps.calls] == [7.5, 2]  # type: ignore[attr-defined]


# --- a real socket: a connection dropped after the request was sent ------------------------------


class _DropsFirst(BaseHTTPRequestHandler):
    """Reads each request; hangs up without answering on the first of each path, answers 200 after."""

    seen: dict[str, int]

    def _serve(self) -> None:
        if self.command in ("POST", "PUT"):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        n = self.seen[self.path] = self.seen.get(self.path, 0) + 1
        if n == 1:
            self.close_connection = True  # no status line: the client sees the connection drop
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def dropping_server() -> Iterator[str]:
    handler = type("Handler", (_DropsFirst,), {"seen": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_dropped_get_is_retried_and_reported_as_dropped(dropping_server: str) -> None:
    attempts: list[Attempt] = []
    with counting_session(attempts, timeout=5) as session:
        assert session.get(f"{dropping_server}/items").status_code == 200
    assert attempts == [("GET", f"{dropping_server}/items", True), ("GET", f"{dropping_server}/items", False)]


def test_a_dropped_post_is_not_resent_but_still_reported(dropping_server: str) -> None:
    attempts: list[Attempt] = []
    with counting_session(attempts, timeout=5) as session, pytest.raises(requests.ConnectionError):
        session.post(f"{dropping_server}/comments", json={"body": "once"})
    assert attempts == [("POST", f"{dropping_server}/comments", True)]


def test_a_dropped_put_marked_no_resend_is_not_resent_but_still_reported(dropping_server: str) -> None:
    attempts: list[Attempt] = []
    with counting_session(attempts, timeout=5) as session, pytest.raises(requests.ConnectionError):
        session.put(f"{dropping_server}/issue/1", json={"update": {}}, headers={NO_RESEND: "1"})
    assert attempts == [("PUT", f"{dropping_server}/issue/1", True)]


def test_a_connection_that_never_opened_is_not_an_attempt() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempts: list[Attempt] = []
    with counting_session(attempts, timeout=5) as session, pytest.raises(requests.ConnectionError):
        session.get(f"http://127.0.0.1:{port}/items")
    assert attempts == []


@pytest.mark.parametrize("kind", ["tracker_session", "mounted"])
def test_the_environment_is_read_once_per_session_and_applied_as_requests_applies_it(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    import requests.utils

    import trackerbridge.net

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    monkeypatch.setenv("NO_PROXY", "direct.example.com")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/env-bundle.pem")
    looked: list[str] = []
    real = requests.utils.get_environ_proxies

    def counting(url: str, no_proxy: Any = None) -> dict[str, str]:
        looked.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(trackerbridge.net, "get_environ_proxies", counting)
    session = tracker_session() if kind == "tracker_session" else mount_retry(requests.Session())
    plain = requests.Session()

    def merged(s: requests.Session, url: str) -> dict[str, Any]:
        return s.merge_environment_settings(url, {}, None, None, None)

    for path in ("a", "b", "c"):
        assert merged(session, f"{SITE}/{path}") == merged(plain, f"{SITE}/{path}")
    assert merged(session, "https://direct.example.com/x") == merged(plain, "https://direct.example.com/x")
    assert merged(session, f"{SITE}/x")["proxies"]["https"] == "http://proxy.example.com:3128"
    assert "https" not in merged(session, "https://direct.example.com/x")["proxies"]
    assert looked == [f"{SITE}/a", "https://direct.example.com/x"]  # once per host, not per request
    assert merged(session, f"{SITE}/x")["verify"] == "/etc/ssl/env-bundle.pem"  # no CA bundle of its own
    own = tracker_session("/etc/ssl/own-bundle.pem")
    assert merged(own, f"{SITE}/x")["verify"] == "/etc/ssl/own-bundle.pem"  # its own bundle wins
