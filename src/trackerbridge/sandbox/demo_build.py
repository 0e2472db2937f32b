"""Building the demo's model objects from the plans: the Jira issues, the opportunities (with planted
drift) and the 'Delivers' links.
"""

from __future__ import annotations

from typing import Any

from trackerbridge.sandbox.demo_gaps import (
    DEL,
    DELIVERY_STATUS_OF_STATUS,
    LANE_OF_STAGE,
    OPS,
    PROGRESS,
    STAGE_OF_STATUS,
    SYNC_WINDOW_DAYS,
)
from trackerbridge.sandbox.demo_people import DAY_MS, HOUR_MS, _quota
from trackerbridge.sandbox.demo_plan import _Plan, _Planner
from trackerbridge.sandbox.demo_words import _DEAL_KINDS, _DESCRIPTIONS, _PRODUCTS
from trackerbridge.sandbox.jira_model import Issue


class _Builder(_Planner):
    # jira objects -----------------------------------------------------------------------------------

    def build_issues(self, plans: list[_Plan]) -> None:
        """Keys and ids follow creation time, as in a real instance."""
        jira, cf, day_str, pick = self.jira, self.cf, self.day_str, self.pick
        c_integrator, c_decision, c_team, c_lane = (
            cf["Integrator"],
            cf["Decision owner"],
            cf["Team"],
            cf["Lane"],
        )
        c_learning, c_health, c_reasons, c_opp = (
            cf["Learning note"],
            cf["Execution health"],
            cf["Health reasons"],
            cf["Salesforce opportunity id"],
        )
        c_start, c_acct_owner, c_commit, c_score = (
            cf["Start date"],
            cf["Account owner"],
            cf["Commitment"],
            cf["Scorecard measures"],
        )
        c_slip = cf["Slip reason"]
        status_id = self.status_id
        plans.sort(key=lambda p: p.created, reverse=True)
        numbers = {OPS: 0, DEL: 0}
        history_id, comment_id = jira.next_history_id, jira.next_comment_id
        issue_id = jira.next_issue_id
        for p in plans:
            numbers[p.project] += 1
            p.key = key = f"{p.project}-{numbers[p.project]}"
            status = p.status
            stage = STAGE_OF_STATUS[status]
            for h in p.changelog:
                h.id = history_id
                history_id += 1
            for c in p.comments:
                c.id = comment_id
                comment_id += 1
            resolved = stage in ("done", "cancelled")
            start = None
            for when, _, new in p.transitions:
                if new == PROGRESS:
                    start = day_str(self.day_of(when))
            if start is None and stage == "decide" and self.rnd() < 0.3:
                start = day_str(self.between(3, 60))
            if stage == "cancelled":
                lane = "Build" if any(new == PROGRESS for _, _, new in p.transitions) else "Decide"
            else:
                lane = LANE_OF_STAGE[stage]
            fields: dict[str, Any] = {
                "summary": p.summary,
                "description": pick(_DESCRIPTIONS),
                "project": p.project,
                "issuetype": "Initiative" if p.project == OPS else "Epic",
                "status": status_id[status],
                "priority": p.priority,
                "resolution": status if resolved else None,
                "assignee": p.assignee.account_id if p.assignee else None,
                "reporter": p.reporter.account_id if p.reporter else None,
                "labels": p.labels,
                "duedate": day_str(p.due) if p.due is not None else None,
                "created": p.created_at,
                "updated": p.updated_at,
                "resolutiondate": p.resolved_at if resolved else None,
                c_integrator: p.integrator.account_id if p.integrator else None,
                c_decision: p.decision.account_id if p.decision else None,
                c_team: p.team,
                c_lane: lane,
                c_learning: p.learning,
                c_health: None,
                c_reasons: None,
                c_opp: None,  # set when the opportunity exists
                c_start: start,
                c_acct_owner: p.handoff.owner.account_id if p.handoff else None,
                c_commit: p.commitment,
                c_score: p.scorecard,
                c_slip: p.slip_reason,
            }
            issue = jira.add_issue(Issue(issue_id, key, fields, p.changelog, p.comments))
            fields["statuscategorychangedate"] = jira.status_category_changed(issue)
            issue_id += 1
        jira.next_history_id, jira.next_comment_id = history_id, comment_id
        for project in (OPS, DEL):
            jira.projects[project] = "Operations" if project == OPS else "Delivery"

    # opportunities ----------------------------------------------------------------------------------

    def make_opportunities(self, plans: list[_Plan]) -> None:
        """Opportunities in a realistic stage mix; closed-won ones hand off to the planned epics."""
        sf, rng, rnd, between, pick = self.sf, self.rng, self.rnd, self.between, self.pick
        opp_t = sf.types["Opportunity"]
        records = sf.records["Opportunity"]
        dt, lognormal, bot = self.dt, rng.lognormvariate, self.bot_sf_id
        c_opp = self.cf["Salesforce opportunity id"]
        n_won = self.n_won
        stage_shares = [
            ("Prospecting", 0.12),
            ("Qualification", 0.12),
            ("Needs Analysis", 0.1),
            ("Proposal/Price Quote", 0.08),
            ("Negotiation/Review", 0.08),
            ("Closed Lost", 0.15),
        ]
        total = sum(w for _, w in stage_shares)
        stages = ["Closed Won"] * n_won + _quota(self.n_opp - n_won, [(s, w / total) for s, w in stage_shares])
        rng.shuffle(stages)
        probability = {
            "Prospecting": 10.0,
            "Qualification": 20.0,
            "Needs Analysis": 40.0,
            "Proposal/Price Quote": 60.0,
            "Negotiation/Review": 80.0,
            "Closed Won": 100.0,
            "Closed Lost": 0.0,
        }
        handoffs = [p for p in plans if p.handoff is not None]
        rng.shuffle(handoffs)
        n_unlinked = n_won - len(handoffs)
        no_owner_unlinked = max(1, round(n_unlinked * 0.25)) if n_unlinked else 0
        drift_candidates = [p for p in handoffs if p.updated > SYNC_WINDOW_DAYS * DAY_MS and p.assignee is not None]
        n_drift = min(len(drift_candidates), max(2, round(len(handoffs) * 0.06)))
        drift = set(map(id, self.sample(drift_candidates, n_drift)))
        won_index = -1
        for stage in stages:
            rid = sf.new_id(opp_t)
            won = stage == "Closed Won"
            won_index += won
            plan = handoffs[won_index] if won and won_index < len(handoffs) else None
            h = plan.handoff if plan is not None else None
            if plan is not None and h is not None:
                account_id, account_name, _ = self.accounts[h.account]
                owner = h.owner
                product = h.product
                close_day = self.day_of(plan.created) - h.gap_days
            else:
                account_id, account_name, acct_owner = self.accounts[int(rnd() * len(self.accounts))]
                owner = acct_owner if rnd() < 0.7 else pick(self.sales)
                product = pick(_PRODUCTS)
                if won:
                    idle = (won_index - len(handoffs)) % 2 == 0
                    close_day = -between(30, 240) if idle else -between(0, 10)
                elif stage == "Closed Lost":
                    close_day = -between(1, 400)
                else:
                    close_day = between(5, 200) if rnd() < 0.85 else -between(1, 30)
            # created 20-240 days before close, but never after the anchor
            created = max(-close_day * DAY_MS + between(20, 240) * DAY_MS, between(1, 30) * DAY_MS)
            created += between(0, DAY_MS)
            closed = stage.startswith("Closed")
            closed_at = -close_day * DAY_MS - between(7 * HOUR_MS, 19 * HOUR_MS)
            modified = closed_at if closed else between(0, created)
            modified = max(min(modified, created), 0)
            modifier = owner.sf_id
            epic_key = delivery_owner = integrator = delivery_status = None
            if plan is not None:
                epic_key = plan.key
                self.jira.issues[epic_key].fields[c_opp] = rid
                delivery_owner = plan.assignee.sf_id if plan.assignee else None
                integrator = plan.integrator.sf_id if plan.integrator else None
                delivery_status = DELIVERY_STATUS_OF_STATUS[plan.status]
                # the bot linked them when the epic appeared and synced the status when it changed
                modified, modifier = max(plan.created - between(5, 120) * 60_000, 0), bot
                if id(plan) not in drift:
                    modified = min(modified, max(plan.entered - between(1, 30) * 60_000, 0))
            elif won:
                has_owner = won_index - len(handoffs) >= no_owner_unlinked
                delivery_owner = pick(self.people).sf_id if has_owner else None
                delivery_status = "Not Started"
            modified_at = dt(modified)
            rec = {
                "Id": rid,
                "CreatedDate": dt(created),
                "CreatedById": owner.sf_id,
                "LastModifiedDate": modified_at,
                "LastModifiedById": modifier,
                "SystemModstamp": modified_at,
                "Name": f"{account_name} - {product} {pick(_DEAL_KINDS)}",
                "AccountId": account_id,
                "OwnerId": owner.sf_id,
                "StageName": stage,
                "Amount": round(lognormal(10.4, 0.9), -2) or 1000.0,
                "Probability": probability[stage],
                "CloseDate": self.day(close_day),
                "IsClosed": closed,
                "IsWon": won,
                "Type": "New Business" if rnd() < 0.6 else "Existing Business",
                "Description": None,
                "Jira_Epic_Key__c": epic_key,
                "Delivery_Owner__c": delivery_owner,
                "Integrator__c": integrator,
                "Learning_Note__c": None,
                "Execution_Health__c": None,
                "Health_Reasons__c": None,
                "TB_Last_Activity__c": None,
                "Delivery_Status__c": delivery_status,
            }
            if plan is not None and id(plan) in drift:
                self.plant_drift(rec, plan)
            records[rid] = rec

    def plant_drift(self, rec: dict[str, Any], plan: _Plan) -> None:
        """Make one synced field disagree with the epic: a stale status, owner or integrator."""
        r = self.rnd()
        if r < 0.6 or plan.assignee is None:
            current = DELIVERY_STATUS_OF_STATUS[plan.status]
            choices = [s for s in ("Decide", "Build", "Launch", "Done") if s != current]
            rec["Delivery_Status__c"] = self.pick(choices)
        elif r < 0.85:
            rec["Delivery_Owner__c"] = self.other_than(self.members[plan.assignee.team], plan.assignee).sf_id
        else:
            rec["Integrator__c"] = self.other_than(self.people, plan.integrator).sf_id

    def make_delivers_links(self, plans: list[_Plan]) -> None:
        """'Delivers' links: the DEL epic (inward) delivers the OPS initiative (outward)."""
        ops = [p.key for p in plans if p.project == OPS]
        dels = [p.key for p in plans if p.project == DEL]
        n = max(2, round(len(dels) * 0.15))
        jira = self.jira
        seen: set[tuple[str, str]] = set()
        for epic in self.sample(dels, min(n, len(dels))):
            pair = (epic, self.pick(ops))
            if pair in seen:
                continue
            seen.add(pair)
            jira.add_link("Delivers", inward=pair[0], outward=pair[1])
            jira.next_link_id += 1
