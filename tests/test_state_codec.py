"""The state codec: everything the store keeps must come back exactly, through real JSON text."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from trackerbridge.health import Flag
from trackerbridge.model import Change, Initiative, Link, Person, Size, Stage
from trackerbridge.state import codec
from trackerbridge.state.codec import (
    CodecError,
    decode_initiative,
    decode_value,
    dumps_initiative,
    dumps_value,
    encode_initiative,
    encode_value,
    loads_initiative,
    loads_value,
)

UTC = timezone.utc
T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)


def full_initiative() -> Initiative:
    """Every attribute set to something other than its default."""
    return Initiative(
        source="jira-main",
        system="jira",
        key="OPS-12",
        url="https://jira.example.com/browse/OPS-12",
        title="Déploiement: 日本語 🚀",
        kind="Epic",
        owner=Person("ana@example.com", "Ana Núñez", "acc-1"),
        integrator=Person("li@example.com", None, None),
        decision_owner=Person(None, None, "005000000000001"),
        team="Platform",
        stage=Stage.DECIDE,
        stage_entered=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        lane="growth",
        size=Size.MAJOR,
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        learning_note="We learned ✓",
        commitment=False,
        scorecard_measures=0,
        labels=frozenset({"zeta", "alpha", "tb-health-red", "ünï"}),
        links=(Link("salesforce", "006AB"), Link("jira", "OPS-1")),
        created=datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=-7))),
        updated=datetime(2026, 11, 24, 23, 59, 59, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        extra={
            "sponsor": Person("s@example.com", "Sponsor", None),
            "due": date(2027, 3, 1),
            "seen": T0,
            "region": "EMEA",
            "arr": 1234.5,
            "flagged": True,
            "none": None,
            "tags": ["a", Person(None, "B", None), date(2026, 1, 1), None],
        },
        current={"customfield_10010": "red", "customfield_10011": None, "labels": ["x", "y"], "n": 3, "f": 0.1},
        data_errors=["end: 'soon' is not a date", "owner: unknown user"],
        history=(
            Change(T0, "stage", "decide", "build", Person("a@example.com", "A", "x")),
            Change(T0 + timedelta(days=1), "owner", Person("a@x", None, None), None, None),
            Change(T0 + timedelta(days=2), "end", None, date(2026, 5, 1)),
        ),
    )


def through_json_initiative(i: Initiative) -> Initiative:
    return loads_initiative(dumps_initiative(i))


def through_json(v: Any) -> Any:
    return loads_value(dumps_value(v))


def test_full_initiative_round_trips_exactly() -> None:
    i = full_initiative()
    back = through_json_initiative(i)
    assert back == i
    for f in fields(Initiative):  # same types too, not only equal values (a date is not a datetime)
        assert type(getattr(back, f.name)) is type(getattr(i, f.name)), f.name
    assert type(back.extra["due"]) is date and type(back.extra["seen"]) is datetime
    assert back.created is not None and back.created.utcoffset() == timedelta(hours=-7)


def test_minimal_initiative_round_trips_and_stays_small() -> None:
    i = Initiative(source="sf", system="salesforce", key="006X", url="https://sf/006X")
    text = dumps_initiative(i)
    assert json.loads(text) == {"source": "sf", "system": "salesforce", "key": "006X", "url": "https://sf/006X"}
    back = loads_initiative(text)
    assert back == i
    assert back.labels == frozenset() and back.links == () and back.extra == {} and back.history == ()


def test_none_everywhere_round_trips() -> None:
    i = Initiative(
        source="s", system="jira", key="K-1", url="", title="", history=(Change(T0, "owner", None, None, None),)
    )
    assert through_json_initiative(i) == i
    i.title = None  # type: ignore[assignment]  # a mapping that fed None where text was expected
    assert through_json_initiative(i).title is None


def test_non_ascii_is_kept_as_text_not_escaped() -> None:
    text = dumps_initiative(full_initiative())
    assert "日本語 🚀" in text and "Núñez" in text
    assert through_json_initiative(full_initiative()).title == "Déploiement: 日本語 🚀"


def test_labels_are_stored_sorted_so_the_same_set_gives_the_same_text() -> None:
    a = Initiative("s", "jira", "K", "u", labels=frozenset(["b", "a", "c"]))
    b = Initiative("s", "jira", "K", "u", labels=frozenset(["c", "b", "a"]))
    assert dumps_initiative(a) == dumps_initiative(b)
    assert json.loads(dumps_initiative(a))["labels"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "ünïcödé ✓",
        0,
        -(2**63),
        2**70,
        1.5,
        -0.0,
        True,
        False,
        [],
        {},
        [1, "a", None, [2, [3]]],
        {"a": 1, "b": [None, {"c": date(2026, 1, 1)}]},
        Person("a@example.com", "A", "r"),
        Person(),
        date(2026, 2, 28),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
        Stage.BUILD,
        Size.MINOR,
        Flag.RED,
        Link("salesforce", "006"),
        Change(T0, "stage", Stage.DECIDE, Stage.BUILD, Person("x@y", None, None)),
        ("a", 1, None),
        frozenset({"b", "a"}),
        {"x", "y"},
        {"$p": "not a person"},  # a plain dict that looks like a tag
        {"$weird": 1, "other": 2},
        {1: "int key", (1, 2): "tuple key"},
        [Person("p@x", None, None), date(2026, 1, 1), T0, "s", 1.0, False, None, ["nested"]],
    ],
)
def test_values_round_trip_exactly_with_their_types(value: Any) -> None:
    back = through_json(value)
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, list):
        assert [type(x) for x in back] == [type(x) for x in value]
    if isinstance(value, float):
        assert math.copysign(1.0, back) == math.copysign(1.0, value)


def test_bool_and_int_stay_distinct() -> None:
    assert through_json([True, 1, False, 0]) == [True, 1, False, 0]
    assert [type(x) for x in through_json([True, 1])] == [bool, int]


def test_nan_and_infinity_survive() -> None:
    back = through_json([math.nan, math.inf, -math.inf])
    assert math.isnan(back[0]) and back[1:] == [math.inf, -math.inf]


def test_enums_are_not_confused_with_their_strings() -> None:
    assert encode_value(Stage.DONE) == {"$e": ["stage", "done"]}
    assert through_json("done") == "done" and type(through_json("done")) is str
    assert through_json(Stage.DONE) is Stage.DONE


def test_tagged_forms_are_the_documented_small_dicts() -> None:
    assert encode_value(Person("e", "n", "r")) == {"$p": ["e", "n", "r"]}
    assert encode_value(date(2026, 1, 1)) == {"$d": "2026-01-01"}
    assert encode_value(T0) == {"$t": "2026-11-25T09:00:00+00:00"}


def test_named_time_zone_keeps_the_instant_and_offset() -> None:
    berlin = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    back = through_json(berlin)
    assert back == berlin and back.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    "bad",
    [
        datetime(2026, 1, 1, 9, 0),
        [datetime(2026, 1, 1)],
        {"at": datetime(2026, 1, 1)},
        Change(datetime(2026, 1, 1), "stage", None, None),
    ],
)
def test_naive_datetime_is_refused(bad: Any) -> None:
    with pytest.raises(CodecError, match="naive datetime"):
        encode_value(bad)


def test_naive_datetime_in_an_initiative_is_refused() -> None:
    with pytest.raises(CodecError, match="naive"):
        encode_initiative(Initiative("s", "jira", "K", "u", updated=datetime(2026, 1, 1)))
    with pytest.raises(CodecError, match="naive"):
        encode_initiative(Initiative("s", "jira", "K", "u", history=(Change(datetime(2026, 1, 1), "a", 1, 2),)))


def test_unknown_types_are_refused_not_stringified() -> None:
    class Thing:
        pass

    with pytest.raises(CodecError, match="Thing"):
        encode_value(Thing())
    with pytest.raises(CodecError):
        encode_value(b"bytes")


def test_unknown_tag_is_refused() -> None:
    with pytest.raises(CodecError, match=r"\$zz"):
        decode_value({"$zz": 1})


def test_cached_initiative_with_an_attribute_this_version_lacks_is_refused() -> None:
    d = encode_initiative(full_initiative())
    d["priority"] = "high"
    with pytest.raises(CodecError, match="priority"):
        decode_initiative(d)


def test_codec_knows_every_attribute_of_the_model() -> None:
    # Fails when Initiative gains an attribute: teach encode_initiative/decode_initiative about it.
    assert {f.name for f in fields(Initiative)} == codec._KNOWN
