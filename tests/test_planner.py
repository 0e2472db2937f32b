"""The sync planner: minimal changes, owned labels only, no echoes, conflicts, one note per turn."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

from trackerbridge.connectors.base import FieldInfo
from trackerbridge.health import Flag, Health
from trackerbridge.model import Initiative, Link, Person, Stage
from trackerbridge.planner import PeopleMatch, PlanState, WriteSpec, plan
from trackerbridge.rules.base import SyncBinding

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
HEALTH = FieldInfo("cf_health", "Execution health", "option", True, ("Green", "Amber", "Red"))
REASONS = FieldInfo("cf_reasons", "Health reasons", "text", True)
STATUS = FieldInfo("Delivery_Status__c", "Delivery Status", "option", True)
JIRA = WriteSpec("jira", "m-jira", HEALTH, reasons_field=REASONS, label_prefix="health-", notify_on_red=True)
SF = WriteSpec("sf", "m-sf", sync_fields={"sync:m-jira:stage": STATUS})
STAGE_SYNC = SyncBinding(
    "m-jira",
    "m-sf",
    "stage",
    "Delivery_Status__c",
    "Delivery Status",
    {"build": "Build", "launch": "Launch"},
    "ops@example.com",
)
ALICE = Person("alice@example.com", "Alice", "acc-a")


def epic(**kw: Any) -> Initiative:
    base: dict[str, Any] = {
        "source": "jira",
        "system": "jira",
        "key": "DEL-1",
        "url": "u",
        "owner": ALICE,
        "labels": frozenset({"q3", "health-green"}),
        "current": {"cf_health": "Green", "cf_reasons": None},
    }
    return Initiative(**{**base, **kw})


def red() -> Health:
    return Health(Flag.RED, ("TB102 no end date",))


def test_nothing_is_written_when_tracker_already_shows_the_verdict() -> None:
    green = Health(Flag.GREEN)
    result = plan([epic()], {"jira:DEL-1": green}, {"jira": JIRA}, [], PlanState(), NOW)
    assert result.changes == []


def test_turning_red_writes_fields_and_swaps_only_owned_labels() -> None:
    result = plan([epic()], {"jira:DEL-1": red()}, {"jira": JIRA}, [], PlanState(), NOW)
    [change] = result.changes
    assert [(f.field, f.before, f.after) for f in change.fields] == [
        ("cf_health", "Green", "Red"),
        ("cf_reasons", None, "TB102 no end date"),
    ]
    assert (change.add_labels, change.remove_labels) == (["health-red"], ["health-green"])
    [note] = change.notes  # the record shows Green: a turn, whatever the (here empty) state store knows
    assert note.kind == "turned-red"
    assert result.health == [("jira", "DEL-1", "red", NOW)]


def test_a_record_that_shows_no_health_yet_is_its_baseline_not_a_turn() -> None:
    blank = epic(current={"cf_health": None, "cf_reasons": None}, labels=frozenset({"q3"}))
    known = PlanState(health={("jira", "DEL-1"): ("green", NOW - timedelta(days=1))})
    [change] = plan([blank], {"jira:DEL-1": red()}, {"jira": JIRA}, [], known, NOW).changes
    assert change.notes == [], "the tracker shows no verdict: a store's memory does not make a turn"


def test_the_turn_is_read_from_the_record_not_from_the_store() -> None:
    shows_red = epic(current={"cf_health": "Red", "cf_reasons": "TB102 no end date"}, labels=frozenset({"health-red"}))
    stale_store = PlanState(health={("jira", "DEL-1"): ("amber", NOW - timedelta(days=3))})
    result = plan([shows_red], {"jira:DEL-1": red()}, {"jira": JIRA}, [], stale_store, NOW)
    assert result.changes == [], "another instance already wrote Red and its note: nothing to post"


def test_the_marker_is_the_same_for_two_instances_with_different_stores() -> None:
    updated = NOW - timedelta(days=40)
    one = plan([epic(updated=updated)], {"jira:DEL-1": red()}, {"jira": JIRA}, [], PlanState(), NOW)
    other_store = PlanState(health={("jira", "DEL-1"): ("green", NOW - timedelta(days=9))})
    two = plan(
        [epic(updated=updated)], {"jira:DEL-1": red()}, {"jira": JIRA}, [], other_store, NOW + timedelta(hours=2)
    )
    assert one.changes[0].notes[0].marker == two.changes[0].notes[0].marker


def test_only_the_health_vocabulary_is_owned_not_every_label_with_the_prefix() -> None:
    people = frozenset({"health-insurance", "health-check-2027", "health-green", "q3"})
    [change] = plan([epic(labels=people)], {"jira:DEL-1": red()}, {"jira": JIRA}, [], PlanState(), NOW).changes
    assert (change.add_labels, change.remove_labels) == (["health-red"], ["health-green"])
    wide = WriteSpec("jira", "m-jira", HEALTH, label_prefix="health-", owned_label_prefixes=("health-",))
    [opted] = plan([epic(labels=people)], {"jira:DEL-1": red()}, {"jira": wide}, [], PlanState(), NOW).changes
    assert opted.remove_labels == ["health-check-2027", "health-green", "health-insurance"], "the documented opt-in"
    exact = WriteSpec("jira", "m-jira", HEALTH, label_prefix="health-", owned_labels=frozenset({"health-old"}))
    [named] = plan(
        [epic(labels=frozenset({"health-old", "health-insurance"}))],
        {"jira:DEL-1": red()},
        {"jira": exact},
        [],
        PlanState(),
        NOW,
    ).changes
    assert named.remove_labels == ["health-old"], "a label the connector names exactly is owned"


def test_every_write_carries_the_activity_it_judged_on_and_the_stamp_alone_never_writes() -> None:
    activity = NOW - timedelta(days=40)
    activity_field = FieldInfo("TB_Last_Activity__c", "Last Person Activity", "datetime", True)
    spec = WriteSpec("jira", "m-jira", HEALTH, stamp=True, activity_field=activity_field)
    [change] = plan([epic(updated=activity)], {"jira:DEL-1": red()}, {"jira": spec}, [], PlanState(), NOW).changes
    assert change.stamp and change.activity == activity
    assert ("TB_Last_Activity__c", None, activity) in [(f.field, f.before, f.after) for f in change.fields]
    settled = epic(updated=activity, current={"cf_health": "Green", "TB_Last_Activity__c": None})
    assert plan([settled], {"jira:DEL-1": Health(Flag.GREEN)}, {"jira": spec}, [], PlanState(), NOW).changes == []


def test_a_turn_to_red_after_a_known_flag_notes_once_with_a_stable_marker() -> None:
    since = NOW - timedelta(days=3)
    state = PlanState(health={("jira", "DEL-1"): ("amber", since)})
    amber = epic(current={"cf_health": "Amber", "cf_reasons": None}, labels=frozenset({"health-amber"}))
    first = plan([amber], {"jira:DEL-1": red()}, {"jira": JIRA}, [], state, NOW)
    again = plan([amber], {"jira:DEL-1": red()}, {"jira": JIRA}, [], state, NOW + timedelta(minutes=5))
    [note] = first.changes[0].notes
    assert note.mention == ALICE and "TB102 no end date" in note.text
    assert again.changes[0].notes[0].marker == note.marker, "a re-run after a crash finds the same marker"
    settled = PlanState(health={("jira", "DEL-1"): ("red", NOW)})
    assert (
        plan(
            [epic(current={"cf_health": "Red", "cf_reasons": "TB102 no end date"}, labels=frozenset({"health-red"}))],
            {"jira:DEL-1": red()},
            {"jira": JIRA},
            [],
            settled,
            NOW,
        ).changes
        == []
    )


def source_and_target(stage: Stage | None, target_value: str | None) -> list[Initiative]:
    jira = epic(stage=stage, links=(Link("salesforce", "006A"),), current={"cf_health": "Green"})
    sf = Initiative(
        "sf", "salesforce", "006A", "u2", links=(Link("jira", "DEL-1"),), current={"Delivery_Status__c": target_value}
    )
    return [jira, sf]


def test_sync_writes_the_source_of_truth_value_to_the_linked_record() -> None:
    records = source_and_target(Stage.BUILD, "Decide")
    result = plan(records, {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], PlanState(), NOW)
    [change] = result.changes
    assert (change.connector, change.key) == ("sf", "006A")
    assert [(f.field, f.before, f.after, f.reason) for f in change.fields] == [
        ("Delivery_Status__c", "Decide", "Build", "sync:m-jira:stage")
    ]
    assert ("jira", "DEL-1", "seen:stage", "build") in result.remember


def test_a_value_trackerbridge_wrote_is_not_echoed_back() -> None:
    records = source_and_target(Stage.BUILD, "Build")
    state = PlanState(written={("sf", "006A", "Delivery_Status__c"): "Build", ("jira", "DEL-1", "seen:stage"): "build"})
    result = plan(records, {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], state, NOW)
    assert result.changes == [] and result.remember == [] and result.conflicts == []


def test_both_sides_changed_is_a_conflict_and_nothing_is_overwritten() -> None:
    records = source_and_target(Stage.LAUNCH, "Done")  # Jira moved on; someone also edited Salesforce
    state = PlanState(written={("sf", "006A", "Delivery_Status__c"): "Build", ("jira", "DEL-1", "seen:stage"): "build"})
    health = {"jira:DEL-1": Health(Flag.GREEN), "sf:006A": Health(Flag.GREEN)}
    result = plan(records, health, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], state, NOW)
    [conflict] = result.conflicts
    assert (conflict.source_value, conflict.target_value, conflict.last_written) == ("launch", "Done", "Build")
    assert all(f.field != "Delivery_Status__c" for c in result.changes for f in c.fields)
    jira_change = next(c for c in result.changes if c.connector == "jira")
    assert "health-sync-conflict" in jira_change.add_labels
    assert any("sync conflict on stage" in str(f.after) for f in jira_change.fields)


def test_only_the_replica_changed_restores_the_source_of_truth() -> None:
    records = source_and_target(Stage.BUILD, "Done")
    state = PlanState(written={("sf", "006A", "Delivery_Status__c"): "Build", ("jira", "DEL-1", "seen:stage"): "build"})
    result = plan(records, {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], state, NOW)
    [change] = result.changes
    assert [(f.before, f.after) for f in change.fields] == [("Done", "Build")]
    assert result.conflicts == []


def test_people_compare_by_identity_not_by_name_spelling() -> None:
    owner_sync = SyncBinding("m-jira", "m-sf", "owner", "Delivery_Owner__c", "Delivery Owner", None, "x@example.com")
    target = FieldInfo("Delivery_Owner__c", "Delivery Owner", "user", True)
    sf_spec = WriteSpec("sf", "m-sf", sync_fields={"sync:m-jira:owner": target})
    jira = epic(links=(Link("salesforce", "006A"),))
    sf = Initiative(
        "sf", "salesforce", "006A", "u2", current={"Delivery_Owner__c": Person("ALICE@example.com", "A. Smith", "005X")}
    )
    assert plan([jira, sf], {}, {"jira": JIRA, "sf": sf_spec}, [owner_sync], PlanState(), NOW).changes == []


def test_an_unreadable_or_unmapped_source_value_never_blanks_the_target() -> None:
    """A status the mapping's value map lacks reads as no stage (a TB116 finding): the opportunity keeps
    'Launch', and the stop is reported. So does a stage the sync's own value map lacks."""
    unread = source_and_target(None, "Launch")
    unread[0].unread = frozenset({"stage"})
    result = plan(unread, {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], PlanState(), NOW)
    assert result.changes == []
    [held] = result.held
    assert (held.source, held.target, held.attribute) == ("jira:DEL-1", "sf:006A", "stage")
    assert "could not be read" in held.reason
    assert not [r for r in result.remember if r[2] == "seen:stage"]  # not remembered as seen either
    unmapped = plan(
        source_and_target(Stage.DONE, "Launch"), {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], PlanState(), NOW
    )
    assert (
        unmapped.changes == [] and "'done'" in unmapped.held[0].reason and "sync's value map" in unmapped.held[0].reason
    )


