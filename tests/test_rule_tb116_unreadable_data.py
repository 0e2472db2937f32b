from rulekit import make, messages, run


def test_first_error_and_how_many_more() -> None:
    errors = ["end: cannot read 'Due date' value 'soon'", "size: cannot read 'Priority' value 'P0'", "x"]
    findings = run("TB116", [make(data_errors=errors)])
    assert messages(findings) == ["end: cannot read 'Due date' value 'soon' (+2 more)"]
    assert findings[0].severity.value == "warning"


def test_two_errors_say_one_more() -> None:
    assert messages(run("TB116", [make(data_errors=["a", "b"])])) == ["a (+1 more)"]


def test_single_error_has_no_suffix() -> None:
    assert messages(run("TB116", [make(data_errors=["team: cannot read 'Team' value 7"])])) == [
        "team: cannot read 'Team' value 7"
    ]


def test_clean_record_passes() -> None:
    assert run("TB116", [make()]) == []


def test_waiver_applies() -> None:
    record = make(data_errors=["x"], labels=frozenset({"tb-waive-TB116-until-2026-12-31"}))
    (finding,) = run("TB116", [record])
    assert finding.waived_by == "tb-waive-TB116-until-2026-12-31"
