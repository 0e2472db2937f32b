"""Property tests: config and tracker values reach SOQL as one literal; CSV cells never start a formula."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simple_salesforce.format import format_soql

from trackerbridge.audit import assess
from trackerbridge.emitters.csv import FORMULA_STARTS, cell
from trackerbridge.health import HealthPolicy
from trackerbridge.model import Initiative, Person, Stage
from trackerbridge.report import html as report_html
from trackerbridge.report.model import build_report
from trackerbridge.rules.engine import RuleSettings
from trackerbridge.rules.registry import load_rules
from trackerbridge.sandbox.salesforce_model import new_salesforce_data
from trackerbridge.sandbox.soql import compile_soql

NOW = datetime(2026, 11, 2, tzinfo=timezone.utc)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
RULES = load_rules()
MARKUP = st.one_of(
    TEXT,
    st.lists(
        st.sampled_from(["<", ">", '"', "'", "=", "&", "/", " ", "script", "img", "b", "onerror", "x"]), max_size=14
    ).map("".join),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            '" onmouseover="alert(1)',
            "<img src=x onerror=alert(1)>",
            "</td></tr></table><h1>x</h1>",
            "javascript:alert(1)",
        ]
    ),
)


def _report_html(title: str, name: str) -> str:
    """The HTML report of two records, one titled and owned by the given tracker text (one of them
    red, so the text appears in every section that lists records)."""
    owner = Person(f"{name[:5]}@example.com", name or "x", "ref")
    records = [
        Initiative(
            "jira",
            "jira",
            "OPS-1",
            "https://jira.example.com/browse/OPS-1",
            title,
            kind="Initiative",
            owner=owner,
            team=name or "t",
            stage=Stage.BUILD,
            end=None,
            created=NOW - timedelta(days=90),
            updated=NOW - timedelta(days=60),
        ),
        Initiative(
            "jira",
            "jira",
            "OPS-2",
            "https://jira.example.com/browse/OPS-2",
            "Other",
            kind="Initiative",
            owner=owner,
            team="t",
            stage=Stage.BUILD,
            end=date(2026, 12, 1),
            created=NOW,
            updated=NOW,
        ),
    ]
    out = io.StringIO()
    report_html.render(build_report(assess(records, RULES, RuleSettings(), HealthPolicy(), NOW)), out)
    return out.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wanted=TEXT, other=TEXT)
def test_an_email_in_the_user_lookup_is_one_literal(wanted: str, other: str) -> None:
    data = new_salesforce_data()
    users = data.records["User"]
    users["005000000000001AAA"] = {"Id": "005000000000001AAA", "Email": wanted, "IsActive": True}
    users["005000000000002AAA"] = {"Id": "005000000000002AAA", "Email": other, "IsActive": True}
    # the connector's own template (SalesforceConnector._match_users)
    soql = format_soql(
        "SELECT Id, Email FROM User WHERE IsActive = true AND {column:literal} IN {values}",
        column="Email",
        values=[wanted],
    )
    rows = compile_soql(soql, data, now=NOW).run(data)
    expected = {"005000000000001AAA"} | ({"005000000000002AAA"} if other.casefold() == wanted.casefold() else set())
    assert {r["Id"] for r in rows} == expected


@given(TEXT)
def test_csv_cells_never_start_a_formula(text: str) -> None:
    out = cell(text)
    assert not out.startswith(FORMULA_STARTS)
    assert out in (text, "'" + text)


class _Tags(HTMLParser):
    """Every element and attribute a browser would build from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


_PLAIN = _Tags()
_PLAIN.feed(_report_html("Plain title", "Plain person"))
_PLAIN.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=MARKUP, name=MARKUP)
def test_tracker_text_never_becomes_markup_in_the_html_report(title: str, name: str) -> None:
    page = _Tags()
    page.feed(_report_html(title, name))
    page.close()
    assert page.tags == _PLAIN.tags, "a title or a name added or removed an element"
    assert page.attributes == _PLAIN.attributes
    assert not any(a.startswith("on") for a in page.attributes)


@settings(max_examples=100, deadline=None)
@given(TEXT)
def test_markdown_cells_cannot_break_a_table_or_inject_html(text: str) -> None:
    from trackerbridge.emitters.markdown import cell as markdown_cell

    out = markdown_cell(text)
    assert "|" not in out.replace("\\|", "")
    assert "<" not in out and ">" not in out and "\n" not in out