def test_a_held_record_gets_no_health_write_and_holds_what_syncs_into_it() -> None:
    records = source_and_target(Stage.BUILD, "Decide")
    records[1].held = True  # the opportunity came back without a mapped field
    held_epic = epic(held=True)
    result = plan([held_epic], {"jira:DEL-1": red()}, {"jira": JIRA}, [], PlanState(), NOW)
    assert result.changes == [] and result.health == []
    synced = plan(records, {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], PlanState(), NOW)
    assert synced.changes == [] and synced.held[0].target == "sf:006A"


def test_an_open_conflict_keeps_its_base_until_it_is_settled() -> None:
    """Remembering the source's new value would make the next run overwrite the person's edit on the target."""
    records = source_and_target(Stage.LAUNCH, "Done")
    state = PlanState(written={("sf", "006A", "Delivery_Status__c"): "Build", ("jira", "DEL-1", "seen:stage"): "build"})
    result = plan(records, {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], state, NOW)
    assert [(c.field_id, c.field, c.desired) for c in result.conflicts] == [
        ("Delivery_Status__c", STAGE_SYNC.target_name, "Launch")
    ]
    assert not any(slot == "seen:stage" for _, _, slot, _ in result.remember)
    again = plan(records, {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], state, NOW)
    assert len(again.conflicts) == 1 and all(f.field != "Delivery_Status__c" for c in again.changes for f in c.fields)
    settled = source_and_target(Stage.LAUNCH, "Launch")  # a person made both sides agree
    closed = plan(settled, {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], state, NOW)
    assert closed.conflicts == [] and ("jira", "DEL-1", "seen:stage", "launch") in closed.remember


