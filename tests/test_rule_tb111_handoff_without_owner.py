from rulekit import ADA, GRACE, make, messages, run
from trackerbridge.model import Initiative, Link, Stage


def won(delivery_owner: object = None, **attrs: object) -> Initiative:
    values = {
        "key": "006A",
        "system": "salesforce",
        "kind": "New Business",
        "stage": Stage.DONE,
        "links": (Link("jira", "DEL-1"),),
        "extra": {"delivery_owner": delivery_owner},
    }
    values.update(attrs)
    return make(**values)


def test_closed_won_without_delivery_owner_is_an_error() -> None:
    findings = run("TB111", [won()])
    assert messages(findings) == ["hand-off without a delivery owner"]
    assert findings[0].key == "006A"
    assert findings[0].severity.value == "error"


def test_named_delivery_owner_passes() -> None:
    assert run("TB111", [won(ADA)]) == []


def test_blank_text_owner_counts_as_missing() -> None:
    assert len(run("TB111", [won("  ")])) == 1
    assert run("TB111", [won("Ada Lovelace")]) == []


def test_attribute_not_mapped_at_all_counts_as_missing() -> None:
    assert len(run("TB111", [won(extra={})])) == 1


def test_open_and_lost_deals_are_not_hand_offs() -> None:
    records = [won(key=f"006{s.value}", stage=s) for s in Stage if s is not Stage.DONE] + [won(stage=None)]
    assert run("TB111", records) == []


def test_jira_records_are_not_sources_by_default() -> None:
    assert run("TB111", [make(stage=Stage.DONE)]) == []


def test_epic_owner_does_not_count_by_default() -> None:
    assert len(run("TB111", [won(), make(key="DEL-1", kind="Epic", owner=GRACE)])) == 1


def test_fallback_accepts_the_delivery_records_owner() -> None:
    params = {"fallback_to_delivery_owner": True}
    assert run("TB111", [won(), make(key="DEL-1", kind="Epic", owner=GRACE)], params=params) == []
    assert len(run("TB111", [won(), make(key="DEL-1", kind="Epic", owner=None)], params=params)) == 1
    assert len(run("TB111", [won()], params=params)) == 1  # nothing linked


def test_owner_attribute_may_be_canonical() -> None:
    params = {"owner_attribute": "integrator"}
    assert len(run("TB111", [won(ADA)], params=params)) == 1
    assert run("TB111", [won(integrator=GRACE)], params=params) == []


def test_waiver_applies() -> None:
    (finding,) = run("TB111", [won(labels=frozenset({"tb-waive-TB111-until-2026-10-20"}))])
    assert finding.waived_by == "tb-waive-TB111-until-2026-10-20"
