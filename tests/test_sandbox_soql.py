"""The sandbox's SOQL subset: results, rendering and error texts must match what Salesforce gives."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from trackerbridge.sandbox import soql
from trackerbridge.sandbox.salesforce_model import SalesforceData, new_salesforce_data
from trackerbridge.sandbox.soql import SoqlError, compile_soql

UTC = timezone.utc
NOW = datetime(2026, 11, 25, 8, 25, 46, tzinfo=UTC)


def _put(data: SalesforceData, type_name: str, **fields: Any) -> str:
    sobject = data.types[type_name]
    rid = data.new_id(sobject)
    stamp = fields.pop("CreatedDate", NOW)
    data.records[type_name][rid] = {
        "Id": rid,
        "CreatedDate": stamp,
        "LastModifiedDate": stamp,
        "SystemModstamp": stamp,
        **fields,
    }
    return rid


def _org() -> tuple[SalesforceData, dict[str, str]]:
    """Two users, two accounts, five opportunities chosen to sit on the edges the tests probe."""
    data = new_salesforce_data()
    ids: dict[str, str] = {}
    ids["ann"] = _put(data, "User", Name="Ann Lee", Email="ann@example.com", IsActive=True)
    ids["bob"] = _put(data, "User", Name="Bob Stone", Email="bob@example.com", IsActive=False)
    ids["acme"] = _put(data, "Account", Name="Acme", OwnerId=ids["ann"], Industry="Technology")
    ids["globex"] = _put(data, "Account", Name="Globex", OwnerId=ids["bob"], Industry=None)
    opportunity = {
        "renewal": dict(
            Name="Acme Renewal",
            AccountId=ids["acme"],
            OwnerId=ids["ann"],
            StageName="Closed Won",
            Amount=50000.0,
            CloseDate=date(2026, 11, 24),
            IsClosed=True,
            IsWon=True,
            Delivery_Owner__c=ids["bob"],
            CreatedDate=datetime(2026, 11, 25, 0, 30, tzinfo=UTC),
        ),
        "expansion": dict(
            Name="Acme Expansion",
            AccountId=ids["acme"],
            OwnerId=ids["ann"],
            StageName="Prospecting",
            Amount=12000.0,
            CloseDate=date(2026, 12, 15),
            IsClosed=False,
            IsWon=False,
            Delivery_Owner__c=None,
            CreatedDate=datetime(2026, 11, 24, 23, 30, tzinfo=UTC),
        ),
        "pilot": dict(
            Name="Globex Pilot",
            AccountId=ids["globex"],
            OwnerId=ids["bob"],
            StageName="Closed Lost",
            Amount=None,
            CloseDate=date(2026, 8, 1),
            IsClosed=True,
            IsWon=False,
            Type="New Business",
            CreatedDate=datetime(2026, 8, 1, 12, 0, tzinfo=UTC),
        ),
        "odd": dict(
            Name="globex 100% deal_x",
            AccountId=None,
            OwnerId=ids["bob"],
            StageName="Negotiation/Review",
            Amount=75000.5,
            CloseDate=date(2026, 11, 25),
            IsClosed=False,
            IsWon=False,
            CreatedDate=datetime(2026, 11, 18, 0, 0, tzinfo=UTC),
        ),
        "obrien": dict(
            Name="O'Brien deal",
            AccountId=ids["acme"],
            OwnerId=ids["ann"],
            StageName="Qualification",
            Amount=0.0,
            CloseDate=date(2026, 11, 17),
            IsClosed=False,
            IsWon=False,
            CreatedDate=datetime(2026, 11, 17, 23, 59, 59, tzinfo=UTC),
        ),
    }
    for key, fields in opportunity.items():
        ids[key] = _put(data, "Opportunity", **fields)
    return data, ids


def _names(query: str, data: SalesforceData | None = None, **run: Any) -> list[str]:
    data = data or _org()[0]
    return [r["Name"] for r in compile_soql(query, data, now=NOW).run(data, **run)]


def _where(condition: str) -> set[str]:
    return set(_names(f"SELECT Name FROM Opportunity WHERE {condition}"))


def _error(query: str, data: SalesforceData | None = None) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        compile_soql(query, data or _org()[0], now=NOW)
    return caught.value


# ------------------------------------------------------------------------------------------ rendering


def test_render_uses_canonical_names_in_select_order_and_wire_formats() -> None:
    data, ids = _org()
    query = compile_soql(
        "select closedate, NAME, createddate, amount, iswon, id from OPPORTUNITY where id = '" + ids["renewal"] + "'",
        data,
        now=NOW,
    )
    [record] = query.run(data)
    rendered = query.render(record, "59.0")
    assert rendered == {
        "attributes": {
            "type": "Opportunity",
            "url": f"/services/data/v59.0/sobjects/Opportunity/{ids['renewal']}",
        },
        "CloseDate": "2026-11-24",
        "Name": "Acme Renewal",
        "CreatedDate": "2026-11-25T00:30:00.000+0000",
        "Amount": 50000.0,
        "IsWon": True,
        "Id": ids["renewal"],
    }
    assert list(rendered) == ["attributes", "CloseDate", "Name", "CreatedDate", "Amount", "IsWon", "Id"]
    assert query.sobject.name == "Opportunity" and not query.count_only


def test_render_url_follows_the_requested_api_version() -> None:
    data, ids = _org()
    query = compile_soql("SELECT Id FROM User WHERE Email = 'ann@example.com'", data, now=NOW)
    [record] = query.run(data)
    assert query.render(record, "62.0")["attributes"]["url"] == f"/services/data/v62.0/sobjects/User/{ids['ann']}"


def test_parent_fields_nest_merge_and_render_null_parents() -> None:
    data, ids = _org()
    query = compile_soql(
        "SELECT Name, account.name, Owner.Email, Account.Industry FROM Opportunity "
        "WHERE Name IN ('Acme Renewal', 'globex 100% deal_x') ORDER BY Name",
        data,
        now=NOW,
    )
    renewal, odd = (query.render(r, "59.0") for r in query.run(data))
    assert renewal["Account"] == {
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{ids['acme']}"},
        "Name": "Acme",
        "Industry": "Technology",
    }
    assert renewal["Owner"]["Email"] == "ann@example.com"
    assert renewal["Owner"]["attributes"]["type"] == "User"
    assert list(renewal) == ["attributes", "Name", "Account", "Owner"]
    assert odd["Account"] is None
    assert odd["Owner"]["Email"] == "bob@example.com"


def test_two_level_and_custom_relationships_render_and_filter() -> None:
    data, _ = _org()
    query = compile_soql(
        "SELECT Name, Account.Owner.Email, Delivery_Owner__r.Name, CreatedBy.Name FROM Opportunity "
        "WHERE Account.Owner.Email = 'ANN@example.com' ORDER BY Name",
        data,
        now=NOW,
    )
    rows = [query.render(r, "59.0") for r in query.run(data)]
    assert [r["Name"] for r in rows] == ["Acme Expansion", "Acme Renewal", "O'Brien deal"]
    assert rows[1]["Account"]["Owner"]["Email"] == "ann@example.com"
    assert rows[1]["Account"]["Owner"]["attributes"]["type"] == "User"
    assert rows[1]["Delivery_Owner__r"]["Name"] == "Bob Stone"
    assert rows[0]["Delivery_Owner__r"] is None
    assert rows[0]["CreatedBy"] is None  # no CreatedById stored on these records


def test_polymorphic_parent_uses_the_referenced_record_type() -> None:
    data, ids = _org()
    _put(data, "Task", Subject="Call", WhatId=ids["acme"], OwnerId=ids["ann"], Status="Not Started")
    _put(data, "Task", Subject="Demo", WhatId=ids["pilot"], OwnerId=ids["ann"], Status="Completed")
    query = compile_soql("SELECT Subject, What.Name FROM Task ORDER BY Subject", data, now=NOW)
    call, demo = (query.render(r, "59.0") for r in query.run(data))
    assert call["What"]["attributes"]["type"] == "Account" and call["What"]["Name"] == "Acme"
    assert demo["What"]["attributes"]["type"] == "Opportunity" and demo["What"]["Name"] == "Globex Pilot"


def test_object_name_prefix_on_own_fields_is_accepted() -> None:
    assert _names("SELECT Opportunity.Name FROM Opportunity WHERE Opportunity.Amount > 60000") == ["globex 100% deal_x"]


# ------------------------------------------------------------------------------------------ operators


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("StageName = 'Closed Won'", {"Acme Renewal"}),
        ("StageName = 'closed won'", {"Acme Renewal"}),  # text equality ignores case
        (
            "StageName != 'Closed Won'",
            {"Acme Expansion", "Globex Pilot", "globex 100% deal_x", "O'Brien deal"},
        ),
        (
            "StageName <> 'Closed Won'",
            {"Acme Expansion", "Globex Pilot", "globex 100% deal_x", "O'Brien deal"},
        ),
        ("Amount < 12000", {"O'Brien deal"}),
        ("Amount <= 12000", {"O'Brien deal", "Acme Expansion"}),
        ("Amount > 50000", {"globex 100% deal_x"}),
        ("Amount >= 50000", {"globex 100% deal_x", "Acme Renewal"}),
        ("Amount != 0", {"Acme Renewal", "Acme Expansion", "Globex Pilot", "globex 100% deal_x"}),
        ("Amount = 75000.5", {"globex 100% deal_x"}),
        ("Name > 'globex'", {"Globex Pilot", "globex 100% deal_x", "O'Brien deal"}),
        ("Name = 'O\\'Brien deal'", {"O'Brien deal"}),
    ],
)
def test_comparison_operators(condition: str, expected: set[str]) -> None:
    assert _where(condition) == expected


def test_null_comparisons() -> None:
    assert _where("Amount = null") == {"Globex Pilot"}
    assert _where("AccountId = null") == {"globex 100% deal_x"}
    assert _where("Account.Name = NULL") == {"globex 100% deal_x"}
    assert _where("Amount != null") == {
        "Acme Renewal",
        "Acme Expansion",
        "globex 100% deal_x",
        "O'Brien deal",
    }
    assert _where("Amount > null") == set()


def test_not_equal_and_not_in_also_match_nulls_as_in_soql() -> None:
    assert _where("Type != 'New Business'") == {
        "Acme Renewal",
        "Acme Expansion",
        "globex 100% deal_x",
        "O'Brien deal",
    }
    assert "globex 100% deal_x" in _where("Account.Name NOT IN ('Acme')")


def test_booleans() -> None:
    assert _where("IsWon = TRUE") == {"Acme Renewal"}
    assert _where("IsClosed = false") == {"Acme Expansion", "globex 100% deal_x", "O'Brien deal"}
    assert _where("IsClosed != True AND IsWon = False") == {
        "Acme Expansion",
        "globex 100% deal_x",
        "O'Brien deal",
    }


def test_in_and_not_in_with_strings_ids_and_null() -> None:
    data, ids = _org()
    where = "SELECT Name FROM Opportunity WHERE "
    assert set(_names(where + "StageName IN ('closed won', 'Prospecting')", data)) == {
        "Acme Renewal",
        "Acme Expansion",
    }
    assert set(_names(where + "StageName NOT IN ('Closed Won', 'Closed Lost', 'Prospecting')", data)) == {
        "globex 100% deal_x",
        "O'Brien deal",
    }
    id15 = ids["pilot"][:15]  # 15-character ids match their 18-character form
    assert _names(where + f"Id IN ('{ids['renewal']}', '{id15}') ORDER BY Name", data) == [
        "Acme Renewal",
        "Globex Pilot",
    ]
    assert set(_names(where + f"OwnerId NOT IN ('{ids['ann']}')", data)) == {
        "Globex Pilot",
        "globex 100% deal_x",
    }
    assert set(_names(where + f"AccountId IN ('{ids['globex']}', null)", data)) == {
        "Globex Pilot",
        "globex 100% deal_x",
    }


def test_like_is_case_insensitive_with_both_wildcards_and_escapes() -> None:
    assert _where("Name LIKE 'acme%'") == {"Acme Renewal", "Acme Expansion"}
    assert _where("Name LIKE '%DEAL%'") == {"globex 100% deal_x", "O'Brien deal"}
    assert _where("Name LIKE 'Acme Renewa_'") == {"Acme Renewal"}
    assert _where("Name LIKE 'Acme Renew_'") == set()
    assert _where("Name LIKE '%100\\%%'") == {"globex 100% deal_x"}
    assert _where("Name LIKE '%l\\_x'") == {"globex 100% deal_x"}
    assert _where("Name LIKE '%e\\_x'") == set()
    assert _where("Owner.Email LIKE 'BOB@%'") == {"Globex Pilot", "globex 100% deal_x"}
    assert _where("NOT Name LIKE 'acme%'") == {"Globex Pilot", "globex 100% deal_x", "O'Brien deal"}


def test_not_binds_tighter_than_and_which_binds_tighter_than_or(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soql, "REJECT_MIXED_AND_OR", False)
    # OR(a, AND(b, c)): Renewal (a) plus the Closed Lost one that has no amount (b and c).
    assert _where("Name = 'Acme Renewal' OR StageName = 'Closed Lost' AND Amount = null") == {
        "Acme Renewal",
        "Globex Pilot",
    }
    # Parentheses override: AND(OR(a, b), c) keeps only the one without amount.
    assert _where("(Name = 'Acme Renewal' OR StageName = 'Closed Lost') AND Amount = null") == {"Globex Pilot"}
    assert _where("NOT IsClosed = true AND Amount > 10000") == {"Acme Expansion", "globex 100% deal_x"}
    assert _where("NOT (IsClosed = true AND Amount > 10000)") == {
        "Acme Expansion",
        "Globex Pilot",
        "globex 100% deal_x",
        "O'Brien deal",
    }
    assert _where("Amount = 0 OR Amount = 12000 OR Amount = 50000 AND IsWon = true") == {
        "O'Brien deal",
        "Acme Expansion",
        "Acme Renewal",
    }


def test_mixed_and_or_is_rejected_like_salesforce() -> None:
    query = "SELECT Id FROM Opportunity WHERE Name = 'a' AND Amount > 1 OR IsWon = true"
    err = _error(query)
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith("ERROR at Row:1:Column:59\nunexpected token: 'OR'")
    assert _where("(Name = 'a' AND Amount > 1) OR IsWon = true") == {"Acme Renewal"}
    assert _where("Name = 'a' OR Amount > 1 OR IsWon = true") == _where("Amount > 1")


# ---------------------------------------------------------------------------------------------- dates


def test_date_and_datetime_literals() -> None:
    assert _where("CloseDate = 2026-11-24") == {"Acme Renewal"}
    assert _where("CloseDate > 2026-11-24") == {"Acme Expansion", "globex 100% deal_x"}
    assert _where("CreatedDate < 2026-11-18T00:00:00Z") == {"Globex Pilot", "O'Brien deal"}
    assert _where("CreatedDate = 2026-11-24T23:30:00Z") == {"Acme Expansion"}
    # 2026-11-25T01:30+01:00 is 00:30 UTC; fractional seconds are accepted.
    assert _where("CreatedDate = 2026-11-25T01:30:00.000+01:00") == {"Acme Renewal"}
    assert _where("CreatedDate >= 2026-11-24T23:30:00.5-00:00") == {"Acme Renewal"}


def test_today_yesterday_tomorrow_on_date_and_datetime_fields() -> None:
    assert _where("CloseDate = TODAY") == {"globex 100% deal_x"}
    assert _where("CloseDate = yesterday") == {"Acme Renewal"}
    assert _where("CloseDate = TOMORROW") == set()
    assert _where("CloseDate > TODAY") == {"Acme Expansion"}
    assert _where("CloseDate <= YESTERDAY") == {"Acme Renewal", "Globex Pilot", "O'Brien deal"}
    # UTC day boundaries: 00:30 today counts as TODAY, 23:30 yesterday does not.
    assert _where("CreatedDate = TODAY") == {"Acme Renewal"}
    assert _where("CreatedDate = YESTERDAY") == {"Acme Expansion"}
    assert _where("CreatedDate < TODAY") == {
        "Acme Expansion",
        "Globex Pilot",
        "globex 100% deal_x",
        "O'Brien deal",
    }


def test_last_and_next_n_days_across_the_day_boundary() -> None:
    # LAST_N_DAYS:7 starts at 2026-11-18T00:00:00Z: the record created exactly then is in, the one a
    # second before midnight is out.
    assert _where("CreatedDate = LAST_N_DAYS:7") == {"Acme Renewal", "Acme Expansion", "globex 100% deal_x"}
    assert _where("CreatedDate = LAST_N_DAYS:8") == {
        "Acme Renewal",
        "Acme Expansion",
        "globex 100% deal_x",
        "O'Brien deal",
    }
    assert _where("CreatedDate < LAST_N_DAYS:7") == {"Globex Pilot", "O'Brien deal"}
    assert _where("CloseDate = LAST_N_DAYS:1") == {"Acme Renewal", "globex 100% deal_x"}
    assert _where("CloseDate = LAST_N_DAYS:90 AND StageName != 'Closed Won'") == {
        "globex 100% deal_x",
        "O'Brien deal",
    }
    assert _where("CloseDate = NEXT_N_DAYS:20") == {"Acme Expansion"}
    assert _where("CloseDate = NEXT_N_DAYS:19") == set()
    assert _where("CloseDate IN (TODAY, YESTERDAY)") == {"Acme Renewal", "globex 100% deal_x"}


# ------------------------------------------------------------------------------------ order and paging


def test_order_by_default_nulls_first_ascending_and_last_descending() -> None:
    assert _names("SELECT Name FROM Opportunity ORDER BY Amount") == [
        "Globex Pilot",
        "O'Brien deal",
        "Acme Expansion",
        "Acme Renewal",
        "globex 100% deal_x",
    ]
    assert _names("SELECT Name FROM Opportunity ORDER BY Amount DESC") == [
        "globex 100% deal_x",
        "Acme Renewal",
        "Acme Expansion",
        "O'Brien deal",
        "Globex Pilot",
    ]


def test_order_by_explicit_nulls_and_several_keys() -> None:
    assert _names("SELECT Name FROM Opportunity ORDER BY Amount ASC NULLS LAST LIMIT 2") == [
        "O'Brien deal",
        "Acme Expansion",
    ]
    assert _names("SELECT Name FROM Opportunity ORDER BY Amount DESC NULLS FIRST LIMIT 2") == [
        "Globex Pilot",
        "globex 100% deal_x",
    ]
    assert _names("SELECT Name FROM Opportunity ORDER BY Account.Name DESC NULLS FIRST, Amount DESC") == [
        "globex 100% deal_x",
        "Globex Pilot",
        "Acme Renewal",
        "Acme Expansion",
        "O'Brien deal",
    ]
    assert _names("SELECT Name FROM Opportunity ORDER BY IsClosed, OwnerId, CloseDate DESC") == [
        "Acme Expansion",
        "O'Brien deal",
        "globex 100% deal_x",
        "Acme Renewal",
        "Globex Pilot",
    ]


def test_order_by_text_ignores_case() -> None:
    assert _names("SELECT Name FROM Opportunity WHERE Name LIKE '%globex%' ORDER BY Name") == [
        "globex 100% deal_x",
        "Globex Pilot",
    ]


def test_limit_and_offset() -> None:
    query = "SELECT Name FROM Opportunity ORDER BY CloseDate"
    assert _names(query + " LIMIT 2") == ["Globex Pilot", "O'Brien deal"]
    assert _names(query + " LIMIT 2 OFFSET 2") == ["Acme Renewal", "globex 100% deal_x"]
    assert _names(query + " OFFSET 4") == ["Acme Expansion"]
    assert _names(query + " LIMIT 0") == []
    assert _names(query + " OFFSET 2000") == []


def test_count_runs_the_filter_and_renders_no_fields() -> None:
    data, _ = _org()
    query = compile_soql("SELECT COUNT() FROM Opportunity WHERE IsClosed = false", data, now=NOW)
    assert query.count_only
    assert len(query.run(data)) == 3
    assert len(compile_soql("select count() from Opportunity limit 2", data, now=NOW).run(data)) == 2


def test_include_deleted_adds_deleted_rows() -> None:
    data, ids = _org()
    data.deleted["Opportunity"] = {ids["pilot"]: data.records["Opportunity"].pop(ids["pilot"])}
    query = compile_soql("SELECT Name FROM Opportunity WHERE Account.Name = 'Globex'", data, now=NOW)
    assert query.run(data) == []
    assert [r["Name"] for r in query.run(data, include_deleted=True)] == ["Globex Pilot"]


def test_run_sees_later_changes_and_other_data() -> None:
    data, ids = _org()
    query = compile_soql("SELECT Name FROM Opportunity WHERE Owner.Email = 'ann@example.com'", data, now=NOW)
    assert len(query.run(data)) == 3
    data.records["User"][ids["ann"]]["Email"] = "ann@new.example.com"
    assert query.run(data) == []
    other, _ = _org()
    assert len(query.run(other)) == 3


def test_keywords_and_names_are_case_insensitive() -> None:
    assert _names(
        "sElEcT nAmE fRoM oPpOrTuNiTy wHeRe sTaGeNaMe In ('CLOSED WON') AnD nOt iSwOn = FaLsE "
        "oRdEr By NaMe DeSc NuLlS lAsT lImIt 1"
    ) == ["Acme Renewal"]


# ---------------------------------------------------------------------------------------------- errors


def test_unknown_object() -> None:
    err = _error("SELECT Id FROM Foo")
    assert err.error_code == "INVALID_TYPE"
    assert err.message == (
        "\nSELECT Id FROM Foo\n               ^\nERROR at Row:1:Column:16\n"
        "sObject type 'Foo' is not supported. If you are attempting to use a custom object, be sure to "
        "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
        "appropriate names."
    )


def test_unknown_field_points_at_its_column() -> None:
    err = _error("SELECT Id, Foo FROM Opportunity")
    assert err.error_code == "INVALID_FIELD"
    assert err.message == (
        "\nSELECT Id, Foo FROM Opportunity\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Foo' on entity 'Opportunity'. If you are attempting to use a custom field, be sure "
        "to append the '__c' after the custom field name. Please reference your WSDL or the describe call "
        "for the appropriate names."
    )
    assert isinstance(err, ValueError)


def test_unknown_field_in_where_on_a_later_row() -> None:
    err = _error("SELECT Id\nFROM Opportunity\nWHERE Owner.Phone = 'x'")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.startswith("\nWHERE Owner.Phone = 'x'\n      ^\nERROR at Row:3:Column:7\n")
    assert "No such column 'Phone' on entity 'User'." in err.message


def test_unknown_relationship() -> None:
    err = _error("SELECT Id, Boss.Name FROM Opportunity")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.split("\n")[-1].startswith(
        "Didn't understand relationship 'Boss' in field path. If you are attempting to use a custom "
        "relationship, be sure to append the '__r' after the custom relationship name."
    )


@pytest.mark.parametrize(
    ("query", "tail"),
    [
        (
            "SELECT Id FROM Opportunity GROUP BY StageName",
            "\nSELECT Id FROM Opportunity GROUP BY StageName\n                          ^\n"
            "ERROR at Row:1:Column:27\nunexpected token: 'GROUP'",
        ),
        (
            "SELECT Id, (SELECT Id FROM Tasks) FROM Account",
            "ERROR at Row:1:Column:11\nunexpected token: '('",
        ),
        ("SELECT Id FROM Opportunity WHERE Id IN (SELECT Id FROM Account)", "unexpected token: 'SELECT'"),
        (
            "SELECT Id, FROM Account",
            "\nSELECT Id, FROM Account\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FROM'",
        ),
        ("SELECT Id FROM Opportunity WHERE", "unexpected token: '<EOF>'"),
        ('SELECT Id FROM Opportunity WHERE Name = "x"', "unexpected token: '\"'"),
        ("SELECT MAX(Amount) FROM Opportunity", "unexpected token: '('"),
        ("SELECT FIELDS(ALL) FROM Opportunity LIMIT 200", "unexpected token: '('"),
        ("SELECT Id FROM Opportunity WITH SECURITY_ENFORCED", "unexpected token: 'WITH'"),
        ("SELECT Id FROM Opportunity LIMIT 1 FOR UPDATE", "unexpected token: 'FOR'"),
        ("SELECT Id FROM Opportunity o", "unexpected token: 'o'"),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_WEEKDAYS:3",
            "unexpected token: 'LAST_N_WEEKDAYS'",
        ),
        ("SELECT Id FROM Opportunity WHERE CloseDate = 2026-02-30", "unexpected token: '2026-02-30'"),
        ("SELECT Id FROM Opportunity LIMIT 1.5", "unexpected token: '1.5'"),
        ("SELECT Id, COUNT() FROM Opportunity", "COUNT() cannot be selected with other fields"),
    ],
)
def test_unsupported_or_malformed_queries(query: str, tail: str) -> None:
    err = _error(query)
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith(tail)


def test_filter_values_must_match_the_field_type() -> None:
    cases = {
        "CloseDate = 2026-11-25T08:00:00Z": "field 'CloseDate' must be of type date and should not be",
        "CloseDate = '2026-11-25'": "field 'CloseDate' must be of type date and should not be enclosed",
        "CreatedDate > 2026-11-25": "field 'CreatedDate' must be of type dateTime and should not be",
        "Amount > '100'": "field 'Amount' must be of type double and should not be enclosed in quotes",
        "IsWon = 'true'": "field 'IsWon' must be of type boolean and should not be enclosed in quotes",
        "Name = 5": "field 'Name' must be of type string and should be enclosed in quotes",
        "Name LIKE 5": "field 'Name' must be of type string and should be enclosed in quotes",
    }
    for condition, detail in cases.items():
        err = _error(f"SELECT Id FROM Opportunity WHERE {condition}")
        assert err.error_code == "INVALID_FIELD", condition
        assert err.message.split("\n")[-1].startswith("value of filter criterion for " + detail), condition
    err = _error("SELECT Id FROM Opportunity WHERE CloseDate = '2026-11-25'")
    assert "\nERROR at Row:1:Column:46\n" in err.message  # points at the value


def test_invalid_ids_operators_and_unfilterable_fields() -> None:
    err = _error("SELECT Id FROM Opportunity WHERE AccountId = 'abc'")
    assert (err.error_code, err.message.split("\n")[-1]) == (
        "INVALID_QUERY_FILTER_OPERATOR",
        "invalid ID field: abc",
    )
    err = _error("SELECT Id FROM Opportunity WHERE IsWon > false")
    assert (err.error_code, err.message.split("\n")[-1]) == (
        "INVALID_QUERY_FILTER_OPERATOR",
        "invalid operator on boolean field",
    )
    err = _error("SELECT Id FROM Opportunity WHERE CloseDate LIKE '2026%'")
    assert err.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    err = _error("SELECT Id FROM Opportunity WHERE Description = 'x'")
    assert (err.error_code, err.message.split("\n")[-1]) == (
        "INVALID_FIELD",
        "field 'Description' can not be filtered in a query call",
    )
    err = _error("SELECT Id FROM Opportunity ORDER BY Description")
    assert err.message.split("\n")[-1] == "field 'Description' can not be sorted in a query call"


def test_duplicate_fields_offset_cap_and_bad_escapes() -> None:
    err = _error("SELECT Id, Owner.Email, owner.email FROM Opportunity")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith("ERROR at Row:1:Column:25\nduplicate field selected: Email")
    err = _error("SELECT Id FROM Opportunity OFFSET 2001")
    assert (err.error_code, err.message.split("\n")[-1]) == (
        "NUMBER_OUTSIDE_VALID_RANGE",
        "Maximum SOQL offset allowed is 2000",
    )
    err = _error("SELECT Id FROM Opportunity WHERE Name = 'a\\qb'")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith("Illegal character sequence '\\q' in string literal.")


def test_errors_are_deterministic_and_parsing_is_cached() -> None:
    data, _ = _org()
    first = _error("SELECT Id, Nope FROM Opportunity", data).message
    second = _error("SELECT Id, Nope FROM Opportunity", data).message
    assert first == second
    query = "SELECT Id FROM Opportunity WHERE Amount > 1"
    compile_soql(query, data, now=NOW)
    hits = soql._parse.cache_info().hits
    compile_soql(query, data, now=NOW)
    assert soql._parse.cache_info().hits == hits + 1
