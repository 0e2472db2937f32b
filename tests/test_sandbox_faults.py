import pytest

from trackerbridge.sandbox.faults import FaultInjector, FaultSpecError, parse_fault_spec


def kinds(injector: FaultInjector, service: str, n: int) -> list[str | None]:
    return [injector.decide(service).kind for _ in range(n)]


def test_every_nth_request_is_rate_limited_with_retry_after() -> None:
    injector = FaultInjector(parse_fault_spec("rate-limit:every=5,retry_after=3"))
    decisions = [injector.decide("jira") for _ in range(10)]
    hits = [i for i, d in enumerate(decisions, 1) if d.kind == "rate-limit"]
    assert hits == [5, 10]
    assert decisions[4].retry_after == 3


def test_rate_faults_are_reproducible_from_the_seed() -> None:
    spec = "error:rate=0.3,status=502;drop:rate=0.1"
    first = kinds(FaultInjector(parse_fault_spec(spec), seed=11), "salesforce", 200)
    again = kinds(FaultInjector(parse_fault_spec(spec), seed=11), "salesforce", 200)
    other = kinds(FaultInjector(parse_fault_spec(spec), seed=12), "salesforce", 200)
    assert first == again
    assert first != other
    assert 30 < first.count("error") < 90
    assert "drop" in first


def test_service_after_and_count_limit_where_a_rule_fires() -> None:
    injector = FaultInjector(parse_fault_spec("rate-limit:every=1,service=salesforce,after=2,count=2"))
    assert kinds(injector, "jira", 3) == [None, None, None]
    assert kinds(injector, "salesforce", 6) == [None, None, "rate-limit", "rate-limit", None, None]


def test_a_method_filter_counts_only_that_methods_requests() -> None:
    injector = FaultInjector(parse_fault_spec("drop-reply:every=2,method=put,service=jira"))
    seen = [injector.decide("jira", m).kind for m in ("GET", "PUT", "GET", "PUT", "POST", "PUT", "PUT")]
    assert seen == [None, None, None, "drop-reply", None, None, "drop-reply"]
    assert injector.rules[0].describe()["method"] == "PUT"


def test_latency_adds_up_and_applies_to_faulted_requests_too() -> None:
    injector = FaultInjector(parse_fault_spec("latency:ms=20;latency:ms=5,service=jira;error:every=2"))
    first, second = injector.decide("jira"), injector.decide("jira")
    assert (first.kind, first.latency_ms) == (None, 25)
    assert (second.kind, second.status, second.latency_ms) == ("error", 503, 25)
    assert injector.decide("salesforce").latency_ms == 20


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode:every=2", "unknown fault kind 'explode'"),
        ("error", "error needs every=N or rate=P"),
        ("error:rate=2", "invalid value '2' for 'rate'"),
        ("error:every=2,status=404", "status must be 500, 502, 503 or 504"),
        ("drop:rate=0.1,colour=red", "unknown fault parameter 'colour'"),
        ("latency:ms=0", "latency needs ms=N"),
        ("rate-limit:every", "expected key=value"),
        ("error:every=1,service=github", "invalid value 'github' for 'service'"),
        ("drop-reply:every=1,method=P-T", "invalid value 'P-T' for 'method'"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_fault_spec(spec)
