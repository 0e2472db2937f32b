"""The demo generator: deterministic, internally consistent, and planting every convention gap.

The gap recounts here are written from the data alone (not through `demo.count_gaps`), so a
generator that plants one thing and reports another fails.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from trackerbridge.sandbox.demo import (
    APPROVAL_LABEL,
    DECIDE_LIMIT_DAYS,
    DEFAULT_SEED,
    DEFAULT_SIZE,
    IDLE_HANDOFF_DAYS,
    MAX_SCORECARD_MEASURES,
    OWNER_CAPACITY,
    Demo,
    build_demo,
)
from trackerbridge.sandbox.jira_model import Issue, JiraData
from trackerbridge.sandbox.salesforce_model import new_salesforce_data

ANCHOR = datetime(2025, 6, 2, 9, 30, tzinfo=timezone.utc)
ACTIVE = {"Backlog", "Under Review", "In Progress", "Rolling Out"}
DECIDE = {"Backlog", "Under Review"}
DELIVERY_STATUS = {
    "Backlog": "Decide",
    "Under Review": "Decide",
    "In Progress": "Build",
    "Rolling Out": "Launch",
    "Done": "Done",
    "Won't Do": "Cancelled",
}


@functools.cache
def _demo(seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE) -> Demo:
    """Shared, read-only demos keep the module fast; tests must not mutate them."""
    return build_demo(seed=seed, size=size, anchor=ANCHOR)


def _digest(demo: Demo) -> str:
    """A stable fingerprint of everything generated (reprs hold no addresses or hash order)."""
    h = hashlib.sha256()
    for user in demo.jira.users.values():
        h.update(repr(user).encode())
    for issue in demo.jira.issues.values():
        h.update(repr((issue.id, issue.key, issue.fields, issue.changelog, issue.comments)).encode())
    h.update(repr(demo.jira.links).encode())
    for sobject, rows in demo.salesforce.records.items():
        for rid, rec in rows.items():
            h.update(repr((sobject, rid, rec)).encode())
    return h.hexdigest()


def _cf(jira: JiraData) -> dict[str, str]:
    return {f.name: f.id for f in jira.fields.values() if f.custom}


def _status(jira: JiraData, issue: Issue) -> str:
    return jira.statuses[issue.fields["status"]].name


def _status_changes(issue: Issue) -> list[tuple[datetime, dict[str, Any]]]:
    return [(h.created, it) for h in issue.changelog for it in h.items if it["field"] == "status"]


def _slip_unexplained(issue: Issue, due: date) -> bool:
    """The due date is later than the first one in the changelog, and the last move later has no
    "Slip reason" given within a day before it or after it."""
    dated = sorted((h.created, it) for h in issue.changelog for it in h.items if it["field"] == "duedate")
    if not dated or due <= date.fromisoformat(dated[0][1]["from"]):
        return False
    last = max(at for at, it in dated if date.fromisoformat(it["to"]) > date.fromisoformat(it["from"]))
    reasons = sorted(
        (h.created, it["toString"]) for h in issue.changelog for it in h.items if it["field"] == "Slip reason"
    )
    return not any(at >= last - timedelta(days=1) and text for at, text in reasons[-1:])


def _recount(demo: Demo) -> dict[str, int]:
    """Every gap, recounted from the records with the conventions' plain reading."""
    jira, sf, cf = demo.jira, demo.salesforce, _cf(demo.jira)
    today = ANCHOR.date()
    gaps: Counter[str] = Counter()
    owner_load: Counter[str] = Counter()
    team_load: Counter[str] = Counter()
    errors: set[str] = set()  # issues with a gap whose rule is an error: red under the shipped health policy
    for issue in jira.issues.values():
        f, status = issue.fields, _status(jira, issue)
        due = date.fromisoformat(f["duedate"]) if f["duedate"] else None
        major = f["priority"] in ("High", "Highest")
        if status in ACTIVE and (
            not f["assignee"]
            or due is None
            or (major and not f[cf["Integrator"]] and "tb-waive-TB103" not in f["labels"])
        ):
            errors.add(issue.key)
        if status in ACTIVE:
            gaps["no_owner"] += f["assignee"] is None
            gaps["no_end_date"] += due is None
            gaps["overdue"] += due is not None and due < today
            gaps["no_integrator_major"] += f["priority"] in ("High", "Highest") and not f[cf["Integrator"]]
            if f["issuetype"] == "Initiative":
                team_load[f[cf["Team"]]] += 1
                if f["assignee"]:
                    owner_load[f["assignee"]] += 1
        if status in DECIDE and not f[cf["Decision owner"]]:
            changes = _status_changes(issue)
            since = changes[-1][0] if changes else f["created"]
            gaps["stuck_in_decide"] += ANCHOR - since > timedelta(days=DECIDE_LIMIT_DAYS)
            if ANCHOR - since > timedelta(days=DECIDE_LIMIT_DAYS):
                errors.add(issue.key)
        if status == "Won't Do":
            gaps["sunset_without_learning_note"] += not f[cf["Learning note"]]
        moved = any(it["field"] == "duedate" for h in issue.changelog for it in h.items)
        if f[cf["Commitment"]] == "Yes" and moved and APPROVAL_LABEL not in f["labels"]:
            gaps["commitment_changed_without_approval"] += 1
            errors.add(issue.key)
        score = f[cf["Scorecard measures"]]
        gaps["scorecard_over_ten"] += bool(score and score > MAX_SCORECARD_MEASURES)
        if status in ACTIVE and due is not None:
            gaps["slip_without_reason"] += _slip_unexplained(issue, due)
    gaps["overloaded_owner"] = sum(n > OWNER_CAPACITY for n in owner_load.values())
    gaps["team_over_capacity"] = sum(n > demo.summary.team_capacity[t] for t, n in team_load.items())

    sf_user = {u["Email"]: uid for uid, u in sf.records["User"].items()}
    to_sf = {u.account_id: sf_user[u.email] for u in jira.users.values()}
    for opp in sf.records["Opportunity"].values():
        if opp["StageName"] != "Closed Won":
            continue
        gaps["handoff_without_owner"] += not opp["Delivery_Owner__c"]
        key = opp["Jira_Epic_Key__c"]
        if not key:
            gaps["idle_handoff"] += (today - opp["CloseDate"]).days > IDLE_HANDOFF_DAYS
            continue
        epic = jira.issues[key].fields
        gaps["deal_red_via_epic"] += key in errors and epic["priority"] in ("High", "Highest")
        gaps["idle_handoff"] += (epic["created"].date() - opp["CloseDate"]).days > IDLE_HANDOFF_DAYS
        gaps["sync_drift"] += (
            opp["Delivery_Status__c"] != DELIVERY_STATUS[jira.statuses[epic["status"]].name]
            or opp["Delivery_Owner__c"] != to_sf.get(epic["assignee"])
            or opp["Integrator__c"] != to_sf.get(epic[cf["Integrator"]])
        )
    return dict(gaps)