def test_an_empty_source_of_truth_keeps_the_filled_target_and_is_reported() -> None:
    """Issue 16: an epic with no stage does not blank the opportunity's 'Launch' unless the sync says
    `clear: true`; the hold names both records and the field."""
    result = plan(source_and_target(None, "Launch"), {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], PlanState(), NOW)
    assert result.changes == []
    [held] = result.held
    assert (held.source, held.target, held.attribute) == ("jira:DEL-1", "sf:006A", "stage")
    assert "is empty" in held.reason and "'Launch'" in held.reason and "clear: true" in held.reason
    empty_target = plan(source_and_target(None, None), {}, {"jira": JIRA, "sf": SF}, [STAGE_SYNC], PlanState(), NOW)
    assert empty_target.changes == [] and empty_target.held == [], "both empty: nothing to hold"


def test_clear_true_lets_an_empty_source_of_truth_erase_the_target() -> None:
    clearing = dataclasses.replace(STAGE_SYNC, clear=True)
    result = plan(source_and_target(None, "Launch"), {}, {"jira": JIRA, "sf": SF}, [clearing], PlanState(), NOW)
    assert result.held == []
    [change] = result.changes
    assert [(f.field, f.before, f.after) for f in change.fields] == [("Delivery_Status__c", "Launch", None)]


