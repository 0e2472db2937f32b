"""Compiling mappings against a catalog, and mapping records onto initiatives."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from trackerbridge.config.models import MappingFile, Owns
from trackerbridge.connectors.base import Catalog, FieldInfo, RawRecord
from trackerbridge.mapping import MappingError, compile_mapping
from trackerbridge.model import Comment, Link, Person, Size, Stage

CATALOG = Catalog(
    [
        FieldInfo("summary", "Summary", "text", True),
        FieldInfo("assignee", "Assignee", "user", True),
        FieldInfo("status", "Status", "option", False, ("Backlog", "In Progress", "Done")),
        FieldInfo("priority", "Priority", "option", True, ("Highest", "High", "Medium", "Low")),
        FieldInfo("duedate", "Due date", "date", True),
        FieldInfo("updated", "Updated", "datetime", False),
        FieldInfo("labels", "Labels", "labels", True),
        FieldInfo("customfield_1", "Integrator", "user", True),
        FieldInfo("customfield_2", "Execution health", "option", True, ("Green", "Amber", "Red")),
        FieldInfo("customfield_3", "Health reasons", "text", True),
        FieldInfo("customfield_4", "Opportunity", "text", True),
        FieldInfo("customfield_5", "Target end", "datetime", True),
        FieldInfo("customfield_6", "Team", "option", True),
        FieldInfo("customfield_7", "Team", "text", True),
        FieldInfo("customfield_8", "Amount", "number", True),
        FieldInfo("customfield_9", "Launch text", "text", True),
        FieldInfo("comment", "Comment", "comments", False),
    ]
)

BASE: dict[str, Any] = {
    "system": "jira",
    "attributes": {
        "title": "Summary",
        "owner": "Assignee",
        "integrator": "Integrator",
        "stage": {"field": "Status", "values": {"Backlog": "decide", "In Progress": "build", "Done": "done"}},
        "size": {"field": "Priority", "values": {"Highest": "major", "High": "major"}, "default": "minor"},
        "end": "Due date",
        "labels": "Labels",
        "updated": "Updated",
    },
    "links": [{"system": "salesforce", "field": "Opportunity"}],
    "write_back": {"health_field": "Execution health", "reasons_field": "Health reasons", "label_prefix": "health-"},
}
OWNS = Owns(fields=["Execution health", "customfield_3"], label_prefixes=["health-"])


def mapping(**changes: Any) -> MappingFile:
    data = {**BASE, **changes}
    return MappingFile.model_validate(data)


def record(**values: Any) -> RawRecord:
    return RawRecord("OPS-1", "https://jira.example.com/browse/OPS-1", values)


def problems_of(spec: MappingFile, owns: Owns | None = OWNS) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(MappingError) as caught:
        compile_mapping("m", spec, CATALOG, owns)
    return [(p.path, p.message) for p in caught.value.problems]


def test_a_record_maps_onto_every_canonical_attribute() -> None:
    compiled = compile_mapping("m", mapping(), CATALOG, OWNS)
    alice = Person("alice@example.com", "Alice", "acc-1")
    updated = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
    initiative = compiled.to_initiative(
        record(
            summary="Ledger v2",
            assignee=alice,
            customfield_1=None,
            status="In Progress",
            priority="High",
            duedate=date(2026, 12, 1),
            labels=["q3", "health-red"],
            updated=updated,
            customfield_4="006000000000001AAA",
            customfield_2="Red",
            customfield_3="no owner",
        ),
        "jira-main",
    )
    assert (initiative.title, initiative.owner, initiative.integrator) == ("Ledger v2", alice, None)
    assert (initiative.stage, initiative.size, initiative.end) == (Stage.BUILD, Size.MAJOR, date(2026, 12, 1))
    assert initiative.labels == frozenset({"q3", "health-red"})
    assert initiative.links == (Link("salesforce", "006000000000001AAA"),)
    assert initiative.current == {"customfield_2": "Red", "customfield_3": "no owner"}
    assert initiative.ref == "jira-main:OPS-1"
    assert initiative.data_errors == []


def test_fields_requested_are_each_mapped_field_once() -> None:
    ids = [fi.id for fi in compile_mapping("m", mapping(), CATALOG, OWNS).fields]
    assert len(ids) == len(set(ids))
    assert set(ids) == {
        "summary",
        "assignee",
        "customfield_1",
        "status",
        "priority",
        "duedate",
        "labels",
        "updated",
        "customfield_4",
        "customfield_2",
        "customfield_3",
    }


def test_value_map_default_and_unmapped_values() -> None:
    compiled = compile_mapping("m", mapping(), CATALOG, OWNS)
    minor = compiled.to_initiative(record(priority="Low", status="Backlog"), "s")
    assert (minor.size, minor.stage) == (Size.MINOR, Stage.DECIDE)
    odd = compiled.to_initiative(record(status="Parked"), "s")
    assert odd.stage is None
    assert odd.data_errors == [
        "stage: cannot read 'Status' value 'Parked': not in the mapping's value map, and no default"
    ]


def test_datetime_field_read_as_a_date_in_a_time_zone() -> None:
    spec = mapping(attributes={**BASE["attributes"], "end": {"field": "Target end", "timezone": "Europe/Berlin"}})
    compiled = compile_mapping("m", spec, CATALOG, OWNS)
    late_utc = datetime(2026, 3, 31, 22, 30, tzinfo=timezone.utc)  # already April 1st in Berlin
    assert compiled.to_initiative(record(customfield_5=late_utc), "s").end == date(2026, 4, 1)


def test_dates_in_text_fields_with_a_format_and_bad_values_become_data_errors() -> None:
    spec = mapping(attributes={**BASE["attributes"], "start": {"field": "Launch text", "format": "%d.%m.%Y"}})
    compiled = compile_mapping("m", spec, CATALOG, OWNS)
    assert compiled.to_initiative(record(customfield_9="24.12.2026"), "s").start == date(2026, 12, 24)
    bad = compiled.to_initiative(record(customfield_9="soon"), "s")
    assert bad.start is None
    assert bad.data_errors[0].startswith("start: cannot read 'Launch text' value 'soon'")


def test_amount_bands_give_major_and_minor() -> None:
    spec = mapping(
        attributes={**BASE["attributes"], "size": {"field": "Amount", "at_least": {0: "minor", 100000: "major"}}}
    )
    compiled = compile_mapping("m", spec, CATALOG, OWNS)
    assert compiled.to_initiative(record(customfield_8=250000.0), "s").size is Size.MAJOR
    assert compiled.to_initiative(record(customfield_8=99999.0), "s").size is Size.MINOR
    assert compiled.to_initiative(record(customfield_8=None), "s").size is None


def test_unknown_field_gets_a_did_you_mean() -> None:
    spec = mapping(attributes={**BASE["attributes"], "integrator": "Integrater"})
    assert problems_of(spec) == [(("attributes", "integrator", "field"), "no field 'Integrater' in the live catalog")]
    with pytest.raises(MappingError) as caught:
        compile_mapping("m", spec, CATALOG, OWNS)
    assert caught.value.problems[0].hint == "did you mean 'Integrator'?"


def test_a_name_shared_by_two_fields_must_be_given_by_id() -> None:
    spec = mapping(attributes={**BASE["attributes"], "team": "Team"})
    assert problems_of(spec) == [
        (("attributes", "team", "field"), "'Team' names 2 fields (customfield_6, customfield_7)")
    ]
    by_id = mapping(attributes={**BASE["attributes"], "team": "customfield_6"})
    assert compile_mapping("m", by_id, CATALOG, OWNS).to_initiative(record(customfield_6="Data"), "s").team == "Data"


def test_type_mismatch_and_value_map_keys_outside_the_options() -> None:
    spec = mapping(
        attributes={
            **BASE["attributes"],
            "owner": "Due date",
            "stage": {"field": "Status", "values": {"Backlogg": "decide"}},
        }
    )
    found = problems_of(spec)
    assert (("attributes", "owner", "field"), "field 'Due date' is date; owner needs person") in found
    assert (("attributes", "stage", "values", "Backlogg"), "'Backlogg' is not a value of 'Status'") in found


def test_write_back_fields_must_be_updateable_owned_and_have_the_health_options() -> None:
    spec = mapping(write_back={"health_field": "Status", "reasons_field": "Summary", "label_prefix": "tb-"})
    found = problems_of(spec)
    assert (
        ("write_back", "health_field"),
        "field 'Status' (status) is not updateable, so it cannot take the health",
    ) in found
    assert (("write_back", "reasons_field"), "field 'Summary' is not listed in the connector's owns.fields") in found
    assert (
        ("write_back", "label_prefix"),
        "the connector does not own the health labels tb-amber, tb-green, tb-red, tb-sync-conflict",
    ) in found
    options = mapping(
        write_back={
            "health_field": "Execution health",
            "health_values": {"green": "Good", "amber": "Amber", "red": "Red"},
        }
    )
    assert problems_of(options) == [(("write_back", "health_field"), "field 'Execution health' has no option 'Good'")]


def test_take_says_how_many_values_of_a_multi_valued_field_an_attribute_takes() -> None:
    fields = [
        *CATALOG.fields,
        FieldInfo("customfield_20", "Co-owners", "user", True, multiple=True),
        FieldInfo("components", "Components", "labels", True, multiple=True),
    ]
    catalog = Catalog(fields)
    ann, bo = Person("ann@example.com", "Ann", "a-1"), Person(None, "Bo", "a-2")
    attributes = {**BASE["attributes"], "integrator": {"field": "Co-owners", "take": "first"}, "team": "Components"}
    extra = {"co_owners": {"field": "Co-owners", "take": "all"}}
    compiled = compile_mapping("m", mapping(attributes=attributes, extra=extra), catalog, OWNS)
    both = compiled.to_initiative(record(customfield_20=[ann, bo], components=["Mobile"]), "jira")
    assert (both.integrator, both.team, both.extra) == (ann, "Mobile", {"co_owners": [ann, bo]})
    two = compiled.to_initiative(record(customfield_20=[], components=["Mobile", "Web"]), "jira")
    assert two.integrator is None and two.team is None and two.unread == frozenset({"team"})
    assert two.data_errors[0].endswith("holds 2 values (Mobile, Web); the mapping takes one (set take: first or all)")
    owners = {**attributes, "owner": {"field": "Co-owners", "take": "all"}}
    with pytest.raises(MappingError) as refused:
        compile_mapping("m", mapping(attributes=owners), catalog)
    assert "take: all needs an attribute that holds several values; owner holds one person" in str(refused.value)


def test_the_comment_field_feeds_an_extra_attribute_as_comments_and_no_canonical_one() -> None:
    said = (Comment(datetime(2026, 11, 1, 9, tzinfo=timezone.utc), "slip: vendor late"),)
    m = compile_mapping("m", mapping(extra={"slip_reason": "Comment"}), CATALOG, OWNS)
    assert m.to_initiative(record(comment=list(said)), "jira").extra["slip_reason"] == said
    assert m.to_initiative(record(comment=[]), "jira").extra["slip_reason"] is None
    found = problems_of(mapping(attributes={**BASE["attributes"], "title": "Comment"}))
    assert (("attributes", "title", "field"), "field 'Comment' is comments; title needs text") in found
