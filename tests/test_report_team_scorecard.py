"""The weekly page's scorecard from the project config (`report.scorecard`): which built-in measures, their labels,
leading or lagging, thresholds for the colour; the default is today's page; bad entries name file, line and key."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from test_report_team import audit, organisation
from trackerbridge.cli import main
from trackerbridge.config.errors import ConfigError
from trackerbridge.config.models import MeasureName, ReportConfig
from trackerbridge.config.project import Project
from trackerbridge.report.model import build_report
from trackerbridge.report.team import CATALOG, DEFAULT_SCORECARD, SCORECARD, scorecard, team_pages
from trackerbridge.report.team_data import document
from trackerbridge.sandbox import Sandbox

DEFAULT_YAML = "report:\n  scorecard:\n" + "".join(
    f"    - {{measure: {m.key}, label: {m.label}, kind: {kind}"
    + ("" if m.better == "none" else ", green: 0.95, amber: 0.8" if m.kind == "share" else ", green: 0, amber: 2")
    + "}\n"
    for m, kind in SCORECARD
)


def configure(project: Path, body: str) -> Project:
    with (project / "trackerbridge.yaml").open("a", encoding="utf-8") as fh:
        fh.write(body)
    return Project.load(project)


def docs(entries: object) -> dict[str, dict]:
    result = audit(organisation())
    return {p.team: document(p) for p in team_pages(result, build_report(result), (), scorecard(entries))}


def test_the_config_names_exactly_the_built_in_measures() -> None:
    assert set(typing.get_args(MeasureName)) == set(CATALOG)


def test_no_config_is_todays_page_and_spelling_todays_page_out_changes_nothing(project: Path) -> None:
    assert Project.load(project).config.report.scorecard is None
    assert scorecard(None) == DEFAULT_SCORECARD
    spelled = configure(project, DEFAULT_YAML).config.report.scorecard
    assert spelled is not None and len(spelled) == 10
    assert scorecard(spelled) == DEFAULT_SCORECARD
    assert docs(spelled) == docs(None)


def test_a_configured_scorecard_chooses_labels_kinds_order_and_thresholds(project: Path) -> None:
    entries = configure(
        project,
        """report:
  scorecard:
    - {measure: red, label: Red initiatives, kind: leading, green: 1, amber: 3}
    - {measure: share_owner, green: 0.7, amber: 0.5}
    - {measure: active, better: down, green: 3, amber: 4}
""",
    ).config.report.scorecard
    payments = docs(entries)["Payments"]["scorecard"]
    assert [(m["key"], m["label"], m["kind"]) for m in payments] == [
        ("red", "Red initiatives", "leading"),
        ("share_owner", "With an owner", "leading"),
        ("active", "Active initiatives", "lagging"),
    ]
    # by hand: Payments has 1 red, 3 of 4 with an owner, 4 active (see test_report_team.organisation)
    assert [(m["value"], m["status"]) for m in payments] == [(1, "green"), (0.75, "green"), (4, "amber")]
    assert payments[2]["better"] == "down" and payments[2]["thresholds"] == {"green": 3, "amber": 4}
    default = {m["key"]: m["status"] for m in docs(None)["Payments"]["scorecard"]}
    assert (default["red"], default["share_owner"], default["active"]) == ("amber", "red", "none")


BAD = [
    ("- {measure: reds}", "report.scorecard[0].measure", "did you mean 'red'?"),
    ("- {measure: red, kind: trailing}", "report.scorecard[0].kind", "leading, lagging"),
    ("- {measure: red, green: 3, amber: 1}", "report.scorecard[0]", "green (3) must be at most amber (1)"),
    ("- {measure: share_owner, green: 0.5, amber: 0.9}", "report.scorecard[0]", "must be at least amber"),
    ("- {measure: share_owner, green: 95, amber: 80}", "report.scorecard[0]", "is a share (0 to 1)"),
    ("- {measure: red, green: 1}", "report.scorecard[0]", "give both green and amber"),
    ("- {measure: active, green: 3, amber: 5}", "report.scorecard[0]", "give better: up or down"),
    ("- {measure: red, colour: blue}", "report.scorecard[0].colour", ""),
    ("- {measure: red}\n    - {measure: red}", "report.scorecard", "'red' is listed twice"),
    (
        "".join(f"\n    - {{measure: {k}}}" for k in [*CATALOG, "red"]).strip(),
        "report.scorecard",
        "at most 10 measures",
    ),
]


def test_bad_scorecard_entries_name_the_file_line_and_key(project: Path) -> None:
    original = (project / "trackerbridge.yaml").read_text(encoding="utf-8")
    first_line = original.count("\n") + 3  # "report:", "  scorecard:", then the first entry
    for entry, key, says in BAD:
        (project / "trackerbridge.yaml").write_text(original, encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            configure(project, f"report:\n  scorecard:\n    {entry}\n")
        message = str(caught.value)
        assert message.startswith("trackerbridge.yaml:"), message
        line = int(message.split(":")[1])
        assert first_line - 1 <= line <= first_line, (entry, message)
        assert f" {key}:" in message and says in message, (entry, message)


def test_the_schema_knows_the_scorecard() -> None:
    schema = ReportConfig.model_json_schema()
    assert "scorecard" in schema["properties"]
    shipped = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "project.schema.json").read_text())
    assert "report" in shipped["properties"], "schemas/project.schema.json is regenerated"


def test_cli_pages_follow_the_configured_scorecard_and_bad_config_exits_2(sandbox: Sandbox, project: Path) -> None:
    out = project / "weekly"
    args = [
        "report",
        "--pull",
        "--by",
        "team",
        "--output",
        str(out),
        "--project",
        str(project),
        "--as-of",
        sandbox.anchor.isoformat(),
        "--state",
        f"sqlite:///{project / 'absent.db'}",
    ]
    configure(
        project,
        "report:\n  scorecard:\n    - {measure: overdue, label: Late, kind: leading}\n"
        "    - {measure: red, green: 2, amber: 5}\n",
    )
    result = CliRunner().invoke(main, args, env=sandbox.info.as_env())
    assert result.exit_code == 0, result.stderr
    doc = json.loads((out / "payments.json").read_text(encoding="utf-8"))
    assert [(m["key"], m["label"], m["kind"]) for m in doc["scorecard"]] == [
        ("overdue", "Late", "leading"),
        ("red", "Red", "lagging"),
    ]
    md = (out / "payments.md").read_text(encoding="utf-8")
    assert "| Late | leading |" in md and "| With an owner |" not in md
    html = (out / "payments.html").read_text(encoding="utf-8")
    assert "2 measures (1 leading, 1 lagging)" in html and ">Late<" in html
    text = (project / "trackerbridge.yaml").read_text(encoding="utf-8")
    (project / "trackerbridge.yaml").write_text(text.replace("label: Late", "label: Late, better: sideways"))
    result = CliRunner().invoke(main, args, env=sandbox.info.as_env())
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "trackerbridge.yaml:" in result.stderr and "report.scorecard[0].better" in result.stderr
