from rulekit import ADA, GRACE, days_ago, make, messages, run
from trackerbridge.model import Initiative, Person, Stage


def load(owner: Person, n: int, prefix: str = "OPS", **attrs: object) -> list[Initiative]:
    return [make(key=f"{prefix}-{k}", owner=owner, created=days_ago(100 - k), **attrs) for k in range(1, n + 1)]


def test_one_finding_per_overloaded_owner_on_the_newest_initiative() -> None:
    findings = run("TB107", load(ADA, 6))
    assert messages(findings) == ["owner Ada Lovelace carries 6 active initiatives (max 5)"]
    assert findings[0].key == "OPS-6"  # the latest created
    assert findings[0].detail == "ada@example.com"


def test_at_capacity_passes() -> None:
    assert run("TB107", load(ADA, 5)) == []


def test_anchor_does_not_move_when_an_older_record_is_updated() -> None:
    records = load(ADA, 6)
    records[0].updated = days_ago(0)
    assert [f.key for f in run("TB107", records)] == ["OPS-6"]


def test_finished_initiatives_and_unowned_ones_do_not_count() -> None:
    records = [*load(ADA, 5), make(owner=ADA, stage=Stage.DONE), make(owner=ADA, stage=Stage.CANCELLED)]
    records += [make(owner=None) for _ in range(9)]
    assert run("TB107", records) == []


def test_same_person_across_systems_by_email_case_folded() -> None:
    ada_in_salesforce = Person(email="ADA@Example.com", name="Ada L.", ref="005xx")
    records = load(ADA, 3) + load(ada_in_salesforce, 3, prefix="SF", system="salesforce", source="sfdc")
    (finding,) = run("TB107", records)
    assert "carries 6 active" in finding.message


def test_kinds_parameter_limits_what_counts() -> None:
    records = load(ADA, 4) + load(ADA, 4, prefix="DEL", kind="Epic")
    assert len(run("TB107", records)) == 1
    assert run("TB107", records, params={"kinds": ["initiative"]}) == []  # case-insensitive
    assert len(run("TB107", records, params={"kinds": ["Epic", "Initiative"]})) == 1


def test_max_active_parameter_and_several_owners() -> None:
    records = load(ADA, 3) + load(GRACE, 4, prefix="DEL")
    findings = run("TB107", records, params={"max_active": 2})
    assert sorted(f.detail for f in findings) == ["ada@example.com", "grace@example.com"]
    assert "(max 2)" in findings[0].message


def test_owner_without_any_identity_is_ignored() -> None:
    assert run("TB107", load(Person(), 8)) == []


def test_waiver_on_the_anchor_record_waives() -> None:
    records = load(ADA, 6)
    records[-1].labels = frozenset({"tb-waive-TB107-until-2026-12-01"})
    (finding,) = run("TB107", records)
    assert finding.waived_by == "tb-waive-TB107-until-2026-12-01"
