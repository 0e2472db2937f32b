from rulekit import ADA, GRACE, days_ago, make, messages, run
from trackerbridge.model import Initiative, Link, Person, Stage
from trackerbridge.rules.base import SyncBinding

STAGE_VALUES = {"decide": "Decide", "build": "Build", "launch": "Launch", "done": "Done", "cancelled": "Cancelled"}
STATUS = SyncBinding(
    "demo-jira", "demo-salesforce", "stage", "Delivery_Status__c", "Delivery Status", STAGE_VALUES, "ops@example.com"
)
OWNER = SyncBinding(
    "demo-salesforce", "demo-jira", "owner", "customfield_10200", "Account owner", None, "s@example.com"
)
MAPPINGS = {"jira-del": "demo-jira", "sfdc": "demo-salesforce"}


def pair(status: object = "Build", stage: Stage = Stage.BUILD, touched: float = 3) -> list[Initiative]:
    epic = make(
        key="DEL-1", source="jira-del", kind="Epic", stage=stage, updated=days_ago(touched),
        links=(Link("salesforce", "006A"),), current={"customfield_10200": ADA},
    )  # fmt: skip
    opp = make(
        key="006A", system="salesforce", source="sfdc", kind="New Business", stage=Stage.DONE, owner=ADA,
        updated=days_ago(touched), links=(Link("jira", "DEL-1"),), current={"Delivery_Status__c": status},
    )  # fmt: skip
    return [epic, opp]


def test_agreeing_fields_pass() -> None:
    assert run("TB113", pair(), syncs=[STATUS, OWNER], mappings=MAPPINGS) == []


def test_stale_status_is_reported_on_the_target_record() -> None:
    findings = run("TB113", pair(status="Build", stage=Stage.LAUNCH), syncs=[STATUS], mappings=MAPPINGS)
    assert messages(findings) == ["Delivery Status is 'Build' but the epic's stage says 'Launch'"]
    assert (findings[0].key, findings[0].detail) == ("006A", "stage")
    assert findings[0].severity.value == "warning"


def test_empty_target_value_is_drift() -> None:
    findings = run("TB113", pair(status=None), syncs=[STATUS], mappings=MAPPINGS)
    assert messages(findings) == ["Delivery Status is empty but the epic's stage says 'Build'"]


def test_recent_changes_are_within_the_sync_window() -> None:
    records = pair(status="Build", stage=Stage.LAUNCH, touched=0.5)
    assert run("TB113", records, syncs=[STATUS], mappings=MAPPINGS) == []
    assert len(run("TB113", records, syncs=[STATUS], mappings=MAPPINGS, params={"window_hours": 6})) == 1


def test_one_recently_touched_side_is_enough_to_wait() -> None:
    epic, opp = pair(status="Build", stage=Stage.LAUNCH)
    epic.updated = days_ago(0.1)
    assert run("TB113", [epic, opp], syncs=[STATUS], mappings=MAPPINGS) == []


def test_people_compare_by_identity() -> None:
    epic, opp = pair()
    epic.current = {"customfield_10200": Person(email="ADA@example.com", name="A. Lovelace", ref="712020:1")}
    assert run("TB113", [epic, opp], syncs=[OWNER], mappings=MAPPINGS) == []
    epic.current = {"customfield_10200": GRACE}
    findings = run("TB113", [epic, opp], syncs=[OWNER], mappings=MAPPINGS)
    assert messages(findings) == ["Account owner is 'Grace Hopper' but the new business's owner says 'Ada Lovelace'"]
    assert findings[0].key == "DEL-1"


def test_target_value_not_read_is_skipped() -> None:
    epic, opp = pair(stage=Stage.LAUNCH)
    opp.current = {}
    assert run("TB113", [epic, opp], syncs=[STATUS], mappings=MAPPINGS) == []


def test_source_value_outside_the_value_map_is_skipped() -> None:
    epic, opp = pair(status="Build")
    epic.stage = None
    assert run("TB113", [epic, opp], syncs=[STATUS], mappings=MAPPINGS) == []


def test_unlinked_records_are_not_compared() -> None:
    epic, opp = pair(status="Decide")
    epic.links, opp.links = (), ()
    assert run("TB113", [epic, opp], syncs=[STATUS], mappings=MAPPINGS) == []


def test_records_of_other_mappings_are_not_compared() -> None:
    records = pair(status="Decide")
    assert run("TB113", records, syncs=[STATUS], mappings={"jira-del": "other", "sfdc": "demo-salesforce"}) == []


def test_connector_named_like_its_mapping_needs_no_entry() -> None:
    epic, opp = pair(status="Decide")
    epic.source, opp.source = "demo-jira", "demo-salesforce"
    assert len(run("TB113", [epic, opp], syncs=[STATUS])) == 1


def test_no_bindings_no_findings() -> None:
    assert run("TB113", pair(status="Decide"), mappings=MAPPINGS) == []


def test_two_sources_disagreeing_with_one_target_give_one_finding() -> None:
    epic, opp = pair(status="Decide")
    second = make(key="DEL-2", source="jira-del", kind="Epic", stage=Stage.LAUNCH, updated=days_ago(3),
                  links=(Link("salesforce", "006A"),))  # fmt: skip
    findings = run("TB113", [epic, second, opp], syncs=[STATUS], mappings=MAPPINGS)
    assert [(f.key, f.detail) for f in findings] == [("006A", "stage")]


def test_without_value_map_text_is_compared_trimmed() -> None:
    binding = SyncBinding("demo-jira", "demo-salesforce", "team", "Team__c", "Team", None, "x@example.com")
    epic, opp = pair()
    opp.current = {"Team__c": " Platform "}
    assert run("TB113", [epic, opp], syncs=[binding], mappings=MAPPINGS) == []
    opp.current = {"Team__c": "Payments"}
    assert messages(run("TB113", [epic, opp], syncs=[binding], mappings=MAPPINGS)) == [
        "Team is 'Payments' but the epic's team says 'Platform'"
    ]


def test_waiver_on_the_target_applies() -> None:
    epic, opp = pair(status="Decide")
    opp.extra = {"waivers": "TB113 until 2026-11-30: migration in progress"}
    (finding,) = run("TB113", [epic, opp], syncs=[STATUS], mappings=MAPPINGS)
    assert finding.waived_by == "TB113 until 2026-11-30: migration in progress"