def test_same_inputs_give_identical_data() -> None:
    first = build_demo(seed=3, size=DEFAULT_SIZE, anchor=ANCHOR)
    second = build_demo(seed=3, size=DEFAULT_SIZE, anchor=ANCHOR)
    assert _digest(first) == _digest(second)
    assert first.summary == second.summary


def test_other_seed_or_anchor_gives_other_data() -> None:
    later = build_demo(size=DEFAULT_SIZE, anchor=ANCHOR + timedelta(days=30))
    assert _digest(_demo(seed=8)) != _digest(_demo())
    assert _digest(later) != _digest(_demo())
    # same seed, later anchor: the same organisation, shifted by the 30 days
    assert later.jira.issues["OPS-1"].fields["created"] == _demo().jira.issues["OPS-1"].fields["created"] + (
        timedelta(days=30)
    )


def test_nothing_happens_after_the_anchor() -> None:
    demo = _demo()
    for issue in demo.jira.issues.values():
        times = [issue.fields["created"], issue.fields["updated"]]
        times += [h.created for h in issue.changelog] + [c.created for c in issue.comments]
        assert all(t.tzinfo is not None and t <= ANCHOR for t in times), issue.key
    for rows in demo.salesforce.records.values():
        for rec in rows.values():
            assert rec["CreatedDate"] <= rec["LastModifiedDate"] <= ANCHOR
            assert rec["SystemModstamp"] == rec["LastModifiedDate"]
            assert rec["CreatedDate"].microsecond % 1000 == 0  # Salesforce keeps milliseconds


