"""The weekly team page as JSON and CSV (`report --by team` writes them next to the HTML and Markdown): the same
data as the pages, the report's conventions (schema key order, CRLF, every cell quoted, no spreadsheet formulas)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from test_report_team import NOW, ROOT, SCRIPT, organisation, pages
from trackerbridge.cli import main
from trackerbridge.report.team import SCORECARD
from trackerbridge.report.team_data import COLUMNS, SCHEMA, csv_page, document, json_page
from trackerbridge.report.team_render import slug
from trackerbridge.sandbox import Sandbox


def test_team_json_holds_the_pages_data_in_the_documented_order() -> None:
    history = [(NOW - timedelta(days=d), {"Payments": {"red": d}}) for d in (2, 1)]
    payments = pages(organisation(), history)["Payments"]
    out = io.StringIO()
    json_page(payments, out)
    doc = json.loads(out.getvalue())
    assert list(doc) == ["schema", "team", "generated_at", "scorecard", "off_track", "decisions", "handoffs"]
    assert doc["schema"] == SCHEMA and doc["team"] == "Payments" and doc["generated_at"] == NOW.isoformat()
    assert [m["key"] for m in doc["scorecard"]] == [m.key for m, _ in SCORECARD]
    by_key = {m["key"]: m for m in doc["scorecard"]}
    assert by_key["share_owner"]["value"] == 0.75 and by_key["share_owner"]["status"] == "red"
    assert by_key["share_owner"]["thresholds"] == {"green": 0.95, "amber": 0.8}
    assert by_key["active"]["thresholds"] is None and by_key["active"]["status"] == "none"
    assert [p["value"] for p in by_key["red"]["series"]] == [2, 1, 1] and by_key["red"]["change"] == 0
    assert [(o["record"]["key"], o["health"], o["owner"]) for o in doc["off_track"]] == [
        ("OPS-2", "red", None),
        ("OPS-3", "amber", "Ann Lee"),
    ]
    assert doc["off_track"][0]["reasons"] and doc["off_track"][0]["reasons"][0].startswith("TB101")
    assert doc["decisions"] == {
        "limit_days": payments.decide_days,
        "items": [
            {"record": doc["decisions"]["items"][0]["record"], "decision_owner": "Bob Roe", "days_in_decide": 30}
        ],
    }
    assert doc["decisions"]["items"][0]["record"]["key"] == "OPS-4"
    growth = document(pages(organisation())["Growth"])
    assert [(h["deal"]["key"], [d["key"] for d in h["deliveries"]]) for h in growth["handoffs"]] == [
        ("006A", ["DEL-1"])
    ]


def test_team_csv_has_a_row_per_measure_and_item_and_neutralises_formulas() -> None:
    records = organisation(title='=HYPERLINK("http://evil")')
    records[1].owner = None
    payments = pages(records)["Payments"]
    out = io.StringIO()
    csv_page(payments, out)
    raw = out.getvalue()
    assert raw.startswith('"section","item"') and raw.count("\r\n") == len(raw.splitlines())
    table = list(csv.DictReader(io.StringIO(raw)))
    assert list(table[0]) == list(COLUMNS)
    measures = [r for r in table if r["section"] == "measure"]
    assert [r["item"] for r in measures] == [m.key for m, _ in SCORECARD]
    owner = next(r for r in measures if r["item"] == "share_owner")
    assert (owner["value"], owner["limit"], owner["health"]) == ("0.75", "0.95/0.8", "red")
    off = [r for r in table if r["section"] == "off_track"]
    assert [(r["key"], r["health"]) for r in off] == [("OPS-2", "red"), ("OPS-3", "amber")]
    assert off[0]["title"] == '\'=HYPERLINK("http://evil")', "a formula in tracker text stays text"
    [decision] = [r for r in table if r["section"] == "decision"]
    assert (decision["key"], decision["value"], decision["owner"]) == ("OPS-4", "30", "Bob Roe")
    assert {r["team"] for r in table} == {"Payments"}


def test_team_json_and_csv_carry_hostile_text_as_data() -> None:
    records = organisation(title=SCRIPT)
    records[0].team = records[1].team = "-1+1 <Pay>"
    page = pages(records)["-1+1 <Pay>"]
    out = io.StringIO()
    json_page(page, out)
    doc = json.loads(out.getvalue())
    assert doc["team"] == "-1+1 <Pay>" and doc["off_track"][0]["record"]["title"] == SCRIPT
    out = io.StringIO()
    csv_page(page, out)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["team"] for r in table} == {"'-1+1 <Pay>"}


def test_cli_writes_json_and_csv_per_team_matching_the_markdown(sandbox: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "weekly"
    args = [
        "report",
        "--pull",
        "--by",
        "team",
        "--output",
        str(out),
        "--project",
        str(ROOT),
        "--as-of",
        sandbox.anchor.isoformat(),
        "--state",
        f"sqlite:///{tmp_path / 'absent.db'}",
    ]
    result = CliRunner().invoke(main, args, env=sandbox.info.as_env())
    assert result.exit_code == 0, result.stderr
    stems = sorted(p.stem for p in out.glob("*.html"))
    assert stems and sorted(p.stem for p in out.glob("*.json")) == stems == sorted(p.stem for p in out.glob("*.csv"))
    doc = json.loads((out / "payments.json").read_text(encoding="utf-8"))
    assert doc["team"] == "Payments" and slug(doc["team"]) == "payments"
    md = (out / "payments.md").read_text(encoding="utf-8")
    for m in doc["scorecard"]:
        assert f"| {m['label']} | {m['kind']} |" in md
    active = next(m["value"] for m in doc["scorecard"] if m["key"] == "active")
    assert f"| Active initiatives | lagging | {active} |" in md
    with (out / "payments.csv").open(encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len([r for r in table if r["section"] == "off_track"]) == len(doc["off_track"])
    assert len([r for r in table if r["section"] == "decision"]) == len(doc["decisions"]["items"])
    assert len([r for r in table if r["section"] == "handoff"]) == len(doc["handoffs"])
    assert (out / "payments.csv").stat().st_mode & 0o777 == 0o600, "pages name people, as the report does"
    again = CliRunner().invoke(main, args, env=sandbox.info.as_env())
    assert again.exit_code == 0, "the weekly job writes into last week's directory again: " + again.stderr
