import pytest

from rulekit import days_ago, make, messages, run
from trackerbridge.model import Initiative, Person, Stage


def person(n: int) -> Person:
    return Person(email=f"p{n}@example.com", name=f"P{n}")


def team_load(team: str, owners: int, items: int, **attrs: object) -> list[Initiative]:
    return [
        make(key=f"{team}-{k}", team=team, owner=person(k % owners), created=days_ago(200 - k), **attrs)
        for k in range(items)
    ]


def test_capacity_is_estimated_from_owners_seen() -> None:
    findings = run("TB108", team_load("Platform", 2, 11))
    assert messages(findings) == ["team Platform carries 11 active initiatives (capacity 10, 2 owners x 5)"]
    assert findings[0].detail == "Platform"
    assert findings[0].key == "Platform-10"  # the newest


def test_within_estimated_capacity_passes() -> None:
    assert run("TB108", team_load("Platform", 2, 10)) == []


def test_owners_of_finished_records_count_as_members() -> None:
    records = [*team_load("Platform", 2, 11), make(team="Platform", owner=person(99), stage=Stage.DONE)]
    assert run("TB108", records) == []


def test_configured_capacity_wins_over_the_estimate() -> None:
    records = team_load("Platform", 2, 8)
    findings = run("TB108", records, params={"capacity": {"Platform": 7}})
    assert messages(findings) == ["team Platform carries 8 active initiatives (capacity 7)"]
    assert run("TB108", team_load("Platform", 1, 8), params={"capacity": {"Platform": 8}}) == []


def test_per_member_parameter() -> None:
    records = team_load("Platform", 2, 5)
    assert len(run("TB108", records, params={"per_member": 2})) == 1


def test_unowned_items_count_as_load() -> None:
    records = [*team_load("Platform", 1, 5), make(team="Platform", owner=None)]
    assert len(run("TB108", records)) == 1


def test_team_without_owners_has_no_capacity() -> None:
    findings = run("TB108", [make(team="Ghosts", owner=None)])
    assert messages(findings) == ["team Ghosts carries 1 active initiative (capacity 0, 0 owners x 5)"]


def test_records_without_team_and_finished_ones_are_not_counted() -> None:
    records = team_load("Platform", 1, 5) + [make(team=None) for _ in range(20)]
    records += [make(team="Platform", owner=person(0), stage=Stage.DONE) for _ in range(20)]
    assert run("TB108", records) == []


def test_kinds_parameter() -> None:
    records = team_load("Platform", 1, 4) + team_load("Platform", 1, 4, kind="Epic")
    assert len(run("TB108", records)) == 1
    assert run("TB108", records, params={"kinds": ["Initiative"]}) == []


def test_one_finding_per_team_sorted() -> None:
    records = team_load("Data", 1, 6) + team_load("Apps", 1, 7) + team_load("Web", 1, 3)
    assert [f.detail for f in run("TB108", records)] == ["Apps", "Data"]


def test_capacity_values_must_be_whole_numbers() -> None:
    with pytest.raises(ValueError, match="capacity of team 'Platform'"):
        run("TB108", team_load("Platform", 1, 3), params={"capacity": {"Platform": "ten"}})


def test_waiver_applies() -> None:
    records = team_load("Platform", 1, 6)
    records[-1].labels = frozenset({"tb-waive-TB108-until-2026-12-01"})
    (finding,) = run("TB108", records)
    assert finding.waived_by is not None
