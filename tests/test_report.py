"""The report model and its renderers on a hand-made organisation: every figure worked out by hand, trends from
past runs' metrics, and tracker text that tries to break out of HTML, Markdown, CSV and terminals."""

from __future__ import annotations

import csv as stdlib_csv
import io
import json as stdlib_json
import re
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from trackerbridge.audit import AuditResult, assess
from trackerbridge.health import HealthPolicy
from trackerbridge.model import Initiative, Link, Person, Size, Stage
from trackerbridge.report import csv as report_csv
from trackerbridge.report import html, json, markdown, renderers, table
from trackerbridge.report.model import METRIC_KEYS, build_report, headline_metrics
from trackerbridge.report.present import spark
from trackerbridge.rules.engine import RuleSettings, Selection
from trackerbridge.rules.registry import load_rules

NOW = datetime(2026, 10, 15, 12, 0, tzinfo=timezone.utc)
ANN = Person("ann@example.com", "Ann Lee")
BOB = Person("bob@example.com", "Bob Roe")
SETTINGS = RuleSettings(
    params={
        "TB107": {"max_active": 2, "kinds": ["Initiative"]},
        "TB108": {"capacity": {"Payments": 2}, "kinds": ["Initiative"]},
    },
    scope={"sf": Selection(("TB110", "TB111"))},  # deals are hand-off sources, not initiatives
)


def ops(n: int, title: str = "", **fields: object) -> Initiative:
    base: dict[str, object] = {
        "kind": "Initiative",
        "owner": ANN,
        "team": "Payments",
        "stage": Stage.BUILD,
        "size": Size.MINOR,
        "end": date(2026, 12, 31),
        "updated": NOW - timedelta(days=1),
        "created": NOW - timedelta(days=200 - n),
    }
    base.update(fields)
    return Initiative(
        "jira", "jira", f"OPS-{n}", f"https://jira.example.com/browse/OPS-{n}", title or f"Initiative {n}", **base
    )  # type: ignore[arg-type]


def deal(key: str, **fields: object) -> Initiative:
    base: dict[str, object] = {
        "kind": "New Business",
        "owner": BOB,
        "stage": Stage.DONE,
        "updated": NOW - timedelta(days=1),
        "created": NOW - timedelta(days=100),
    }
    base.update(fields)
    return Initiative("sf", "salesforce", key, f"https://acme.my.salesforce.com/{key}", f"Deal {key}", **base)  # type: ignore[arg-type]


def organisation() -> list[Initiative]:
    """Five active initiatives (one a delivery epic), two ended ones, three deals."""
    return [
        ops(1, size=Size.MAJOR, integrator=BOB),  # green
        ops(
            2,
            owner=None,
            stage=Stage.DECIDE,
            stage_entered=NOW - timedelta(days=20),
            end=None,
            updated=NOW - timedelta(days=40),
        ),  # TB101, TB102, TB104, TB106: red, sunset
        ops(3, size=Size.MAJOR, end=date(2026, 8, 1)),  # TB103 red; 75 days late: sunset; TB108 anchor
        ops(4, team="Growth", stage=Stage.LAUNCH, end=date(2026, 10, 10), created=NOW - timedelta(days=2)),
        # ^ 5 days late (overdue, not sunset) and ann's newest: TB107 sits here
        ops(5, stage=Stage.DONE, learning_note="done"),
        ops(6, stage=Stage.CANCELLED),  # TB109 (no learning note), not active
        Initiative(
            "jira",
            "jira",
            "DEL-1",
            "https://jira.example.com/browse/DEL-1",
            "Deliver deal 1",
            kind="Epic",
            owner=BOB,
            team="Platform",
            stage=Stage.BUILD,
            end=date(2026, 12, 1),
            created=datetime(2026, 9, 30, 8, 0, tzinfo=timezone.utc),
            updated=NOW - timedelta(days=2),
        ),
        deal("006A", end=date(2026, 9, 1), links=(Link("jira", "DEL-1"),), extra={"delivery_owner": ANN}),  # 29 idle
        deal("006B", end=date(2026, 10, 10), extra={"delivery_owner": None}),  # TB111, 5 days so far
        deal("006C", stage=Stage.DECIDE, end=date(2026, 12, 1)),  # an open deal: neither initiative nor hand-off
    ]


def audit(initiatives: list[Initiative] | None = None) -> AuditResult:
    return assess(initiatives or organisation(), load_rules(), SETTINGS, HealthPolicy(), NOW)


def render(fn: object, report: object) -> str:
    out = io.StringIO()
    fn(report, out)  # type: ignore[operator]
    return out.getvalue()


