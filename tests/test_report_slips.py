"""The report's slips section: worked out by hand on a small organisation, escaped in every format, and for the
demo organisation equal to what the generator planted (it counts its unexplained slips from its own data)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jira import JIRA

from trackerbridge.audit import AuditResult, assess, run_audit
from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.health import HealthPolicy
from trackerbridge.model import Change, Initiative, Person, Stage
from trackerbridge.report import csv as report_csv
from trackerbridge.report import html, markdown, table
from trackerbridge.report import json as report_json
from trackerbridge.report.model import build_report
from trackerbridge.rules.engine import RuleSettings
from trackerbridge.rules.registry import load_rules
from trackerbridge.sandbox import Sandbox, SandboxConfig
from trackerbridge.sandbox.demo import ACTIVE_STAGES, STAGE_OF_STATUS
from trackerbridge.sandbox.pytest_plugin import TEST_NOW

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 10, 15, 12, 0, tzinfo=timezone.utc)
ANN = Person("ann@example.com", "Ann Lee")
SCRIPT = "<script>alert(1)</script>"


def ops(n: int, end: str, *history: Change, **fields: object) -> Initiative:
    base: dict[str, object] = {
        "kind": "Initiative",
        "owner": ANN,
        "team": "Payments",
        "stage": Stage.BUILD,
        "end": date.fromisoformat(end),
        "updated": NOW - timedelta(days=1),
        "created": NOW - timedelta(days=100),
        "history": history,
    }
    base.update(fields)
    return Initiative("jira", "jira", f"OPS-{n}", f"https://jira.example.com/browse/OPS-{n}", f"Initiative {n}", **base)  # type: ignore[arg-type]


def move(before: str, after: str, days_ago: float) -> Change:
    return Change(NOW - timedelta(days=days_ago), "end", date.fromisoformat(before), date.fromisoformat(after), ANN)


def why(text: str, days_ago: float) -> Change:
    return Change(NOW - timedelta(days=days_ago), "slip_reason", None, text, ANN)


def organisation(reason: str = "Vendor late") -> list[Initiative]:
    return [
        ops(1, "2026-12-31"),  # never moved
        ops(2, "2026-11-20", move("2026-11-01", "2026-11-20", 9)),  # +19, no reason
        ops(
            3,
            "2026-12-20",
            move("2026-10-01", "2026-11-01", 30),
            why("Scope", 30),
            move("2026-11-01", "2026-12-20", 3),
            why(reason, 1),
        ),  # +80, twice, reason added later
        ops(4, "2026-11-20", move("2026-11-01", "2026-11-20", 9), stage=Stage.DONE),  # not active
        ops(5, "2026-10-20", move("2026-11-01", "2026-10-20", 9)),  # pulled in
    ]


def audit(initiatives: list[Initiative]) -> AuditResult:
    return assess(initiatives, load_rules(), RuleSettings(), HealthPolicy(), NOW)


def render(fn: Any, report: object) -> str:
    out = io.StringIO()
    fn(report, out)
    return out.getvalue()


def test_slips_are_the_active_records_later_than_their_baseline_largest_first() -> None:
    report = build_report(audit(organisation()))
    assert [(s.record.key, s.days, s.moves, s.baseline.isoformat(), s.reason) for s in report.slips] == [
        ("OPS-3", 80, 2, "2026-10-01", "Vendor late"),
        ("OPS-2", 19, 1, "2026-11-01", None),
    ]
    document = report_json.document(report)["slips"]
    assert (document["with_reason"], document["without_reason"]) == (1, 1)
    assert document["items"][1] == {
        "record": {
            "source": "jira",
            "system": "jira",
            "key": "OPS-2",
            "url": "https://jira.example.com/browse/OPS-2",
            "title": "Initiative 2",
        },
        "owner": "Ann Lee",
        "team": "Payments",
        "baseline": "2026-11-01",
        "baseline_from": "history",
        "end": "2026-11-20",
        "slip_days": 19,
        "moves": 1,
        "last_moved": "2026-10-06T12:00:00+00:00",
        "reason": None,
    }


def test_a_slip_without_a_reason_is_a_tb117_finding_and_one_with_a_reason_is_not() -> None:
    result = audit(organisation())
    assert [f.key for f in result.live if f.code == "TB117"] == ["OPS-2"]


def test_every_format_shows_the_section() -> None:
    report = build_report(audit(organisation()))
    text = render(markdown.render, report)
    assert "### Slips" in text
    assert (
        "| [OPS-3](https://jira.example.com/browse/OPS-3) | Initiative 3 | Ann Lee | 2026-10-01 | 2026-12-20 |"
        " +80 days | 2 times | Vendor late |" in text
    )
    assert "| +19 days | once | **no reason** |" in text
    page = render(html.render, report)
    assert '<h2 id="h-slips">Slips</h2>' in page and "No reason" in page
    assert page.index('id="h-slips"') < page.index('id="h-rules"')
    rows = [
        r for r in csv.DictReader(io.StringIO(render(report_csv.render, report), newline="")) if r["section"] == "slip"
    ]
    assert [(r["key"], r["value"], r["limit"], r["code"]) for r in rows] == [
        ("OPS-3", "80", "2", ""),
        ("OPS-2", "19", "1", "TB117"),
    ]
    assert "Slips: 2 later than their baseline, 1 without a reason" in render(table.render, report)


def test_no_slips_says_so() -> None:
    report = build_report(audit([ops(1, "2026-12-31")]))
    assert "No end date moved later than its baseline." in render(markdown.render, report)
    assert "No end date moved later than its baseline." in render(html.render, report)


def test_tracker_text_in_a_reason_is_escaped_in_every_format() -> None:
    report = build_report(audit(organisation(SCRIPT + " | =HYPERLINK(1)")))
    assert SCRIPT not in render(html.render, report)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in render(html.render, report)
    md = render(markdown.render, report)
    assert SCRIPT not in md and "\\| =HYPERLINK" in md
    rows = list(csv.reader(io.StringIO(render(report_csv.render, report), newline="")))
    reasons = [row[12] for row in rows if row[0] == "slip" and "HYPERLINK" in row[12]]
    assert reasons and not any(c.startswith("=") for row in rows for c in row)


# the demo organisation ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(clock=TEST_NOW)) as sandbox:
        yield sandbox


def planted_slips(sb: Sandbox) -> dict[str, tuple[str, str, int]]:
    """Active issues whose due date is later than the first one in their changelog: key -> (baseline, due, moves)."""
    status = {s.id: s.name for s in sb.jira_data.statuses.values()}
    out = {}
    for issue in sb.jira_data.issues.values():
        f = issue.fields
        if STAGE_OF_STATUS[status[f["status"]]] not in ACTIVE_STAGES or not f["duedate"]:
            continue
        dated = sorted((h.created, it) for h in issue.changelog for it in h.items if it["field"] == "duedate")
        if dated and f["duedate"] > dated[0][1]["from"]:
            moves = sum(1 for _, it in dated if it["to"] > it["from"])
            out[issue.key] = (dated[0][1]["from"], f["duedate"], moves)
    return out


def test_demo_report_slips_equal_the_planted_ones(sb: Sandbox, tmp_path: Path) -> None:
    assert sb.summary is not None
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--project",
            str(ROOT),
            "--as-of",
            sb.anchor.isoformat(),
            "--state",
            f"sqlite:///{tmp_path / 'absent.db'}",
            "--pull",
            "--format",
            "json",
        ],
        env=sb.info.as_env(),
    )
    assert result.exit_code == 0, result.stderr
    slips = json.loads(result.stdout)["slips"]
    planted = planted_slips(sb)
    assert {s["record"]["key"]: (s["baseline"], s["end"], s["moves"]) for s in slips["items"]} == planted
    assert slips["without_reason"] == sb.summary.gaps["slip_without_reason"] > 0
    assert slips["with_reason"] == len(planted) - slips["without_reason"] > 0
    assert any(s["moves"] == 2 for s in slips["items"]), "the demo plants a date moved twice"
    days = [s["slip_days"] for s in slips["items"]]
    assert days == sorted(days, reverse=True)
    assert all(s["baseline_from"] == "history" for s in slips["items"])


def test_a_jira_comment_with_the_keyword_is_the_reason_end_to_end(sandbox: Sandbox, tmp_path: Path) -> None:
    """The mapping names the comment field; a person moves two due dates and explains one in a comment."""
    for part in ("trackerbridge.yaml", "connectors", "mappings"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, tmp_path / part)
        else:
            shutil.copy(source, tmp_path / part)
    jira_mapping = tmp_path / "mappings" / "demo-jira.yaml"
    text = jira_mapping.read_text(encoding="utf-8")
    assert "  slip_reason: Slip reason " in text
    jira_mapping.write_text(text.replace("  slip_reason: Slip reason ", "  slip_reason: comment "), encoding="utf-8")
    settings = tmp_path / "trackerbridge.yaml"
    text = settings.read_text(encoding="utf-8")
    line = "    TB108: {kinds: [Initiative]}\n"
    assert line in text
    text = text.replace(line, line + "    TB117: {reason_keyword: 'slip:'}\n")
    settings.write_text(text, encoding="utf-8")
    project, env = Project.load(tmp_path), sandbox.info.as_env()
    before = run_audit(project, [], sandbox.anchor, env)
    explained, silent = [i.key for i in before.initiatives if i.key.startswith("OPS-") and i.active and i.end][:2]
    person = next(u for u in sandbox.jira_data.users.values() if u.active and u.email != sandbox.info.jira_email)
    client = JIRA(
        server=sandbox.info.jira_url,
        options={"verify": sandbox.info.ca_bundle, "check_update": False},
        basic_auth=(person.email, sandbox.info.jira_api_token),
        max_retries=0,
    )
    for i in before.initiatives:
        if i.key in (explained, silent):
            client.issue(i.key).update(fields={"duedate": (i.end + timedelta(days=30)).isoformat()})
    client.add_comment(explained, "Slip: the vendor moved the launch")
    client.add_comment(silent, "no reason given here")
    after = run_audit(project, [], sandbox.anchor, env)
    slipped = {f.key for f in after.findings if f.code == "TB117"}
    assert silent in slipped and explained not in slipped
    assert {(i.key, i.extra["slip_reason"][-1].text) for i in after.initiatives if i.key == explained} == {
        (explained, "Slip: the vendor moved the launch")
    }