def test_default_size_counts() -> None:
    demo = _demo()
    s, jira, sf = demo.summary, demo.jira, demo.salesforce
    projects = Counter(i.project for i in jira.issues.values())
    won = [o for o in sf.records["Opportunity"].values() if o["IsWon"]]
    assert (s.people, s.teams, s.initiatives, s.epics) == (40, 6, 240, 160)
    assert projects == {"OPS": 240, "DEL": 160}
    assert len(jira.users) == 41 and len(sf.records["User"]) == 41  # people + the bot
    assert {u["Department"] for u in sf.records["User"].values()} - {None} == {
        "Payments",
        "Platform",
        "Growth",
        "Data",
        "Mobile",
        "Partnerships",
    }
    assert s.opportunities == len(sf.records["Opportunity"]) == 250
    assert s.accounts == len(sf.records["Account"]) == 50
    assert s.closed_won == len(won) and 80 <= s.closed_won <= 95
    assert s.linked_handoffs == sum(1 for o in won if o["Jira_Epic_Key__c"])
    assert 0.7 * s.closed_won <= s.linked_handoffs < s.closed_won
    assert s.delivers_links == len(jira.links) > 0
    statuses = Counter(_status(jira, i) for i in jira.issues.values())
    assert statuses["Backlog"] + statuses["Under Review"] == 100  # 25% decide
    assert (statuses["In Progress"], statuses["Rolling Out"]) == (140, 60)
    assert (statuses["Done"], statuses["Won't Do"]) == (60, 40)
    lines = s.lines()
    assert "40 people in 6 teams" in lines[0] and "2025-06-02" in lines[0]
    assert len(lines) == 4 + len(s.gaps) and lines[-1].strip().startswith(str(s.gaps["slip_without_reason"]))


def test_every_gap_is_planted_and_counted_exactly() -> None:
    demo = _demo()
    recount = _recount(demo)
    assert set(demo.summary.gaps) == set(recount)
    for name, count in demo.summary.gaps.items():
        assert count > 0, name
        assert recount[name] == count, name


def test_gap_shares_are_realistic() -> None:
    demo = _demo()
    gaps, jira = demo.summary.gaps, demo.jira
    active = sum(_status(jira, i) in ACTIVE for i in jira.issues.values())
    cancelled = sum(_status(jira, i) == "Won't Do" for i in jira.issues.values())
    assert 0.07 <= gaps["no_owner"] / active <= 0.13
    assert 0.09 <= gaps["no_end_date"] / active <= 0.15
    assert 0.07 <= gaps["overdue"] / active <= 0.13
    assert 0.05 <= gaps["stuck_in_decide"] / active <= 0.11
    assert gaps["sunset_without_learning_note"] == cancelled // 2
    assert gaps["overloaded_owner"] == 3
    assert gaps["team_over_capacity"] == 2
    assert gaps["scorecard_over_ten"] == 2