# --- the model ------------------------------------------------------------------------------------------------------


def test_headline_figures_by_hand() -> None:
    assert headline_metrics(audit()) == {
        "active": 5,  # OPS-1..4 and DEL-1; not the done/cancelled ones, not the open deal
        "share_owner": 0.8,  # OPS-2 has none
        "share_integrator": 0.5,  # majors: OPS-1 (Bob), OPS-3 (none)
        "share_end_date": 0.8,
        "overdue": 2,  # OPS-3, OPS-4
        "stuck_in_decide": 1,  # OPS-2
        "red": 2,  # OPS-2, OPS-3
        "amber": 1,  # OPS-4
        "green": 2,  # OPS-1, DEL-1
    }
    assert tuple(headline_metrics(audit())) == METRIC_KEYS


def test_empty_organisation_has_vacuous_shares() -> None:
    empty = assess([], load_rules(), SETTINGS, HealthPolicy(), NOW)
    figures = headline_metrics(empty)
    assert figures["active"] == 0 and figures["share_owner"] == figures["share_integrator"] == 1.0
    report = build_report(empty)
    for fn in renderers().values():
        assert render(fn, report)


def test_sprawl_uses_the_parameters_the_audit_ran_with() -> None:
    report = build_report(audit())
    assert [(lo.name, lo.active, lo.capacity, lo.over) for lo in report.owners] == [("Ann Lee", 3, 2, 1)]
    assert [(lo.name, lo.active, lo.capacity, lo.over, lo.basis) for lo in report.teams] == [
        ("Payments", 3, 2, 1, "configured"),
        ("Growth", 1, 5, 0, "1 owners x 5"),  # per_member x owners seen on the team's records
    ]
    codes = {g.code: g.count for g in report.rules}
    assert codes["TB107"] == 1 and codes["TB108"] == 1  # the rules agree


def test_sunset_candidates_with_reasons_most_first() -> None:
    report = build_report(audit())
    assert [(c.record.key, [r.code for r in c.reasons]) for c in report.sunset] == [
        ("OPS-2", ["TB101", "TB102", "TB106"]),
        ("OPS-3", ["TB105"]),  # 75 days late; OPS-4 (5 days) is overdue but not a sunset candidate
    ]
    assert report.sunset[0].owner is None and report.sunset[1].owner == "Ann Lee"
    assert report.sunset[1].record.url == "https://jira.example.com/browse/OPS-3"
    assert [c.record.key for c in build_report(audit(), long_overdue_days=5).sunset] == ["OPS-2", "OPS-3", "OPS-4"]


def test_handoffs_follow_tb110_and_tb111() -> None:
    report = build_report(audit())
    rows = [
        (h.deal.key, [d.key for d in h.deliveries], h.idle_days, h.owner, [p.code for p in h.problems])
        for h in report.handoffs
    ]
    assert rows == [("006A", ["DEL-1"], 29, "Ann Lee", ["TB110"]), ("006B", [], 5, None, ["TB111"])]
    assert report.handoffs[0].started == date(2026, 9, 30) and report.handoff_limit == 14
    since = build_report(audit(), since=datetime(2026, 10, 1, tzinfo=timezone.utc))
    assert [h.deal.key for h in since.handoffs] == ["006B"]  # closed since then


def test_findings_by_rule_worst_first_with_links() -> None:
    report = build_report(audit())
    order = [(g.severity, g.count, g.code) for g in report.rules]
    assert order == sorted(order, key=lambda o: ({"error": 0, "warning": 1}[o[0]], -o[1], o[2]))
    assert order[0][0] == "error" and ("warning", 2, "TB105") in order
    tb105 = next(g for g in report.rules if g.code == "TB105")
    assert [(f.record.key, f.flag) for f in tb105.findings] == [("OPS-3", "red"), ("OPS-4", "amber")]  # worst first
    assert tb105.findings[0].record.url == "https://jira.example.com/browse/OPS-3"


