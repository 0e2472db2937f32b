"""`trackerbridge report --by team`: one weekly page per team (HTML and Markdown): a scorecard of at most ten
measures with trends and status, what is off track and who owns it, decisions pending, hand-offs in flight.
By hand on a small organisation, escaped like the report, from the demo through the CLI, and in a real browser."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from test_report_browser import browse
from trackerbridge.audit import AuditResult, assess
from trackerbridge.cli import main
from trackerbridge.health import HealthPolicy
from trackerbridge.model import Initiative, Link, Person, Size, Stage
from trackerbridge.report.model import build_report
from trackerbridge.report.team import MAX_MEASURES, SCORECARD, team_metrics, team_pages
from trackerbridge.report.team_render import html_page, markdown_page, slug
from trackerbridge.rules.engine import RuleSettings
from trackerbridge.rules.registry import load_rules
from trackerbridge.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 10, 15, 12, 0, tzinfo=timezone.utc)
ANN = Person("ann@example.com", "Ann Lee")
BOB = Person("bob@example.com", "Bob Roe")
SCRIPT = "<script>alert(1)</script>"


def rec(key: str, team: str = "Payments", **fields: object) -> Initiative:
    base: dict[str, object] = {
        "kind": "Initiative",
        "owner": ANN,
        "team": team,
        "stage": Stage.BUILD,
        "size": Size.MINOR,
        "end": date(2026, 12, 31),
        "updated": NOW - timedelta(days=1),
        "created": NOW - timedelta(days=60),
        "stage_entered": NOW - timedelta(days=30),
    }
    base.update(fields)
    title = str(base.pop("title", f"Title {key}"))
    return Initiative("jira", "jira", key, f"https://jira.example.com/browse/{key}", title, **base)  # type: ignore[arg-type]


def organisation(title: str = "Title OPS-2") -> list[Initiative]:
    return [
        rec("OPS-1"),  # green
        rec("OPS-2", owner=None, title=title),  # TB101: red
        rec("OPS-3", end=date(2026, 10, 1)),  # TB105: amber
        rec("OPS-4", stage=Stage.DECIDE, decision_owner=BOB),  # 30 days in decide, owned: pending, not stuck
        rec("DEL-1", kind="Epic", team="Growth"),
        Initiative(
            "sf",
            "salesforce",
            "006A",
            "https://acme.my.salesforce.com/006A",
            "Deal A",
            kind="New Business",
            owner=BOB,
            stage=Stage.DONE,
            end=date(2026, 9, 1),
            created=NOW - timedelta(days=90),
            updated=NOW - timedelta(days=1),
            links=(Link("jira", "DEL-1"),),
            extra={"delivery_owner": ANN},
        ),
    ]


def audit(records: list[Initiative]) -> AuditResult:
    return assess(records, load_rules(), RuleSettings(), HealthPolicy(), NOW)


def pages(records: list[Initiative], history: list[tuple[datetime, dict[str, object]]] | None = None) -> dict:
    result = audit(records)
    return {p.team: p for p in team_pages(result, build_report(result), history or [])}


def test_the_scorecard_has_at_most_ten_measures_leading_and_lagging() -> None:
    assert len(SCORECARD) <= MAX_MEASURES == 10
    assert {kind for _, kind in SCORECARD} == {"leading", "lagging"}


def test_a_team_page_by_hand() -> None:
    payments = pages(organisation())["Payments"]
    values = {m.headline.metric.key: (m.headline.value, m.status) for m in payments.measures}
    assert values["active"] == (4, "none")
    assert values["share_owner"] == (0.75, "red")
    assert values["overdue"] == (1, "amber") and values["red"] == (1, "amber")
    assert values["pending_decisions"] == (1, "amber") and values["stuck_in_decide"] == (0, "green")
    assert [(o.record.key, o.flag, o.owner) for o in payments.off_track] == [
        ("OPS-2", "red", None),
        ("OPS-3", "amber", "Ann Lee"),
    ]
    assert [(d.record.key, d.decision_owner, d.days_in_decide) for d in payments.decisions] == [
        ("OPS-4", "Bob Roe", 30)
    ]
    assert payments.handoffs == ()
    growth = pages(organisation())["Growth"]
    assert [h.deal.key for h in growth.handoffs] == ["006A"], "the deal's delivery epic is on Growth and active"


def test_trends_come_from_past_runs_per_team_metrics() -> None:
    history = [(NOW - timedelta(days=d), {"Payments": {"red": d, "active": 4}}) for d in (3, 2, 1)]
    payments = pages(organisation(), history)["Payments"]
    red = next(m.headline for m in payments.measures if m.headline.metric.key == "red")
    assert [v for _, v in red.series] == [3, 2, 1, 1]
    assert red.change == 0
    assert team_metrics(audit(organisation()))["Payments"]["red"] == 1


def test_both_pages_render_and_escape_tracker_text() -> None:
    records = organisation(title=SCRIPT)
    records[1].team = records[0].team = "<b>Pay|ments</b>"
    page = pages(records)["<b>Pay|ments</b>"]
    out = io.StringIO()
    html_page(page, out)
    text = out.getvalue()
    assert "<script" not in text and "&lt;script&gt;" in text and "&lt;b&gt;Pay|ments&lt;/b&gt;" in text
    assert "default-src 'none'" in text and "@media print" in text
    assert text.count("<polyline") + text.count("<circle") >= len(SCORECARD)
    out = io.StringIO()
    markdown_page(page, out)
    md = out.getvalue()
    assert "<script>" not in md and "<b>" not in md and "Pay\\|ments" in md
    assert "| Share" not in md and "| With an owner | leading | 50% |" in md
    assert slug("<b>Pay|ments</b>") == "b-pay-ments-b"


def test_cli_writes_one_page_per_team_for_the_demo(sandbox: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "weekly"
    result = CliRunner().invoke(
        main,
        [
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
        ],
        env=sandbox.info.as_env(),
    )
    assert result.exit_code == 0, result.stderr
    teams = sandbox.jira_data.fields[
        next(f.id for f in sandbox.jira_data.fields.values() if f.name == "Team")
    ].allowed_values
    assert sorted(p.stem for p in out.glob("*.html")) == sorted(slug(t) for t in teams)
    assert sorted(p.stem for p in out.glob("*.md")) == sorted(slug(t) for t in teams)
    status = {s.id: s.name for s in sandbox.jira_data.statuses.values()}
    active = sum(
        1
        for i in sandbox.jira_data.issues.values()
        if i.fields[next(f.id for f in sandbox.jira_data.fields.values() if f.name == "Team")] == "Payments"
        and status[i.fields["status"]] in ("Backlog", "Under Review", "In Progress", "Rolling Out")
    )
    md = (out / "payments.md").read_text(encoding="utf-8")
    assert f"| Active initiatives | lagging | {active} |" in md
    assert "### Decisions pending" in md and "### Hand-offs in flight" in md
    shot = tmp_path / "payments.png"
    browse(tmp_path, f"--screenshot={shot}", "--window-size=1280,1800", (out / "payments.html").as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000, len(data)
    dom = browse(tmp_path, "--dump-dom", (out / "payments.html").as_uri()).stdout
    assert re.search(r"<title>Payments weekly review · ", dom) and "<script" not in dom.lower()


def test_by_team_needs_an_output_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "--pull", "--by", "team", "--project", str(ROOT)])
    assert result.exit_code == 2 and "--output DIR" in result.stderr
    afile = tmp_path / "x.html"
    afile.write_text("")
    result = CliRunner().invoke(
        main, ["report", "--pull", "--by", "team", "--output", str(afile), "--project", str(ROOT)]
    )
    assert result.exit_code == 2 and "a directory" in result.stderr
    result = CliRunner().invoke(main, ["report", "--pull", "--output", str(tmp_path), "--project", str(ROOT)])
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_sync_stores_per_team_metrics_for_the_trends(sandbox: Sandbox, project: Path) -> None:
    from trackerbridge.state.store import StateStore

    result = CliRunner().invoke(
        main, ["sync", "--project", str(project), "--as-of", sandbox.clock.now().isoformat()], env=sandbox.info.as_env()
    )
    assert result.exit_code == 0, result.stderr
    with StateStore.open(f"sqlite:///{project / '.trackerbridge' / 'state.db'}") as store:
        [run] = store.runs()
    teams = run.metrics["teams"]
    assert "Payments" in teams and set(teams["Payments"]) == {m.key for m, _ in SCORECARD}
    assert sum(t["active"] for t in teams.values()) <= run.metrics["headline"]["active"]
