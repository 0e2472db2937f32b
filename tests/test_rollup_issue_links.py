"""Roll-up through Jira issue links: the sandbox renders `fields.issuelinks` as Atlassian's reference shows it, the
mapping declares a link type and direction (`issue_links`), the connector requests the field, and the roll-up follows
the linked keys. Through the real `jira` client against the sandbox, in both flavours."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from test_sandbox_jira import client
from trackerbridge.audit import run_audit
from trackerbridge.config.errors import ConfigError
from trackerbridge.config.models import IssueLinkSpec
from trackerbridge.config.project import Project
from trackerbridge.connectors.jira.links import issue_links
from trackerbridge.health import Flag
from trackerbridge.mapping import linked_keys
from trackerbridge.model import Size
from trackerbridge.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
RULE = "    - {when: red, size: major, then: red, via: attribute, attribute: delivers, systems: [jira]}\n"


def delivers_project(project: Path, spec: str = "{type: Delivers, direction: outward}", rule: str = RULE) -> Path:
    mapping = project / "mappings" / "demo-jira.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + f"issue_links:\n  delivers: {spec}\n", encoding="utf-8")
    config = project / "trackerbridge.yaml"
    text = config.read_text(encoding="utf-8")
    assert "  rollup:" in text
    config.write_text(text.replace("  rollup:", "  rollup:\n" + rule.rstrip("\n"), 1), encoding="utf-8")
    return project


def a_link(sb: Sandbox) -> tuple[str, str]:
    """(epic, initiative) of the demo's first 'Delivers' link: the epic delivers the initiative."""
    link = next(lk for lk in sb.jira_data.links if lk.type == "Delivers")
    return link.inward, link.outward


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_the_sandbox_renders_issuelinks_as_the_rest_reference_shows_them(
    flavor: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    sb = sandbox_factory(jira_flavor=flavor)
    epic, initiative = a_link(sb)
    jira = client(sb)
    on_epic = jira.issue(epic, fields="issuelinks").raw["fields"]["issuelinks"]
    entry = next(e for e in on_epic if e.get("outwardIssue", {}).get("key") == initiative)
    assert entry["id"].isdigit() and entry["self"].endswith(f"/issueLink/{entry['id']}")
    assert {k: entry["type"][k] for k in ("id", "name", "inward", "outward")} == {
        "id": "10100",
        "name": "Delivers",
        "inward": "is delivered by",
        "outward": "delivers",
    }
    other = entry["outwardIssue"]
    target = sb.jira_data.issues[initiative]
    assert other["id"] == str(target.id) and other["key"] == initiative and "inwardIssue" not in entry
    assert set(other["fields"]) == {"summary", "status", "priority", "issuetype"}
    assert other["fields"]["summary"] == target.fields["summary"]
    assert other["fields"]["status"]["id"] == target.fields["status"]
    on_initiative = jira.issue(initiative, fields="issuelinks").raw["fields"]["issuelinks"]
    mirror = next(e for e in on_initiative if e["id"] == entry["id"])
    assert mirror["inwardIssue"]["key"] == epic and "outwardIssue" not in mirror, "the same link, from the other end"
    jql = f"key = {epic}"
    found = (
        jira.enhanced_search_issues(jql, fields=["issuelinks"], json_result=True)["issues"]
        if flavor == "cloud"
        else jira.search_issues(jql, fields="issuelinks", json_result=True)["issues"]
    )
    assert found[0]["fields"]["issuelinks"] == on_epic and set(found[0]["fields"]) == {"issuelinks"}
    assert [e["key"] for e in issue_links(on_epic) if e["direction"] == "outward"] == [
        e["outwardIssue"]["key"] for e in on_epic if "outwardIssue" in e
    ]


def test_linked_keys_choose_type_and_direction() -> None:
    raw = [
        {
            "id": "1",
            "type": {"id": "10100", "name": "Delivers", "inward": "is delivered by", "outward": "delivers"},
            "outwardIssue": {"id": "7", "key": "OPS-7"},
        },
        {
            "id": "2",
            "type": {"id": "10100", "name": "Delivers", "inward": "is delivered by", "outward": "delivers"},
            "inwardIssue": {"id": "3", "key": "DEL-3"},
        },
        {
            "id": "3",
            "type": {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
            "outwardIssue": {"id": "8", "key": "OPS-8"},
        },
        {"id": "4", "type": {"id": "10100", "name": "Delivers"}},  # no linked issue the user may see
        "junk",
    ]
    plain = issue_links(raw)
    assert [(e["key"], e["direction"], e["relation"]) for e in plain] == [
        ("OPS-7", "outward", "delivers"),
        ("DEL-3", "inward", "is delivered by"),
        ("OPS-8", "outward", "blocks"),
    ]
    assert linked_keys(plain, IssueLinkSpec(type="delivers", direction="outward")) == ["OPS-7"]
    assert linked_keys(plain, IssueLinkSpec(type="10100", direction="inward")) == ["DEL-3"]
    assert linked_keys(plain, IssueLinkSpec(type="Blocks", direction="inward")) == []
    assert linked_keys(None, IssueLinkSpec(type="Blocks", direction="inward")) == []


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_initiatives_roll_up_the_epics_that_deliver_them(
    flavor: str, sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    sb = sandbox_factory(jira_flavor=flavor)
    result = run_audit(Project.load(delivers_project(project)), [], sb.anchor, sb.info.as_env())
    by_key = {i.key: i for i in result.initiatives if i.system == "jira"}
    expected: dict[str, set[str]] = {}
    for lk in sb.jira_data.links:
        if lk.type == "Delivers" and lk.inward in by_key:
            expected.setdefault(lk.inward, set()).add(lk.outward)
    assert expected, "the demo has 'Delivers' links"
    for epic, initiatives in expected.items():
        assert set(by_key[epic].extra["delivers"]) == initiatives, epic
    rolled = 0
    for epic, initiatives in expected.items():
        e = by_key[epic]
        own = result.health[e.ref]  # an epic is no parent here, so this is its own verdict
        if own.flag is not Flag.RED or e.size is not Size.MAJOR:
            continue
        for key in initiatives:
            parent = by_key[key]
            assert result.health[parent.ref].flag is Flag.RED, (epic, key)
            assert any(r.startswith(f"{epic} red: ") for r in result.health[parent.ref].reasons), (epic, key)
            rolled += 1
    assert rolled > 0, "some initiative is delivered by a red major epic"
    linked = {k for keys in expected.values() for k in keys}
    for i in by_key.values():
        if i.key.startswith("OPS-") and i.key not in linked:
            assert not any(r.split(" ", 1)[0].startswith("DEL-") for r in result.health[i.ref].reasons), i.key


def test_without_issue_links_in_the_mapping_nothing_rolls_up_through_them(sandbox: Sandbox, project: Path) -> None:
    result = run_audit(Project.load(delivers_project(project, rule=RULE)), [], sandbox.anchor, sandbox.info.as_env())
    with_links = {i.ref: result.health[i.ref] for i in result.initiatives}
    mapping = project / "mappings" / "demo-jira.yaml"
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text[: text.index("issue_links:")], encoding="utf-8")
    plain = run_audit(Project.load(project), [], sandbox.anchor, sandbox.info.as_env())
    assert all("delivers" not in i.extra for i in plain.initiatives)
    changed = [ref for ref, h in with_links.items() if plain.health[ref] != h]
    assert changed and all(ref.split(":", 1)[1].startswith("OPS-") for ref in changed)


def test_bad_issue_links_name_the_file_and_key(project: Path) -> None:
    mapping = project / "mappings" / "demo-jira.yaml"
    original = mapping.read_text(encoding="utf-8")
    for spec, says in (
        ("{type: Delivers, direction: sideways}", "issue_links.delivers.direction"),
        ("{type: Delivers}", "issue_links.delivers.direction"),
        ("{type: '', direction: outward}", "issue_links.delivers.type"),
    ):
        mapping.write_text(original + f"issue_links:\n  delivers: {spec}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            Project.load(project)
        assert "demo-jira.yaml:" in str(caught.value) and says in str(caught.value), str(caught.value)
    mapping.write_text(
        original + "issue_links:\n  slip_reason: {type: Delivers, direction: outward}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        Project.load(project)
    assert "demo-jira.yaml:" in str(caught.value) and "is also an attribute" in str(caught.value)
    sf = project / "mappings" / "demo-salesforce.yaml"
    sf.write_text(
        sf.read_text(encoding="utf-8") + "issue_links:\n  x: {type: Delivers, direction: outward}\n", encoding="utf-8"
    )
    mapping.write_text(original, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Project.load(project)
    assert "demo-salesforce.yaml:" in str(caught.value) and "issue_links are Jira's" in str(caught.value)
    assert yaml.safe_load(original)["system"] == "jira"


def test_sync_writes_the_rolled_up_health_onto_the_initiative_and_the_report_agrees(
    sandbox: Sandbox, project: Path, tmp_path: Path
) -> None:
    import json

    from click.testing import CliRunner

    from trackerbridge.cli import main

    delivers_project(project)
    now = sandbox.clock.now().isoformat()
    expected = run_audit(Project.load(project), [], sandbox.clock.now(), sandbox.info.as_env())
    rolled = {
        i.key: expected.health[i.ref]
        for i in expected.initiatives
        if i.key.startswith("OPS-")
        and any(r.startswith("DEL-") and " red: " in r for r in expected.health[i.ref].reasons)
    }
    assert rolled
    result = CliRunner().invoke(main, ["sync", "--project", str(project), "--as-of", now], env=sandbox.info.as_env())
    assert result.exit_code == 0, result.stderr
    fields = {f.name: f.id for f in sandbox.jira_data.fields.values()}
    for key, verdict in rolled.items():
        issue = sandbox.jira_data.issues[key]
        assert issue.fields[fields["Execution health"]] == "Red", key
        written = issue.fields[fields["Health reasons"]] or ""
        assert any(r in written for r in verdict.reasons if r.startswith("DEL-")), (key, written)
    headlines = []
    for root, extra in ((project, []), (project, ["--pull"]), (ROOT, ["--pull"])):
        # from the store (the stored records keep the linked keys), a fresh read, and the shipped project without
        out = tmp_path / f"report{len(headlines)}.json"
        result = CliRunner().invoke(
            main,
            [
                "report",
                *extra,
                "--project",
                str(root),
                "--as-of",
                now,
                "--output",
                str(out),
                "--state",
                f"sqlite:///{project / '.trackerbridge' / 'state.db'}",
            ],
            env=sandbox.info.as_env(),
        )
        assert result.exit_code == 0, result.stderr
        headlines.append({h["key"]: h["value"] for h in json.loads(out.read_text())["headline"]})
    assert headlines[0] == headlines[1]
    assert headlines[0]["red"] > headlines[2]["red"], "the roll-up made more initiatives red"


def test_jql_issuelinktype_selects_by_the_links_description_from_each_side(sandbox: Sandbox) -> None:
    jira = client(sandbox)
    delivers = {lk.inward for lk in sandbox.jira_data.links if lk.type == "Delivers"}
    delivered = {lk.outward for lk in sandbox.jira_data.links if lk.type == "Delivers"}

    def keys(jql: str) -> set[str]:
        return {i.key for i in jira.enhanced_search_issues(jql, fields=["summary"], maxResults=False)}

    assert keys("issueLinkType = delivers") == delivers
    assert keys('issueLinkType = "is delivered by"') == delivered
    assert keys('issueLinkType in (delivers, "is delivered by")') == delivers | delivered
    from jira import JIRAError

    with pytest.raises(JIRAError) as caught:
        keys("issueLinkType = Delivers-ish")
    assert "does not exist for the field 'issueLinkType'" in str(caught.value.text)


def test_check_names_an_issue_link_type_the_instance_lacks(sandbox: Sandbox, project: Path) -> None:
    from click.testing import CliRunner

    from trackerbridge.cli import main

    delivers_project(project)
    args = ["check", "--project", str(project)]
    good = CliRunner().invoke(main, args, env=sandbox.info.as_env())
    assert good.exit_code == 0, good.output + good.stderr
    mapping = project / "mappings" / "demo-jira.yaml"
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text.replace("{type: Delivers,", "{type: Delivrs,"), encoding="utf-8")
    line = 1 + mapping.read_text(encoding="utf-8").splitlines().index("  delivers: {type: Delivrs, direction: outward}")
    bad = CliRunner().invoke(main, args, env=sandbox.info.as_env())
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    said = bad.output + bad.stderr
    assert f"demo-jira.yaml:{line}" in said and "issue_links.delivers.type" in said, said
    assert "no issue link type 'Delivrs'" in said and "did you mean 'Delivers'?" in said
    mapping.write_text(text.replace("{type: Delivers,", "{type: '10100',"), encoding="utf-8")
    by_id = CliRunner().invoke(main, args, env=sandbox.info.as_env())
    assert by_id.exit_code == 0, by_id.output + by_id.stderr