def test_series_from_history_one_point_a_day_oldest_first() -> None:
    result = audit()
    day = timedelta(days=1)
    history = [
        (NOW - 2 * day + timedelta(hours=1), {"active": 9, "overdue": 4}),  # the day's last run wins
        (NOW - 10 * day, {"active": 1, "overdue": 1}),  # before --since
        (NOW - 2 * day, {"active": 8, "overdue": 3}),
        (NOW - 3 * day, {"active": 7, "overdue": 5}),
        (NOW - 1 * day, {"active": 6}),  # a run that did not measure overdue
        (NOW - timedelta(hours=1), {"active": 100}),  # earlier today: the report stands for today
        (NOW + day, {"active": 100}),  # after the report's time (an --as-of report)
        (NOW - 4 * day, {"active": "n/a", "overdue": True}),  # not numbers
    ]
    report = build_report(result, history, since=NOW - 5 * day)
    active = report.figure("active")
    assert [v for _, v in active.series] == [7, 9, 6, 5]
    assert [at for at, _ in active.series][-1] == NOW
    assert active.previous == 6 and active.change == -1
    assert [v for _, v in report.figure("overdue").series] == [5, 4, 2]
    assert report.figure("overdue").series[0][0] == NOW - 3 * day
    assert report.figure("red").series == ((NOW, 2),)  # nothing stored: just today
    assert build_report(result, history).figure("active").series[0][1] == 1  # without --since: all days
    assert spark([7, 9, 6, 5]) == "▅█▃▁" and spark([3, 3]) == "▄▄"


# --- renderers: escaping -------------------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '" onmouseover="alert(2)" x="'


def hostile_report() -> object:
    initiatives = organisation()
    initiatives[3] = ops(4, ATTRIBUTE, team="Growth", stage=Stage.LAUNCH, end=date(2026, 10, 10))
    initiatives[3].url += ATTRIBUTE  # an attribute value must not end early either
    initiatives[1] = ops(
        2,
        SCRIPT,
        owner=None,
        stage=Stage.DECIDE,
        stage_entered=NOW - timedelta(days=20),
        end=None,
        updated=NOW - timedelta(days=40),
        team="<b>Ops</b>",
    )
    initiatives[2] = Initiative(
        "jira",
        "jira",
        "OPS-3",
        "javascript:alert(3)",
        "Sneaky link",
        kind="Initiative",
        owner=Person(name="<img src=x onerror=alert(4)>"),
        team="Payments",
        stage=Stage.BUILD,
        end=date(2026, 1, 1),
        updated=NOW,
    )
    return build_report(audit(initiatives))