def test_the_turned_red_note_says_what_to_do_with_each_rules_fix_text() -> None:
    """Issue 16: the note lists each reason with its rule's fix text (given to the planner as data);
    a rolled-up child's reason points at the child; its title is one line for a task list."""
    verdict = Health(Flag.RED, ("TB102 end date missing", "DEL-33 red: TB101", "TB999 plugin rule"))
    fixes = {"TB102": "Set the date by which it ends.", "TB101": "Name one person as owner."}
    [change] = plan([epic()], {"jira:DEL-1": verdict}, {"jira": JIRA}, [], PlanState(), NOW, fixes=fixes).changes
    [note] = change.notes
    assert note.title == "Execution health turned red: TB102 end date missing; DEL-33 red: TB101; TB999 plugin rule"
    assert note.text.splitlines() == [
        note.title,
        "",
        "It showed green before. What to do:",
        "- TB102 end date missing: Set the date by which it ends.",
        "- DEL-33 red: TB101: see DEL-33 for what to do there.",
        "- TB999 plugin rule",
    ]
    unchanged = plan([epic()], {"jira:DEL-1": verdict}, {"jira": JIRA}, [], PlanState(), NOW).changes[0].notes[0]
    assert unchanged.marker == note.marker, "the marker is a function of the tracker data, not of the text"


def owner_pair(current: Person | None) -> tuple[list[Initiative], WriteSpec, SyncBinding]:
    target = FieldInfo("Delivery_Owner__c", "Delivery Owner", "user", True)
    sf_spec = WriteSpec("sf", "m-sf", sync_fields={"sync:m-jira:owner": target})
    hidden = Person(None, "Alice", "acc-a")  # Jira Cloud: the address is hidden
    jira = epic(owner=hidden, links=(Link("salesforce", "006A"),))
    sf = Initiative("sf", "salesforce", "006A", "u2", current={"Delivery_Owner__c": current})
    binding = SyncBinding("m-jira", "m-sf", "owner", "Delivery_Owner__c", "Delivery Owner", None, "ops@example.com")
    return [jira, sf], sf_spec, binding


def test_one_person_under_two_identities_is_not_rewritten() -> None:
    """Issue 13: the trackers' accounts tie acc-a (Jira) to alice@ (Salesforce): no write, judged as synced."""
    records, sf_spec, binding = owner_pair(Person("alice@example.com", "Alice", "005A"))
    specs = {"jira": JIRA, "sf": sf_spec}
    assert plan(records, {}, specs, [binding], PlanState(), NOW).changes, "by identity alone: a rewrite"
    tied = PeopleMatch(same=frozenset({frozenset(("acc-a", "alice@example.com"))}))
    result = plan(records, {}, specs, [binding], PlanState(), NOW, people=tied)
    assert result.changes == [] and result.held == []
    assert result.matched == [("sf", "006A", "Delivery_Owner__c", records[0].owner)]
    assert ("sf", "006A", "Delivery_Owner__c", Person("alice@example.com", "Alice", "005A")) in result.remember


def test_a_person_without_an_account_on_the_target_is_held_and_the_rest_is_written() -> None:
    records, sf_spec, binding = owner_pair(None)
    sf_spec = dataclasses.replace(sf_spec, health_field=HEALTH)
    records[1].current["cf_health"] = "Green"
    nobody = PeopleMatch(unmatched={("sf", "acc-a"): "looked up by account id acc-a"})
    result = plan(
        records, {"sf:006A": red()}, {"jira": JIRA, "sf": sf_spec}, [binding], PlanState(), NOW, people=nobody
    )
    [held] = result.held
    assert (held.source, held.target, held.attribute) == ("jira:DEL-1", "sf:006A", "owner")
    assert held.reason == (
        "no Salesforce account matches Alice (looked up by account id acc-a); sf:006A keeps its Delivery Owner empty"
    )
    [change] = result.changes
    assert [(f.field, f.after) for f in change.fields] == [("cf_health", "Red")], "health is still written"
