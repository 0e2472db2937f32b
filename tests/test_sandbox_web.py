from datetime import datetime, timedelta, timezone

import pytest

from trackerbridge.sandbox.clock import Clock
from trackerbridge.sandbox.web import BadJson, Request, Response, Router


def ok(request: Request) -> Response:
    return Response(200, {"key": request.path_params.get("key")})


def test_router_matches_params_and_tells_404_from_405() -> None:
    router = Router()
    router.add("GET", "/rest/api/2/issue/{key}", ok)
    get = Request("GET", "/rest/api/2/issue/OPS-1?fields=summary")
    handler = router.match(get)
    assert callable(handler)
    assert handler(get).body == {"key": "OPS-1"}
    assert get.route == "/rest/api/2/issue/{key}"
    assert get.arg("fields") == "summary"
    assert router.match(Request("DELETE", "/rest/api/2/issue/OPS-1")) is True
    assert router.match(Request("GET", "/rest/api/2/nothing")) is None


def test_request_json_errors_are_reported_not_raised_raw() -> None:
    with pytest.raises(BadJson):
        Request("PUT", "/x", {"Content-Type": "application/json"}, b"{not json").json()
    assert Request("PUT", "/x", body=b"").json() is None


def test_response_encodes_json_as_utf8_without_escaping() -> None:
    response = Response(200, {"name": "Zoë"})
    assert response.encode() == '{"name":"Zoë"}'.encode()
    assert response.content_type() == "application/json;charset=UTF-8"
    assert Response(204).encode() == b""


def test_clock_pins_and_advances() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    clock = Clock(start)
    clock.advance(timedelta(days=8))
    assert clock.now() == start + timedelta(days=8)
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 1, 1))
    real = Clock()
    real.advance(timedelta(days=1))
    assert real.now() > datetime.now(timezone.utc) + timedelta(hours=23)