def test_planted_gaps_are_clear_of_the_thresholds() -> None:
    """Rules may compare with >= or >, by date or datetime, in another time zone: a planted gap must
    read the same under all of those, so nothing sits within a day of a threshold."""
    demo = _demo()
    jira, opps, cf = demo.jira, demo.salesforce.records["Opportunity"], _cf(demo.jira)
    today = ANCHOR.date()
    for issue in jira.issues.values():
        f, status = issue.fields, _status(jira, issue)
        if status in DECIDE and not f[cf["Decision owner"]]:
            changes = _status_changes(issue)
            in_stage = ANCHOR - (changes[-1][0] if changes else f["created"])
            since_created = ANCHOR - f["created"]
            limit = timedelta(days=DECIDE_LIMIT_DAYS)
            assert in_stage < limit - timedelta(days=1) or in_stage > limit + timedelta(days=1), issue.key
            assert (in_stage > limit) == (since_created > limit), issue.key
        if status in ACTIVE and f["duedate"]:
            days = (date.fromisoformat(f["duedate"]) - today).days
            assert days <= -2 or days >= 2, issue.key
    for opp in opps.values():
        if opp["IsWon"]:
            epic = jira.issues.get(opp["Jira_Epic_Key__c"] or "")
            end = epic.fields["created"].date() if epic else today
            gap = (end - opp["CloseDate"]).days
            assert gap <= IDLE_HANDOFF_DAYS - 3 or gap >= IDLE_HANDOFF_DAYS + 3, opp["Id"]


def test_changelog_walks_from_creation_to_the_current_status() -> None:
    demo = _demo()
    for issue in demo.jira.issues.values():
        f = issue.fields
        times = [h.created for h in issue.changelog]
        assert issue.changelog, issue.key
        assert times == sorted(times) and f["created"] <= times[0], issue.key
        ids = [h.id for h in issue.changelog]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        changes = _status_changes(issue)
        walked = "10000"  # every issue starts in Backlog
        for _, item in changes:
            assert item["from"] == walked, issue.key
            walked = item["to"]
        assert walked == f["status"], issue.key
        latest = max([f["created"], *times, *(c.created for c in issue.comments)])
        assert f["updated"] == latest, issue.key
        if f["resolution"] is not None:
            assert f["resolutiondate"] == changes[-1][0]
            assert f["resolution"] == _status(demo.jira, issue)
        else:
            assert f["resolutiondate"] is None and _status(demo.jira, issue) in ACTIVE


def test_every_user_reference_resolves() -> None:
    demo = _demo()
    jira, sf, cf = demo.jira, demo.salesforce, _cf(demo.jira)
    user_fields = ["assignee", "reporter", cf["Integrator"], cf["Decision owner"], cf["Account owner"]]
    for issue in jira.issues.values():
        refs = [issue.fields[f] for f in user_fields]
        refs += [h.author for h in issue.changelog] + [c.author for c in issue.comments]
        refs += [it[k] for h in issue.changelog for it in h.items if it["field"] == "assignee" for k in ("from", "to")]
        assert all(r is None or r in jira.users for r in refs), issue.key
        assert issue.fields["reporter"] is not None
    users = sf.records["User"]
    accounts = sf.records["Account"]
    for sobject in ("Account", "Opportunity"):
        for rec in sf.records[sobject].values():
            for name in ("OwnerId", "CreatedById", "LastModifiedById", "Delivery_Owner__c", "Integrator__c"):
                assert rec.get(name) is None or rec[name] in users, (sobject, name)
            assert sobject == "Account" or rec["AccountId"] in accounts
    assert {u.email for u in jira.users.values()} == {u["Email"] for u in users.values()}
    for u in users.values():
        assert u["Username"] == u["Email"] + ".demo" and u["Email"].isascii()


def test_salesforce_ids_are_18_chars_unique_and_typed() -> None:
    sf = _demo().salesforce
    seen: set[str] = set()
    for sobject, rows in sf.records.items():
        prefix = sf.types[sobject].key_prefix
        for rid, rec in rows.items():
            assert rid == rec["Id"] and len(rid) == 18 and rid.startswith(prefix)
            assert sf.get(rid[:15]) == (sf.types[sobject], rec)  # the case-safe suffix is right
            seen.add(rid)
    assert len(seen) == sum(len(rows) for rows in sf.records.values())


def test_opportunity_fields_are_consistent() -> None:
    sf = _demo().salesforce
    fields = set(sf.types["Opportunity"].fields)
    stages = Counter()
    for opp in sf.records["Opportunity"].values():
        assert set(opp) == fields
        assert opp["IsClosed"] == opp["StageName"].startswith("Closed")
        assert opp["IsWon"] == (opp["StageName"] == "Closed Won")
        assert isinstance(opp["CloseDate"], date) and opp["Amount"] > 0
        assert (opp["Probability"] == 100) == opp["IsWon"]
        stages[opp["StageName"]] += 1
    assert len(stages) == 7


