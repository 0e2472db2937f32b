"""Health that rolls up: a parent's health considers its children's, by the configured rules, one level deep,
with the reason naming the child; and for the demo, a closed-won deal reflects its delivery epic, written back."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from trackerbridge.audit import assess, run_audit
from trackerbridge.config.errors import ConfigError
from trackerbridge.config.project import Project
from trackerbridge.health import Flag, HealthPolicy, Rollup
from trackerbridge.model import Initiative, Link, Person, Size, Stage
from trackerbridge.rules.engine import RuleSettings
from trackerbridge.rules.registry import load_rules
from trackerbridge.rules.settings import health_policy
from trackerbridge.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 10, 15, 12, 0, tzinfo=timezone.utc)
ANN = Person("ann@example.com", "Ann Lee")
DEAL_RULE = Rollup(Flag.RED, Flag.RED, "major", "links", systems=frozenset({"salesforce"}), stages=frozenset({"done"}))


def jira(key: str, **fields: object) -> Initiative:
    base: dict[str, object] = {
        "kind": "Epic",
        "owner": ANN,
        "team": "Payments",
        "stage": Stage.BUILD,
        "size": Size.MINOR,
        "end": date(2026, 12, 31),
        "updated": NOW - timedelta(days=1),
        "created": NOW - timedelta(days=30),
    }
    base.update(fields)
    return Initiative("jira", "jira", key, f"https://jira.example.com/browse/{key}", key, **base)  # type: ignore[arg-type]


def deal(key: str, *links: str, **fields: object) -> Initiative:
    base: dict[str, object] = {
        "kind": "New Business",
        "owner": ANN,
        "stage": Stage.DONE,
        "end": date(2026, 10, 1),
        "updated": NOW - timedelta(days=1),
        "created": NOW - timedelta(days=90),
        "links": tuple(Link("jira", k) for k in links),
        "extra": {"delivery_owner": ANN},
    }
    base.update(fields)
    return Initiative("sf", "salesforce", key, f"https://acme.my.salesforce.com/{key}", key, **base)  # type: ignore[arg-type]


def health(records: list[Initiative], *rules: Rollup) -> dict[str, tuple[str, tuple[str, ...]]]:
    result = assess(records, load_rules(), RuleSettings(), HealthPolicy(rollup=rules), NOW)
    return {ref: (h.flag.value, h.reasons) for ref, h in result.health.items()}


def red_major_epic(key: str = "DEL-33", **fields: object) -> Initiative:
    return jira(
        key, owner=None, size=Size.MAJOR, integrator=ANN, team=None, links=(Link("salesforce", "006A"),), **fields
    )


def test_a_closed_won_deal_is_red_when_its_major_delivery_epic_is_red() -> None:
    got = health([red_major_epic(), deal("006A", "DEL-33")], DEAL_RULE)
    assert got["jira:DEL-33"][0] == "red" and got["jira:DEL-33"][1][0].startswith("TB101")
    assert got["sf:006A"] == ("red", ("DEL-33 red: TB101",))


def test_without_rules_nothing_rolls_up() -> None:
    assert health([red_major_epic(), deal("006A", "DEL-33")])["sf:006A"] == ("green", ())


def test_a_minor_red_child_does_not_count_when_the_rule_asks_for_major() -> None:
    child = jira("DEL-33", owner=None, size=Size.MINOR)
    assert health([child, deal("006A", "DEL-33")], DEAL_RULE)["sf:006A"] == ("green", ())


def test_parent_filters_system_and_stage() -> None:
    records = [red_major_epic(), deal("006A", "DEL-33", stage=Stage.BUILD)]
    flag, reasons = health(records, DEAL_RULE)["sf:006A"]
    assert flag != "red" and not any(r.startswith("DEL-33") for r in reasons), "an open deal is not a hand-off"
    # the epic links back to the deal: with no system filter the epic would consider the deal, which is green
    got = health([red_major_epic(), deal("006A", "DEL-33")], Rollup(via="links"))
    assert got["jira:DEL-33"][1] == ("TB101 owner missing",)


def test_amber_children_roll_up_as_amber_and_the_worst_flag_stays() -> None:
    late = jira("DEL-2", end=date(2026, 10, 1))  # TB105: amber
    rule = Rollup(Flag.AMBER, Flag.AMBER, via="links")
    got = health([late, deal("006A", "DEL-2")], rule)
    assert got["sf:006A"] == ("amber", ("DEL-2 amber: TB105",))
    assert health([late, deal("006A", "DEL-2")], DEAL_RULE)["sf:006A"] == ("green", ())
    already_red = deal("006B", "DEL-2", extra={"delivery_owner": None})  # TB111 red on its own
    got = health([late, already_red], rule)
    assert got["sf:006B"][0] == "red" and got["sf:006B"][1][-1] == "DEL-2 amber: TB105"


def test_children_through_a_parent_attribute_one_level_deep() -> None:
    rule = Rollup(Flag.RED, Flag.RED, via="attribute", attribute="parent")
    top = jira("OPS-1", kind="Initiative")
    middle = jira("OPS-2", extra={"parent": "OPS-1"})
    bottom = jira("OPS-3", owner=None, extra={"parent": "OPS-2"})
    got = health([top, middle, bottom], rule)
    assert got["jira:OPS-2"] == ("red", ("OPS-3 red: TB101",))
    assert got["jira:OPS-1"] == ("green", ()), "each child counts with its own verdict: no chains"
    assert health([bottom, middle, top], rule) == got, "order does not matter"


def test_several_red_children_are_each_named_once() -> None:
    rule = Rollup(via="attribute")
    kids = [jira(f"DEL-{n}", owner=None, extra={"parent": "OPS-1"}) for n in (7, 3)]
    got = health([jira("OPS-1"), *kids], rule)
    assert got["jira:OPS-1"] == ("red", ("DEL-3 red: TB101", "DEL-7 red: TB101"))


def test_rollup_config_reads_and_bad_values_name_the_file_and_key(project: Path) -> None:
    policy = health_policy(Project.load(project))
    assert policy.rollup == (DEAL_RULE,)
    text = (project / "trackerbridge.yaml").read_text()
    (project / "trackerbridge.yaml").write_text(text.replace("then: red", "then: purple"))
    with pytest.raises(ConfigError) as caught:
        Project.load(project)
    assert "trackerbridge.yaml" in str(caught.value) and "then" in str(caught.value)


def test_demo_closed_won_deals_reflect_their_delivery_epics_and_sync_writes_it(sandbox: Sandbox) -> None:
    result = run_audit(Project.load(ROOT), [], sandbox.anchor, sandbox.info.as_env())
    by_ref = {i.ref: i for i in result.initiatives}
    rolled = 0
    for i in result.initiatives:
        if i.system != "salesforce" or i.stage is not Stage.DONE:
            continue
        epics = [by_ref[f"sandbox-jira:{link.key}"] for link in i.links if f"sandbox-jira:{link.key}" in by_ref]
        red = [e for e in epics if result.health[e.ref].flag is Flag.RED and e.size is Size.MAJOR]
        for e in red:
            assert any(r.startswith(f"{e.key} red: ") for r in result.health[i.ref].reasons)
            assert result.health[i.ref].flag is Flag.RED
            rolled += 1
    assert rolled > 0, "the demo has closed-won deals whose major delivery epic is red"


def test_sync_writes_the_rolled_up_health_onto_the_deal(sandbox: Sandbox, project: Path) -> None:
    from click.testing import CliRunner

    from trackerbridge.cli import main

    expected = run_audit(Project.load(project), [], sandbox.clock.now(), sandbox.info.as_env())
    rolled = {
        i.key: expected.health[i.ref]
        for i in expected.initiatives
        if i.system == "salesforce" and any(" red: " in r for r in expected.health[i.ref].reasons)
    }
    assert rolled
    result = CliRunner().invoke(
        main, ["sync", "--project", str(project), "--as-of", sandbox.clock.now().isoformat()], env=sandbox.info.as_env()
    )
    assert result.exit_code == 0, result.stderr
    for opp_id, verdict in rolled.items():
        opp = sandbox.salesforce_data.get(opp_id)[1]  # type: ignore[index]
        assert opp["Execution_Health__c"] == "Red"
        assert any(r in (opp["Health_Reasons__c"] or "") for r in verdict.reasons if " red: " in r)
