"""The sandbox's JQL subset: semantics, ordering and Jira-worded errors.

The data set is small and hand-built so every expected key list can be checked by eye; `now` is
pinned just after midnight so relative dates cross a day boundary.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from trackerbridge.sandbox.jira_model import Issue, JiraData, JiraUser, new_jira_data
from trackerbridge.sandbox.jql import JqlError, JqlQuery, compile_jql

UTC = timezone.utc
NOW = datetime(2024, 3, 10, 0, 30, tzinfo=UTC)

ALICE = JiraUser("acc-alice", "alice", "JIRAUSER1", "Alice Adams", "alice@example.com")
BOB = JiraUser("acc-bob", "bob", "JIRAUSER2", "Bob Brown", "bob@example.com")
CAROL = JiraUser("acc-carol", "carol", "JIRAUSER3", "Carol Chen", "carol@example.com")

# Custom field ids in new_jira_data(): see DEMO_CUSTOM_FIELDS (10100 + position).
DECISION_OWNER = "customfield_10101"
TEAM = "customfield_10102"
LEARNING_NOTE = "customfield_10104"
HEALTH = "customfield_10105"
START_DATE = "customfield_10108"
MEASURES = "customfield_10111"


def _issue(issue_id: int, key: str, **fields: object) -> Issue:
    base: dict[str, object] = {
        "project": key.split("-")[0],
        "issuetype": "Initiative",
        "priority": "Medium",
        "reporter": BOB.account_id,
        "labels": [],
        "created": datetime(2024, 3, 1, 9, 0, tzinfo=UTC),
        "updated": datetime(2024, 3, 5, 9, 0, tzinfo=UTC),
    }
    base.update(fields)
    return Issue(issue_id, key, base)


def _data() -> JiraData:
    data = new_jira_data()
    data.projects.update({"OPS": "Operations", "GRO": "Growth Lab"})
    for user in (ALICE, BOB, CAROL):
        data.users[user.account_id] = user
    issues = [
        # added out of id order on purpose: results must come back by id
        _issue(
            10003,
            "OPS-3",
            summary="Growth experiments",
            status="10003",
            assignee=BOB.account_id,
            labels=["q3"],
            priority="Highest",
            resolution="Done",
            resolutiondate=datetime(2024, 3, 8, 10, 0, tzinfo=UTC),
            created=datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
            **{TEAM: "Platform", MEASURES: 12},
        ),
        _issue(
            10001,
            "OPS-1",
            summary="Payments rollout for Europe",
            description="Ship the new checkout.",
            status="3",
            assignee=ALICE.account_id,
            labels=["tb-red", "q3"],
            priority="High",
            duedate="2024-03-09",
            created=datetime(2024, 3, 9, 23, 45, tzinfo=UTC),
            updated=datetime(2024, 3, 9, 23, 50, tzinfo=UTC),
            **{TEAM: "Payments", DECISION_OWNER: CAROL.account_id, MEASURES: 4, START_DATE: "2024-03-01"},
        ),
        _issue(
            10002,
            "OPS-2",
            summary="Platform cleanup",
            status="10000",
            assignee=None,
            priority="Low",
            duedate="2024-03-10",
            created=datetime(2024, 3, 10, 0, 10, tzinfo=UTC),
            updated=datetime(2024, 3, 10, 0, 15, tzinfo=UTC),
        ),
        _issue(
            10004,
            "GRO-1",
            summary="Referral payments bonus",
            status="10002",
            assignee=CAROL.account_id,
            labels=["tb-amber", "o'brien"],
            duedate="2024-03-11",
            **{TEAM: "Growth", HEALTH: "Amber"},
        ),
        _issue(
            10005,
            "GRO-2",
            summary="Old idea",
            status="10004",
            assignee=ALICE.account_id,
            priority="Lowest",
            resolution="Won't Do",
            **{LEARNING_NOTE: "We learned that checkout friction matters."},
        ),
    ]
    for issue in issues:
        data.add_issue(issue)
    return data


DATA = _data()
ALL = ["OPS-1", "OPS-2", "OPS-3", "GRO-1", "GRO-2"]  # id order


def _query(jql: str, user: str | None = ALICE.account_id, now: datetime = NOW) -> JqlQuery:
    return compile_jql(jql, DATA, now=now, current_user=user)


def keys(jql: str, user: str | None = ALICE.account_id, now: datetime = NOW) -> list[str]:
    query = _query(jql, user, now)
    return [i.key for i in query.order([i for i in DATA.issues.values() if query.matches(i)])]


def error(jql: str) -> str:
    with pytest.raises(JqlError) as info:
        _query(jql)
    return str(info.value)


# ---- basics


def test_blank_query_matches_everything_in_issue_id_order() -> None:
    assert keys("") == ALL
    assert keys("   \n ") == ALL


def test_order_by_alone_keeps_every_issue() -> None:
    assert keys("ORDER BY key ASC") == ["GRO-1", "GRO-2", "OPS-1", "OPS-2", "OPS-3"]


def test_keywords_and_functions_are_case_insensitive() -> None:
    assert keys("Project = ops and STATUS In (backlog, 'IN PROGRESS') Order By Key Desc") == [
        "OPS-2",
        "OPS-1",
    ]
    assert keys("assignee = CURRENTUSER()") == ["OPS-1", "GRO-2"]


def test_symbolic_boolean_operators() -> None:
    assert keys("project = GRO && assignee = alice || status = Backlog") == ["OPS-2", "GRO-2"]
    assert keys("!(project = GRO)") == ["OPS-1", "OPS-2", "OPS-3"]


# ---- operators


def test_equals_and_not_equals_never_match_empty_fields() -> None:
    assert keys("assignee = alice") == ["OPS-1", "GRO-2"]
    # Jira quirk: != skips issues whose field is empty (OPS-2 is unassigned)
    assert keys("assignee != alice") == ["OPS-3", "GRO-1"]
    assert keys("assignee != alice OR assignee is EMPTY") == ["OPS-2", "OPS-3", "GRO-1"]


def test_not_is_a_plain_complement_unlike_not_equals() -> None:
    assert keys("NOT assignee = alice") == ["OPS-2", "OPS-3", "GRO-1"]


def test_in_and_not_in() -> None:
    assert keys('status in ("In Progress", backlog)') == ["OPS-1", "OPS-2"]
    assert keys('status not in (Done, "won\'t do")') == ["OPS-1", "OPS-2", "GRO-1"]
    assert keys("assignee in (bob, carol@example.com)") == ["OPS-3", "GRO-1"]


def test_labels_membership_and_not_in_skips_unlabelled() -> None:
    assert keys("labels = q3") == ["OPS-1", "OPS-3"]
    assert keys("labels in (tb-red, tb-amber)") == ["OPS-1", "GRO-1"]
    assert keys("labels != q3") == ["GRO-1"]
    assert keys("labels not in (q3)") == ["GRO-1"]
    assert keys("labels is empty") == ["OPS-2", "GRO-2"]


def test_empty_and_null_spellings() -> None:
    assert keys("assignee is EMPTY") == ["OPS-2"]
    assert keys("assignee IS NULL") == ["OPS-2"]
    assert keys("assignee = empty") == ["OPS-2"]
    assert keys("duedate is not null") == ["OPS-1", "OPS-2", "GRO-1"]
    assert keys("duedate != EMPTY") == ["OPS-1", "OPS-2", "GRO-1"]
    assert keys("assignee in (EMPTY, bob)") == ["OPS-2", "OPS-3"]
    assert keys("assignee not in (EMPTY, bob)") == ["OPS-1", "GRO-1", "GRO-2"]


def test_number_comparisons() -> None:
    assert keys('"Scorecard measures" = 4') == ["OPS-1"]
    assert keys('"Scorecard measures" > 4') == ["OPS-3"]
    assert keys('"Scorecard measures" >= 4') == ["OPS-1", "OPS-3"]
    assert keys('"Scorecard measures" < 12') == ["OPS-1"]
    assert keys('"Scorecard measures" <= 12.0') == ["OPS-1", "OPS-3"]
    assert keys('"Scorecard measures" != 4') == ["OPS-3"]


def test_priority_is_ordered_with_highest_greatest() -> None:
    assert keys("priority > Medium") == ["OPS-1", "OPS-3"]
    assert keys("priority <= low") == ["OPS-2", "GRO-2"]
    assert keys("priority = 1") == ["OPS-3"]  # by id


def test_text_search_matches_words_prefixes_and_phrases() -> None:
    assert keys("summary ~ payments") == ["OPS-1", "GRO-1"]
    assert keys("summary ~ 'PAY*'") == ["OPS-1", "GRO-1"]
    assert keys("summary ~ pay") == []  # whole words only
    assert keys('summary ~ "europe payments"') == ["OPS-1"]  # every term, any order
    assert keys('summary ~ "the payments"') == ["OPS-1", "GRO-1"]  # stop words are ignored
    assert keys('summary ~ "\\"rollout payments\\""') == []  # a phrase keeps its order
    assert keys('summary ~ "\\"payments rollout\\""') == ["OPS-1"]
    assert keys("summary !~ payments") == ["OPS-2", "OPS-3", "GRO-2"]


def test_text_searches_summary_description_and_text_custom_fields() -> None:
    assert keys("text ~ checkout") == ["OPS-1", "GRO-2"]
    assert keys("description ~ checkout") == ["OPS-1"]
    assert keys('"Learning note" ~ friction') == ["GRO-2"]


# ---- precedence


def test_and_binds_tighter_than_or() -> None:
    # GRO issues, plus (Backlog and alice) which is nobody; OR-first would give only GRO-2
    assert keys("project = GRO OR status = Backlog AND assignee = alice") == ["GRO-1", "GRO-2"]


def test_not_binds_tighter_than_and() -> None:
    # (NOT Done) AND OPS; NOT over the whole AND would also return GRO-1 and GRO-2
    assert keys("NOT status = Done AND project = OPS") == ["OPS-1", "OPS-2"]


def test_parentheses_override_precedence() -> None:
    assert keys("(project = GRO OR status = Backlog) AND assignee = alice") == ["GRO-2"]
    assert keys("NOT (status = Done AND project = OPS)") == ["OPS-1", "OPS-2", "GRO-1", "GRO-2"]


# ---- fields


def test_custom_fields_by_cf_id_and_by_name() -> None:
    assert keys("cf[10102] = payments") == ["OPS-1"]
    assert keys("Team in (PLATFORM, Growth)") == ["OPS-3", "GRO-1"]
    assert keys('"Decision owner" = carol') == ["OPS-1"]
    assert keys('cf[10101] = "Carol Chen"') == ["OPS-1"]
    assert keys('"Execution health" is empty') == ["OPS-1", "OPS-2", "OPS-3", "GRO-2"]


def test_user_literals_resolve_every_identity_form() -> None:
    for literal in ("acc-alice", "alice", "JIRAUSER1", "ALICE@example.com", '"alice adams"'):
        assert keys(f"assignee = {literal}") == ["OPS-1", "GRO-2"], literal
    assert keys("reporter = bob") == ALL


def test_current_user_is_the_caller_and_nobody_when_anonymous() -> None:
    assert keys("assignee = currentUser()", user=CAROL.account_id) == ["GRO-1"]
    assert keys("assignee = currentUser()", user=None) == []
    assert keys("assignee in (currentUser(), bob)", user=CAROL.account_id) == ["OPS-3", "GRO-1"]


def test_project_by_key_or_name_and_type_aliases() -> None:
    assert keys('project = "growth lab"') == ["GRO-1", "GRO-2"]
    assert keys("project in (ops)") == ["OPS-1", "OPS-2", "OPS-3"]
    assert keys("type = Initiative AND issuetype = 10100") == ALL


def test_status_by_id_and_status_category_by_name_key_or_id() -> None:
    assert keys("status = 10002") == ["GRO-1"]
    assert keys("statusCategory = Done") == ["OPS-3", "GRO-2"]
    assert keys("category in (new)") == ["OPS-2"]
    assert keys('statusCategory = 4 OR statusCategory = "To Do"') == ["OPS-1", "OPS-2", "GRO-1"]
    assert keys("statusCategory != done") == ["OPS-1", "OPS-2", "GRO-1"]


def test_resolution_unresolved_means_empty() -> None:
    assert keys("resolution = Unresolved") == ["OPS-1", "OPS-2", "GRO-1"]
    assert keys("resolution != unresolved") == ["OPS-3", "GRO-2"]
    assert keys('resolution = "won\'t do"') == ["GRO-2"]
    assert keys("resolved is not empty") == ["OPS-3"]


def test_key_clauses_equality_lists_ids_and_ranges() -> None:
    assert keys("key = ops-1") == ["OPS-1"]
    assert keys("issuekey in (OPS-3, GRO-1)") == ["OPS-3", "GRO-1"]
    assert keys("id = 10002") == ["OPS-2"]
    assert keys("key > OPS-1") == ["OPS-2", "OPS-3"]  # same project only
    assert keys("key <= GRO-1") == ["GRO-1"]
    assert keys("key != OPS-1 AND project = OPS") == ["OPS-2", "OPS-3"]


def test_quoted_values_with_escapes() -> None:
    assert keys('labels = "o\'brien"') == ["GRO-1"]
    assert keys("labels = 'o\\'brien'") == ["GRO-1"]


# ---- dates


def test_relative_datetimes_cross_the_day_boundary() -> None:
    # now is 00:30: one hour ago is yesterday 23:30
    assert keys("created > -1h") == ["OPS-1", "OPS-2"]
    assert keys("created >= startOfDay()") == ["OPS-2"]
    assert keys("createdDate < startOfDay()") == ["OPS-1", "OPS-3", "GRO-1", "GRO-2"]
    assert keys("updated > '-60m'") == ["OPS-1", "OPS-2"]


def test_relative_dates_against_date_fields_use_the_start_of_day() -> None:
    # -1h is 2024-03-09 23:30: the 9th started before it, the 10th after it
    assert keys("duedate >= -1h") == ["OPS-2", "GRO-1"]
    assert keys("due <= -1h") == ["OPS-1"]
    assert keys("duedate < -1h") == ["OPS-1"]
    assert keys("duedate = startOfDay(-1d)") == ["OPS-1"]
    assert keys("duedate <= endOfDay()") == ["OPS-1", "OPS-2"]
    assert keys("duedate > '-1d'") == ["OPS-2", "GRO-1"]
    assert keys("duedate > '+1d'") == []  # the 11th starts before 00:30 on the 11th
    assert keys('duedate < "1w 1d"') == ["OPS-1", "OPS-2", "GRO-1"]


def test_absolute_date_formats() -> None:
    assert keys('duedate = "2024-03-10"') == ["OPS-2"]
    assert keys("duedate < 2024/03/10") == ["OPS-1"]
    assert keys('duedate > "2024/03/10 00:00"') == ["GRO-1"]
    assert keys('created >= "2024-03-09 23:45"') == ["OPS-1", "OPS-2"]
    assert keys('created = "2024/03/09 23:45"') == ["OPS-1"]
    assert keys('"Start date" <= 2024-03-01') == ["OPS-1"]


def test_now_moves_relative_dates() -> None:
    later = NOW + timedelta(days=1)
    assert keys("created > -1h", now=later) == []
    assert keys("created > -1d", now=later) == []
    assert keys("created > '-1d 1h'", now=later) == ["OPS-1", "OPS-2"]  # the sign covers both terms


# ---- ORDER BY


def test_order_by_several_keys_with_empties_last_ascending() -> None:
    # Alice (OPS-1, GRO-2) with key DESC inside, then Bob, Carol, unassigned last
    assert keys("ORDER BY assignee ASC, key DESC") == ["OPS-1", "GRO-2", "OPS-3", "GRO-1", "OPS-2"]


def test_order_by_descending_puts_empties_first() -> None:
    assert keys("ORDER BY assignee DESC, key") == ["OPS-2", "GRO-1", "OPS-3", "GRO-2", "OPS-1"]
    assert keys("ORDER BY duedate DESC") == ["OPS-3", "GRO-2", "GRO-1", "OPS-2", "OPS-1"]


def test_order_by_priority_status_and_options() -> None:
    assert keys("ORDER BY priority DESC") == ["OPS-3", "OPS-1", "GRO-1", "OPS-2", "GRO-2"]
    # workflow position: Backlog, In Progress, Rolling Out, Done, Won't Do
    assert keys("ORDER BY status") == ["OPS-2", "OPS-1", "GRO-1", "OPS-3", "GRO-2"]
    assert keys("ORDER BY Team ASC") == ["GRO-1", "OPS-1", "OPS-3", "OPS-2", "GRO-2"]


def test_order_ties_are_broken_by_issue_id() -> None:
    assert keys("project in (OPS, GRO) ORDER BY project") == ["GRO-1", "GRO-2", "OPS-1", "OPS-2", "OPS-3"]
    assert keys("ORDER BY updated DESC") == ["OPS-2", "OPS-1", "OPS-3", "GRO-1", "GRO-2"]


def test_field_ids_lists_the_fields_read() -> None:
    query = _query("project = OPS AND Team = Payments ORDER BY key, updated DESC")
    assert query.field_ids == ["project", TEAM, "issuekey", "updated"]


# ---- errors


def test_unknown_field_is_rejected() -> None:
    assert error("foo = bar") == "Field 'foo' does not exist or you do not have permission to view it."
    assert error("cf[99999] = 1") == ("Field 'cf[99999]' does not exist or you do not have permission to view it.")


def test_unknown_values_are_rejected() -> None:
    assert error("status = Foo") == "The value 'Foo' does not exist for the field 'status'."
    assert error("assignee = nobody") == "The value 'nobody' does not exist for the field 'assignee'."
    assert error("priority = Urgent") == "The value 'Urgent' does not exist for the field 'priority'."
    assert error("key in (OPS-1, OPS-99)") == "An issue with key 'OPS-99' does not exist for field 'key'."


def test_bad_option_is_rejected() -> None:
    assert error("Team = Marketing") == "The option 'Marketing' for field 'Team' does not exist."


def test_bad_date_is_rejected() -> None:
    assert error("duedate > yesterday") == (
        "Date value 'yesterday' for field 'duedate' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
        "or a period format e.g. '-5d', '4w 2d'."
    )


def test_syntax_errors_carry_the_position() -> None:
    assert error("project = OPS foo") == (
        "Error in the JQL Query: Expecting either 'OR', 'AND' or 'ORDER BY' but got 'foo'. (line 1, character 15)"
    )
    assert error("status =") == (
        "Error in the JQL Query: Expecting either a value, list or function before the end of the query. "
        "(line 1, character 9)"
    )
    assert error("status = and") == (
        "Error in the JQL Query: Expecting either a value, list or function but got 'and'. "
        "You must surround 'and' in quotation marks to use it as a value. (line 1, character 10)"
    )
    assert error('summary ~ "open') == (
        "Error in the JQL Query: The quoted string 'open' has not been completed. (line 1, character 11)"
    )
    assert (
        error("(status = Done")
        == "Error in the JQL Query: Expecting ')' before the end of the query. (line 1, character 15)"
    )
    assert error("status\nfoo bar").endswith("(line 2, character 1)")


def test_history_operators_and_foreign_functions_are_unsupported() -> None:
    assert error("status WAS Done") == "Unsupported JQL construct 'WAS' in the trackerbridge sandbox."
    assert error("status changed") == "Unsupported JQL construct 'CHANGED' in the trackerbridge sandbox."
    assert error("assignee in membersOf(devs)") == (
        "Unsupported JQL construct 'membersOf()' in the trackerbridge sandbox."
    )
    assert error('issueFunction in linkedIssuesOf("x")') == (
        "Unsupported JQL construct 'issueFunction' in the trackerbridge sandbox."
    )


def test_operators_a_field_does_not_support_are_rejected() -> None:
    assert error("status ~ done") == "The operator '~' is not supported by the 'status' field."
    assert error("labels > a") == "The operator '>' is not supported by the 'labels' field."
    assert error("summary = x") == "The operator '=' is not supported by the 'summary' field."
    assert error("ORDER BY text") == "Field 'text' does not support sorting."


def test_errors_are_deterministic() -> None:
    assert {error("status = Foo AND Team = Nope") for _ in range(3)} == {
        "The value 'Foo' does not exist for the field 'status'."
    }


# ---- many issues (speed is measured in benchmarks/, not here)


def test_target_query_over_many_issues_matches_a_recount() -> None:
    data = new_jira_data()
    data.projects.update({"OPS": "Operations", "GRO": "Growth"})
    data.users[ALICE.account_id] = ALICE
    statuses = list(data.statuses)
    for n in range(2_000):
        project = "OPS" if n % 2 else "GRO"
        fields = {
            "project": project,
            "status": statuses[n % len(statuses)],
            "assignee": ALICE.account_id if n % 3 else None,
            "updated": NOW - timedelta(minutes=n % 997),
        }
        data.add_issue(Issue(1 + n, f"{project}-{n + 1}", fields))
    jql = 'project = OPS AND status in ("In Progress", Backlog) AND assignee is not EMPTY ORDER BY updated DESC'
    query = compile_jql(jql, data, now=NOW, current_user=None)
    found = query.order([i for i in data.issues.values() if query.matches(i)])
    assert len(found) == sum(
        1
        for i in data.issues.values()
        if i.fields["project"] == "OPS" and i.fields["status"] in ("3", "10000") and i.fields["assignee"]
    )
    assert [i.fields["updated"] for i in found] == sorted((i.fields["updated"] for i in found), reverse=True)
