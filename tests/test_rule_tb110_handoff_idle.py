from datetime import datetime, timezone

from rulekit import day, days_ago, make, messages, run
from trackerbridge.model import Initiative, Link, Stage


def won(key: str = "006A", closed: str = "2026-09-01", epic: str | None = "DEL-1", **attrs: object) -> Initiative:
    links = (Link("jira", epic),) if epic else ()
    values = {"system": "salesforce", "kind": "New Business", "stage": Stage.DONE, "end": day(closed), "links": links}
    values.update(attrs)
    return make(key=key, **values)


def epic(key: str = "DEL-1", created: datetime | None = None, **attrs: object) -> Initiative:
    when = created or datetime(2026, 9, 5, 10, tzinfo=timezone.utc)
    return make(key=key, kind="Epic", created=when, **attrs)


def test_quick_handoff_passes() -> None:
    assert run("TB110", [won(), epic()]) == []


def test_late_delivery_record_is_reported_on_the_opportunity() -> None:
    findings = run("TB110", [won(), epic(created=datetime(2026, 9, 20, 8, tzinfo=timezone.utc))])
    assert messages(findings) == ["delivery record created 19 days after close (max 14)"]
    assert findings[0].key == "006A"
    assert findings[0].severity.value == "error"


def test_exactly_fourteen_days_is_allowed() -> None:
    assert run("TB110", [won(), epic(created=datetime(2026, 9, 15, 23, 59, tzinfo=timezone.utc))]) == []
    assert len(run("TB110", [won(), epic(created=datetime(2026, 9, 16, 0, 0, tzinfo=timezone.utc))])) == 1


def test_no_delivery_record_counts_the_idle_days_so_far() -> None:
    findings = run("TB110", [won(closed="2026-09-01", epic=None)])
    assert messages(findings) == ["no delivery record 44 days after close (max 14)"]


def test_recently_closed_without_delivery_record_passes() -> None:
    assert run("TB110", [won(closed="2026-10-05", epic=None)]) == []


def test_link_that_leads_nowhere_counts_as_no_delivery_record() -> None:
    assert len(run("TB110", [won(epic="DEL-404")])) == 1


def test_a_link_from_the_epic_side_is_enough() -> None:
    late = epic(created=days_ago(1), links=(Link("salesforce", "006A"),))
    findings = run("TB110", [won(epic=None), late])
    assert messages(findings) == ["delivery record created 43 days after close (max 14)"]


def test_earliest_delivery_record_decides() -> None:
    early = epic("DEL-1", created=datetime(2026, 9, 3, tzinfo=timezone.utc))
    late = epic("DEL-2", created=datetime(2026, 10, 1, tzinfo=timezone.utc), links=(Link("salesforce", "006A"),))
    assert run("TB110", [won(epic="DEL-1"), early, late]) == []


def test_only_closed_won_records_hand_off() -> None:
    records = [won(key=f"006{s.value}", stage=s, epic=None) for s in Stage if s is not Stage.DONE]
    assert run("TB110", [*records, won(epic=None, stage=None), won(epic=None, end=None)]) == []


def test_jira_records_in_done_are_not_sources_by_default() -> None:
    assert run("TB110", [make(stage=Stage.DONE, end=day("2026-01-01"))]) == []


def test_delivery_without_creation_date_is_not_judged() -> None:
    assert run("TB110", [won(), make(key="DEL-1", kind="Epic", created=None)]) == []


def test_days_are_counted_in_the_configured_time_zone() -> None:
    records = [won(closed="2026-09-01"), epic(created=datetime(2026, 9, 15, 22, 30, tzinfo=timezone.utc))]
    assert run("TB110", records) == []  # the 15th in UTC: 14 days
    findings = run("TB110", records, params={"timezone": "Europe/Berlin"})  # already the 16th there
    assert messages(findings) == ["delivery record created 15 days after close (max 14)"]


def test_parameters_choose_days_and_systems() -> None:
    assert len(run("TB110", [won(), epic()], params={"days": 2})) == 1
    jira_to_jira = [make(key="OPS-1", stage=Stage.DONE, end=day("2026-09-01"), links=(Link("jira", "DEL-1"),)), epic()]
    assert run("TB110", jira_to_jira, params={"source_system": "jira", "days": 4}) == []
    assert len(run("TB110", jira_to_jira, params={"source_system": "jira", "days": 3})) == 1


def test_waiver_text_on_the_opportunity_applies() -> None:
    record = won(epic=None, extra={"waivers": "TB110 until 2026-12-31: customer asked to wait"})
    (finding,) = run("TB110", [record])
    assert finding.waived_by == "TB110 until 2026-12-31: customer asked to wait"