def test_handoffs_link_both_ways() -> None:
    demo = _demo()
    jira, opps, cf = demo.jira, demo.salesforce.records["Opportunity"], _cf(demo.jira)
    linked = {o["Jira_Epic_Key__c"]: o for o in opps.values() if o["Jira_Epic_Key__c"]}
    assert len(linked) == demo.summary.linked_handoffs  # one epic per opportunity
    for key, opp in linked.items():
        epic = jira.issues[key]
        assert epic.fields["issuetype"] == "Epic" and epic.project == "DEL"
        assert epic.fields[cf["Salesforce opportunity id"]] == opp["Id"] and opp["IsWon"]
        assert epic.fields["created"].date() > opp["CloseDate"]
    back = {i.key: i.fields[cf["Salesforce opportunity id"]] for i in jira.issues.values()}
    for key, opp_id in back.items():
        assert opp_id is None or opps[opp_id]["Jira_Epic_Key__c"] == key
    for link in jira.links:
        assert link.type == "Delivers"
        assert jira.issues[link.inward].project == "DEL" and jira.issues[link.outward].project == "OPS"


def test_people_are_diverse_and_the_bot_exists_in_both_systems() -> None:
    demo = _demo()
    names = {u.display_name for u in demo.jira.users.values()}
    assert {"Zoë Müller", "José Álvarez", "Ngozi Okonkwo", "ليلى حداد"} <= names
    assert all(u.email.isascii() and u.name.isascii() for u in demo.jira.users.values())
    assert len({u.name for u in demo.jira.users.values()}) == len(demo.jira.users)
    assert len({u.time_zone for u in demo.jira.users.values()}) >= 15
    bot = demo.jira.users[demo.summary.bot_account_id]
    sf_bot = demo.salesforce.records["User"][demo.summary.bot_user_id]
    assert bot.email == sf_bot["Email"] == "trackerbridge-bot@example.com"
    assert sf_bot["Department"] is None
    assert all(i.fields["assignee"] != bot.account_id for i in demo.jira.issues.values())


def test_tricky_summaries_and_waivers_are_present() -> None:
    demo = _demo()
    summaries = [i.fields["summary"] for i in demo.jira.issues.values()]
    assert any("<script>" in s and "&" in s and '"' in s for s in summaries)
    assert 240 <= max(map(len, summaries)) <= 255
    waived = [i for i in demo.jira.issues.values() if any(lb.startswith("tb-waive-") for lb in i.fields["labels"])]
    assert len(waived) == demo.summary.waiver_labels >= 2


def test_size_scales_counts_proportionally() -> None:
    small, big = _demo().summary, _demo(size=2000).summary
    assert (big.people, big.initiatives + big.epics, big.opportunities) == (200, 2000, 1250)
    assert big.teams == 6
    for name, count in small.gaps.items():
        if count >= 10:
            assert 3.5 <= big.gaps[name] / count <= 6.5, name
    assert _recount(_demo(size=2000)) == big.gaps


def test_small_demos_still_plant_every_gap() -> None:
    """Integration tests use small organisations; they should still see every kind of gap."""
    demo = build_demo(size=50, anchor=ANCHOR)
    assert len(demo.jira.issues) == 50 and demo.summary.people == 12
    assert all(n > 0 for n in demo.summary.gaps.values()), demo.summary.gaps
    assert _recount(demo) == demo.summary.gaps


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        build_demo(anchor=datetime(2025, 6, 2))  # naive on purpose
    with pytest.raises(ValueError, match="size"):
        build_demo(size=0, anchor=ANCHOR)


def test_salesforce_ids_stay_unique_past_five_digit_serials() -> None:
    data = new_salesforce_data()
    opportunity = data.types["Opportunity"]
    data.next_serial = 99_990
    ids = [data.new_id(opportunity) for _ in range(40)]
    assert len(set(ids)) == 40
    assert all(len(i) == 18 and i.startswith("006") for i in ids)