class Page(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_every_tracker_value() -> None:
    page_html = render(html.render, hostile_report())
    page = Page()
    page.feed(page_html)
    names = {tag for tag, _ in page.tags}
    assert "script" not in names and "img" not in names and "b" not in names
    assert "<script" not in page_html.lower()
    for tag, attrs in page.tags:
        assert not [a for a, _ in attrs if a.startswith("on")], (tag, attrs)
        if tag == "a":
            assert re.match(r"https?://", dict(attrs)["href"] or ""), attrs
    text = "".join(page.text)
    assert SCRIPT in text and "<img src=x onerror=alert(4)>" in text and "<b>Ops</b>" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html
    assert "javascript:" not in page_html and "Sneaky link" in text  # shown, but not linked
    assert "&quot; onmouseover=&quot;alert(2)&quot; x=&quot;" in page_html  # the title
    assert 'OPS-4%22%20onmouseover=%22alert(2)%22%20x=%22"' in page_html  # the URL, percent-encoded


def test_html_is_self_contained_with_a_strict_policy() -> None:
    page_html = render(html.render, build_report(audit()))
    assert (
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">' in page_html
    )
    page = Page()
    page.feed(page_html)
    assert not [t for t, a in page.tags if t in ("link", "img", "iframe", "object", "embed", "script")]
    assert not re.search(r"(src|href)=\"(?!https://(jira|acme))", page_html)  # only record links point anywhere
    assert "@media print" in page_html and "@import" not in page_html and "url(" not in page_html
    svgs = [dict(a) for t, a in page.tags if t == "svg"]
    assert svgs and all(s.get("role") == "img" and s.get("aria-label") for s in svgs)
    assert page_html.count("<svg") == page_html.count("<title>") - 1  # one <title> per SVG, plus the page's
    for label in (">Red<", ">Amber<", ">Green<", "Over by 1"):  # health in words, not colour alone
        assert label in page_html


def test_markdown_escapes_and_links_only_http() -> None:
    text = render(markdown.render, hostile_report())
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "javascript:" not in text
    assert "[OPS-2](https://jira.example.com/browse/OPS-2)" in text
    assert all(
        line.count("|") - line.count("\\|") in (0, 5, 6, 8, 9) for line in text.splitlines() if line.startswith("|")
    ), "a title ended a table cell"


@pytest.mark.parametrize("title", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\t=tab"])
def test_csv_neutralises_formulas(title: str) -> None:
    initiatives = organisation()
    initiatives[1] = ops(2, title, owner=None, end=None)  # a sunset candidate, with findings
    text = render(report_csv.render, build_report(audit(initiatives)))
    rows = list(stdlib_csv.DictReader(io.StringIO(text, newline="")))
    titles = [r["title"] for r in rows if r["key"] == "OPS-2"]
    assert titles and all(t == "'" + title for t in titles)
    assert not [r for r in rows for v in r.values() if v and v[0] in "=+-@\t\r"]


def test_csv_sections_and_columns() -> None:
    text = render(report_csv.render, build_report(audit()))
    assert text.endswith("\r\n")
    rows = list(stdlib_csv.DictReader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == report_csv.COLUMNS
    sections = [r["section"] for r in rows]
    assert sections == sorted(sections, key=["headline", "owner", "team", "sunset", "handoff", "finding"].index)
    assert {(r["item"], r["value"]) for r in rows if r["section"] == "headline"} >= {("active", "5"), ("overdue", "2")}
    assert [(r["key"], r["value"], r["limit"]) for r in rows if r["section"] == "handoff"] == [
        ("006A", "29", "14"),
        ("006B", "5", "14"),
    ]


def test_json_documents_its_schema() -> None:
    document = stdlib_json.loads(render(json.render, build_report(audit(), [(NOW - timedelta(days=1), {"red": 3})])))
    assert list(document) == [
        "schema",
        "generated_at",
        "since",
        "sources",
        "records",
        "initiatives",
        "read_at",
        "headline",
        "owners",
        "teams",
        "sunset_candidates",
        "handoffs",
        "findings_by_rule",
        "slips",
    ]
    assert document["schema"] == "trackerbridge.report/v1"
    for key in document:
        assert f'"{key}"' in (json.__doc__ or ""), f"{key} is not documented"
    red = next(h for h in document["headline"] if h["key"] == "red")
    assert red["value"] == 2 and red["change"] == -1
    assert red["series"] == [
        {"at": "2026-10-14T12:00:00+00:00", "value": 3},
        {"at": "2026-10-15T12:00:00+00:00", "value": 2},
    ]
    assert document["handoffs"]["items"][0]["deliveries"][0]["url"] == "https://jira.example.com/browse/DEL-1"


def test_table_is_plain_text_and_literal() -> None:
    text = render(table.render, hostile_report())
    assert "\x1b" not in text and "Initiative sprawl report" in text
    assert "Ann Lee" in text and "over by 1" in text
    coloured = io.StringIO()
    table.render(build_report(audit()), coloured, color=True, width=120)
    assert "\x1b[" in coloured.getvalue()


@pytest.mark.parametrize("fmt", ["html", "markdown", "json", "csv", "table"])
def test_every_format_is_deterministic(fmt: str) -> None:
    result = audit()
    shuffled = AuditResult(
        result.now,
        result.initiatives[::-1],
        result.findings[::-1],
        dict(reversed(result.health.items())),
        dict(reversed(result.rules.items())),
        settings=result.settings,
    )
    fn = renderers()[fmt]
    assert render(fn, build_report(result)) == render(fn, build_report(shuffled))


def test_findings_per_rule_list_the_largest_first_when_the_rule_measures_days() -> None:
    stale = [ops(10 + n, updated=NOW - timedelta(days=days)) for n, days in enumerate((40, 400, 95, 9 * 30, 31))]
    report = build_report(audit([*organisation(), *stale]))
    tb106 = next(g for g in report.rules if g.code == "TB106")
    days = [int(re.search(r"(\d+) days", f.message).group(1)) for f in tb106.findings]
    assert days == sorted(days, reverse=True) and days[0] == 400 and tb106.by_size and tb106.order == "largest"
    tb101 = next(g for g in report.rules if g.code == "TB101")
    assert not tb101.by_size and tb101.order == "first"  # "no owner" has no size: said, not called worst
    page = render(html.render, report)
    assert "worst" not in page.lower().replace("worst first", "")
    assert "Records per rule" in page


def test_terminal_report_names_hand_offs_by_the_opportunity_name_and_says_when_data_was_read() -> None:
    read = NOW - timedelta(hours=3)
    report = build_report(audit(), read_at=read)
    out = render(lambda r, o: table.render(r, o, width=160), report)
    rows = [line for line in out.splitlines() if "006A" in line or "006B" in line]
    assert rows and all(re.match(r"Deal 006[AB]\s+006[AB]\s", row) for row in rows), rows
    assert "data read 2026-10-15 09:00 UTC (by the last sync)" in out
    assert "Data read 2026-10-15 09:00 UTC (by the last sync)" in render(html.render, report)
    assert stdlib_json.loads(render(json.render, report))["read_at"] == read.isoformat()
    pulled = build_report(audit(), read_at=NOW, pulled=True)
    assert "data read 2026-10-15 12:00 UTC (pulled for this report)" in render(markdown.render, pulled)
