"""Property tests: config and tracker values reach SOQL as one literal; CSV cells never start a formula."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simple_salesforce.format import format_soql

from trackerbridge.emitters.csv import FORMULA_STARTS, cell
from trackerbridge.sandbox.salesforce_model import new_salesforce_data
from trackerbridge.sandbox.soql import compile_soql

NOW = datetime(2026, 11, 2, tzinfo=timezone.utc)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


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
