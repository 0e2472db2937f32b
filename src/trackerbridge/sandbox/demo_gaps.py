"""The conventions the demo organisation plants gaps against, and `count_gaps`: every gap as it stands in
the data (the summary counts the freshly built demo with it, so its numbers are what was planted).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from operator import itemgetter

from trackerbridge.sandbox.jira_model import Issue, JiraData
from trackerbridge.sandbox.salesforce_model import SalesforceData

# Convention parameters the demo plants gaps against (rules should default to the same values).
OWNER_CAPACITY = 5  # active initiatives (issuetype Initiative) one owner may carry
TEAM_CAPACITY_PER_MEMBER = 5  # a team may carry this many active initiatives per member
DECIDE_LIMIT_DAYS = 7  # longer in Backlog/Under Review needs a decision owner
IDLE_HANDOFF_DAYS = 14  # closed won -> delivery epic created
MAX_SCORECARD_MEASURES = 10
SYNC_WINDOW_DAYS = 1  # drifted pairs were last touched longer ago than this
APPROVAL_LABEL = "approved-change"
MAJOR_PRIORITIES = ("Highest", "High")
WAIVER_LABELS = ("tb-waive-TB103", "tb-waive-TB105")


OPS, DEL = "OPS", "DEL"
BACKLOG, REVIEW, PROGRESS, ROLLOUT, DONE, WONT = (
    "Backlog",
    "Under Review",
    "In Progress",
    "Rolling Out",
    "Done",
    "Won't Do",
)
STAGE_OF_STATUS = {
    BACKLOG: "decide",
    REVIEW: "decide",
    PROGRESS: "build",
    ROLLOUT: "launch",
    DONE: "done",
    WONT: "cancelled",
}
ACTIVE_STAGES = frozenset({"decide", "build", "launch"})
DELIVERY_STATUS_OF_STATUS = {
    BACKLOG: "Decide",
    REVIEW: "Decide",
    PROGRESS: "Build",
    ROLLOUT: "Launch",
    DONE: "Done",
    WONT: "Cancelled",
}
LANE_OF_STAGE = {"decide": "Decide", "build": "Build", "launch": "Launch", "done": "Launch"}

GAP_DESCRIPTIONS: dict[str, str] = {
    "no_owner": "active issues without an owner (assignee)",
    "no_end_date": "active issues without an end date (due date)",
    "no_integrator_major": "active major (High/Highest) issues without an integrator",
    "stuck_in_decide": f"issues in decide over {DECIDE_LIMIT_DAYS} days without a decision owner",
    "overdue": "active issues past their due date",
    "sunset_without_learning_note": "cancelled (Won't Do) issues without a learning note",
    "overloaded_owner": f"owners carrying more than {OWNER_CAPACITY} active initiatives",
    "team_over_capacity": "teams carrying more active initiatives than their capacity",
    "idle_handoff": f"closed-won opportunities idle over {IDLE_HANDOFF_DAYS} days before their epic",
    "handoff_without_owner": "closed-won opportunities without a delivery owner",
    "commitment_changed_without_approval": f"commitments whose due date moved without '{APPROVAL_LABEL}'",
    "scorecard_over_ten": f"issues with more than {MAX_SCORECARD_MEASURES} scorecard measures",
    "sync_drift": "delivery epics whose synced fields disagree with their opportunity",
    "deal_red_via_epic": "closed-won opportunities red through their major delivery epic (health roll-up)",
    "slip_without_reason": "active issues whose due date moved later without a slip reason",
}


def count_gaps(jira: JiraData, sf: SalesforceData, anchor: datetime, team_capacity: dict[str, int]) -> dict[str, int]:
    """Count every convention gap as it stands in the data, with the module's parameters.

    The summary uses this on the freshly built demo, so its numbers are exactly what was planted.
    """
    cf = {f.name: f.id for f in jira.fields.values() if f.custom}
    stage_of = {s.id: STAGE_OF_STATUS.get(s.name, "") for s in jira.statuses.values()}
    delivery_of = {s.id: DELIVERY_STATUS_OF_STATUS.get(s.name) for s in jira.statuses.values()}
    today = anchor.date().isoformat()
    limit = anchor - timedelta(days=DECIDE_LIMIT_DAYS)
    gaps = dict.fromkeys(GAP_DESCRIPTIONS, 0)
    owner_load: Counter[str] = Counter()
    team_load: Counter[str] = Counter()
    red: set[str] = set()  # issues with an error-severity gap: red under the demo's health policy
    status_fields = ("status",)
    for issue in jira.issues.values():
        f = issue.fields
        stage = stage_of[f["status"]]
        if stage in ACTIVE_STAGES:
            gaps["no_owner"] += f["assignee"] is None
            gaps["no_end_date"] += f["duedate"] is None
            gaps["overdue"] += f["duedate"] is not None and f["duedate"] < today
            gaps["no_integrator_major"] += f["priority"] in MAJOR_PRIORITIES and f[cf["Integrator"]] is None
            if f["issuetype"] == "Initiative":
                if f["assignee"] is not None:
                    owner_load[f["assignee"]] += 1
                team_load[f[cf["Team"]]] += 1
        if stage == "decide" and f[cf["Decision owner"]] is None:
            entered = f["created"]
            for h in issue.changelog:
                if any(item["field"] in status_fields for item in h.items):
                    entered = h.created
            gaps["stuck_in_decide"] += entered < limit
        if stage == "cancelled":
            gaps["sunset_without_learning_note"] += not f[cf["Learning note"]]
        if f[cf["Commitment"]] == "Yes" and APPROVAL_LABEL not in f["labels"]:
            gaps["commitment_changed_without_approval"] += any(
                item["field"] == "duedate" for h in issue.changelog for item in h.items
            )
        if stage in ACTIVE_STAGES:
            gaps["slip_without_reason"] += _slipped_without_reason(issue, f[cf["Slip reason"]])
        if _red_by_convention(issue, stage, cf, limit):
            red.add(issue.key)
        score = f[cf["Scorecard measures"]]
        gaps["scorecard_over_ten"] += score is not None and score > MAX_SCORECARD_MEASURES
    gaps["overloaded_owner"] = sum(1 for n in owner_load.values() if n > OWNER_CAPACITY)
    gaps["team_over_capacity"] = sum(1 for t, n in team_load.items() if n > team_capacity.get(t, n))

    sf_of_jira = _salesforce_user_ids(jira, sf)
    for opp in sf.records["Opportunity"].values():
        if not opp["IsWon"]:
            continue
        gaps["handoff_without_owner"] += opp["Delivery_Owner__c"] is None
        epic = jira.issues.get(opp["Jira_Epic_Key__c"] or "")
        if epic is None:
            gaps["idle_handoff"] += (anchor.date() - opp["CloseDate"]).days > IDLE_HANDOFF_DAYS
            continue
        f = epic.fields
        gaps["deal_red_via_epic"] += epic.key in red and f["priority"] in MAJOR_PRIORITIES
        gaps["idle_handoff"] += (f["created"].date() - opp["CloseDate"]).days > IDLE_HANDOFF_DAYS
        gaps["sync_drift"] += (
            opp["Delivery_Status__c"] != delivery_of[f["status"]]
            or opp["Delivery_Owner__c"] != sf_of_jira.get(f["assignee"])
            or opp["Integrator__c"] != sf_of_jira.get(f[cf["Integrator"]])
        )
    return gaps


def _red_by_convention(issue: Issue, stage: str, cf: dict[str, str], limit: datetime) -> bool:
    """Red under the shipped `trackerbridge.yaml` (red: [error]): a gap whose rule is an error (no owner, no end
    date, a major one without an integrator unless waived, stuck in decide, a commitment moved without approval).
    A closed-won deal whose major delivery epic is red rolls up to red (`health.rollup`)."""
    f = issue.fields
    if stage in ACTIVE_STAGES and (
        f["assignee"] is None
        or f["duedate"] is None
        or (f["priority"] in MAJOR_PRIORITIES and f[cf["Integrator"]] is None and WAIVER_LABELS[0] not in f["labels"])
    ):
        return True
    if stage == "decide" and f[cf["Decision owner"]] is None:
        entered = f["created"]
        for h in issue.changelog:
            if any(item["field"] == "status" for item in h.items):
                entered = h.created
        if entered < limit:
            return True
    return (
        f[cf["Commitment"]] == "Yes"
        and APPROVAL_LABEL not in f["labels"]
        and any(item["field"] == "duedate" for h in issue.changelog for item in h.items)
    )


def _slipped_without_reason(issue: Issue, current_reason: str | None) -> bool:
    """TB117's definition (defaults: a reason within 24 hours before the latest move or after it), counted
    from the raw changelog: due dates are YYYY-MM-DD strings, so they compare as text."""
    moves = [
        h.created
        for h in issue.changelog
        for item in h.items
        if item["field"] == "duedate" and item["from"] and item["to"] and item["to"] > item["from"]
    ]
    if not moves or issue.fields["duedate"] is None:
        return False
    first = next(
        item["from"] or item["to"]
        for h in sorted(issue.changelog, key=lambda h: h.created)
        for item in h.items
        if item["field"] == "duedate"
    )
    if issue.fields["duedate"] <= first:
        return False
    reasons = sorted(
        ((h.created, item["toString"]) for h in issue.changelog for item in h.items if item["field"] == "Slip reason"),
        key=itemgetter(0),
    )
    if not reasons:
        return not (current_reason or "").strip()
    given = [text for at, text in reasons if at >= max(moves) - timedelta(hours=24)]
    return not (given and (given[-1] or "").strip())


def _salesforce_user_ids(jira: JiraData, sf: SalesforceData) -> dict[str | None, str | None]:
    """Jira account id -> Salesforce User Id, matched by e-mail (how the mapping resolves people)."""
    by_email = {u["Email"].casefold(): uid for uid, u in sf.records["User"].items()}
    return {u.account_id: by_email.get(u.email.casefold()) for u in jira.users.values()}
