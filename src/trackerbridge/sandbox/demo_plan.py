"""Planning the demo's Jira issues in integer time offsets: statuses and their history, owners, due dates
and their slips, people fields, commitments, text and labels, and the hand-offs to plan with them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from trackerbridge.sandbox.demo_gaps import (
    ACTIVE_STAGES,
    APPROVAL_LABEL,
    BACKLOG,
    DECIDE_LIMIT_DAYS,
    DEL,
    DONE,
    MAJOR_PRIORITIES,
    MAX_SCORECARD_MEASURES,
    OPS,
    OWNER_CAPACITY,
    PROGRESS,
    REVIEW,
    ROLLOUT,
    STAGE_OF_STATUS,
    TEAM_CAPACITY_PER_MEMBER,
    WAIVER_LABELS,
    WONT,
)
from trackerbridge.sandbox.demo_people import DAY_MS, HOUR_MS, _People, _Person, _quota
from trackerbridge.sandbox.demo_words import (
    _ACTIONS,
    _COMMENTS,
    _DELIVERY_ACTIONS,
    _HTML_SUMMARY,
    _LABELS,
    _LEARNINGS,
    _LONG_SUMMARY,
    _ONBOARD,
    _PRODUCTS,
    _QUALIFIERS,
    _SLIP_REASONS,
)
from trackerbridge.sandbox.jira_model import PRIORITIES, RESOLUTIONS, Comment, History


@dataclass(slots=True, eq=False)
class _Handoff:
    """A closed-won opportunity planned together with its delivery epic."""

    account: int
    product: str
    owner: _Person
    gap_days: int  # epic created date - CloseDate


@dataclass(slots=True, eq=False)
class _Plan:
    """One Jira issue while it is being planned; times are milliseconds before the anchor."""

    project: str
    status: str
    priority: str = "Medium"
    young: bool = False  # decide, created under DECIDE_LIMIT_DAYS ago, no decision owner
    stuck: bool = False  # decide over DECIDE_LIMIT_DAYS, no decision owner
    created: int = 0
    transitions: list[tuple[int, str, str]] = field(default_factory=list)  # (ago, from, to)
    entered: int = 0  # last status change (or created)
    assignee: _Person | None = None
    team: str = ""
    integrator: _Person | None = None
    decision: _Person | None = None
    due: int | None = None  # day offset from the anchor's date
    due_from: int | None = None  # earlier due date, if the due date was moved
    slip_reason: str | None = None  # the "Slip reason" field, when a move was explained
    commitment: str | None = None
    labels: list[str] = field(default_factory=list)
    scorecard: float | None = None
    learning: str | None = None
    summary: str = ""
    handoff: _Handoff | None = None
    reporter: _Person | None = None
    changelog: list[History] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    resolved_at: datetime | None = None  # the last status change, for Done / Won't Do
    updated: int = 0
    key: str = ""


_PRIORITY_NAMES = tuple(PRIORITIES)
_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    # status -> possible walks from Backlog (the statuses entered, in order)
    BACKLOG: ((), (), (), (REVIEW, BACKLOG)),
    REVIEW: ((REVIEW,),),
    PROGRESS: ((REVIEW, PROGRESS), (REVIEW, PROGRESS), (REVIEW, PROGRESS), (PROGRESS,)),
    ROLLOUT: ((REVIEW, PROGRESS, ROLLOUT), (PROGRESS, ROLLOUT)),
    DONE: ((REVIEW, PROGRESS, ROLLOUT, DONE), (REVIEW, PROGRESS, ROLLOUT, DONE), (PROGRESS, DONE)),
    WONT: ((WONT,), (REVIEW, WONT), (REVIEW, PROGRESS, WONT), (REVIEW, PROGRESS, WONT)),
}
# (min, max) days since creation, per stage
_AGE_DAYS = {
    "decide": (1, 120),
    "build": (14, 400),
    "launch": (45, 450),
    "done": (60, 600),
    "cancelled": (20, 600),
}


class _Planner(_People):
    # jira planning ---------------------------------------------------------------------------------

    def plan_issues(self) -> list[_Plan]:
        rng, rnd = self.rng, self.rnd
        size = self.size
        n_ops = round(size * 0.6)
        stage_shares = (
            ("decide", 0.25),
            ("build", 0.35),
            ("launch", 0.15),
            ("done", 0.15),
            ("cancelled", 0.10),
        )
        plans: list[_Plan] = []
        for project, n in ((OPS, n_ops), (DEL, size - n_ops)):
            stages = _quota(n, stage_shares)
            rng.shuffle(stages)
            for stage in stages:
                if stage == "decide":
                    status = BACKLOG if rnd() < 0.5 else REVIEW
                else:
                    status = {"build": PROGRESS, "launch": ROLLOUT, "done": DONE}.get(stage, WONT)
                r = rnd()
                priority = (
                    "Highest" if r < 0.08 else "High" if r < 0.35 else "Medium" if r < 0.75 else
                    "Low" if r < 0.93 else "Lowest"
                )  # fmt: skip
                plans.append(_Plan(project, status, priority))
        active = [p for p in plans if STAGE_OF_STATUS[p.status] in ACTIVE_STAGES]
        decide = [p for p in active if STAGE_OF_STATUS[p.status] == "decide"]
        rng.shuffle(decide)
        n_stuck = min(max(1, round(0.08 * len(active))), len(decide) // 2)
        n_young = max(1, round(0.15 * len(decide)))
        for p in decide[:n_stuck]:
            p.stuck = True
        for p in decide[n_stuck : n_stuck + n_young]:
            p.young = True

        self.plan_handoffs(plans)
        for p in plans:
            self.plan_timeline(p)
        self.plan_owners(plans, active)
        self.plan_due_dates(plans, active)
        self.plan_people_fields(plans, active)
        self.plan_commitments(plans)
        self.plan_text_and_labels(plans, active)
        for p in plans:
            self.plan_history(p)
        return plans

    def plan_handoffs(self, plans: list[_Plan]) -> None:
        """Choose the DEL epics that deliver closed-won opportunities, and each one's idle gap."""
        n_opp = round(self.size * 0.625)
        self.n_opp = n_opp
        self.n_won = round(n_opp * 0.35)
        epics = [p for p in plans if p.project == DEL]
        n_linked = min(round(self.n_won * 0.8), len(epics))
        linked = self.sample(epics, n_linked)
        n_idle = max(1, round(n_linked * 0.15))
        for k, p in enumerate(linked):
            account = int(self.rnd() * len(self.accounts))
            owner = self.accounts[account][2] if self.rnd() < 0.7 else self.pick(self.sales)
            gap = self.between(20, 90) if k < n_idle else self.between(1, 6)
            p.handoff = _Handoff(account, self.pick(_PRODUCTS), owner, gap)

    def plan_timeline(self, p: _Plan) -> None:
        """Creation, the status walk and the time the current stage was entered (ms before anchor)."""
        rnd, between = self.rnd, self.between
        stage = STAGE_OF_STATUS[p.status]
        if p.young:
            created = between(5 * HOUR_MS, (DECIDE_LIMIT_DAYS - 2) * DAY_MS)
        elif p.stuck:
            created = between(10 * DAY_MS, 160 * DAY_MS)
        else:
            low, high = _AGE_DAYS[stage]
            created = between(low * DAY_MS, high * DAY_MS)
        if p.handoff is not None:
            # the epic may not predate its opportunity's creation by much; keep it inside 2 years
            created = min(created, 700 * DAY_MS)
        path = self.pick(_PATHS[p.status])
        if not path:
            entered = created
        elif p.stuck:
            entered = between((DECIDE_LIMIT_DAYS + 2) * DAY_MS, created - DAY_MS // 2)
        elif stage == "done":
            entered = between(DAY_MS, int(created * 0.6))
        else:
            entered = int(created * (0.05 + 0.7 * rnd()))
        k = len(path)
        seg = (created - entered) / k if k else 0
        prev = BACKLOG
        transitions = []
        for j, status in enumerate(path, 1):
            when = entered if j == k else int(created - seg * (j - 1 + 0.2 + 0.75 * rnd()))
            transitions.append((when, prev, status))
            prev = status
        p.created, p.entered, p.transitions = created, entered, transitions

    def plan_owners(self, plans: list[_Plan], active: list[_Plan]) -> None:
        """Assignee and Team, so that exactly the planned owners and teams exceed their capacity.

        Capacity counts active OPS initiatives: two teams are filled to capacity plus their unowned
        items, with a few members above OWNER_CAPACITY; the other teams share the rest below it.
        """
        rng, rnd, pick = self.rng, self.rnd, self.pick
        ops = [p for p in active if p.project == OPS]
        rng.shuffle(ops)
        over_teams = self.sample(list(self.teams), 2)
        n_overloaded = max(1, round(len(self.people) * 0.075))
        targets: dict[str, list[tuple[_Person | None, int]]] = {}
        overloaded: list[_Person] = []  # in pick order, for the overflow below
        pools = {t: list(self.members[t]) for t in over_teams}
        for t in over_teams:
            rng.shuffle(pools[t])
        for i in range(n_overloaded):
            team = over_teams[i % 2] if len(pools[over_teams[i % 2]]) > 1 else over_teams[(i + 1) % 2]
            if len(pools[team]) > 1:
                overloaded.append(pools[team].pop())
        heavy = set(map(id, overloaded))
        for t in over_teams:
            slots: list[tuple[_Person | None, int]] = []
            for person in self.members[t]:
                slots.append((person, OWNER_CAPACITY + (1 + int(rnd() * 3) if id(person) in heavy else 0)))
            owned = sum(c for _, c in slots)
            slots.append((None, max(1, round(owned * 0.1))))
            targets[t] = slots
        remaining = len(ops) - sum(c for t in over_teams for _, c in targets[t])
        ok_teams = [t for t in self.teams if t not in over_teams]
        ok_members = sum(len(self.members[t]) for t in ok_teams)
        loads = _quota(max(0, remaining), [(t, len(self.members[t]) / ok_members) for t in ok_teams])
        per_team = Counter(loads)
        overflow = 0
        for t in ok_teams:
            load = min(per_team[t], TEAM_CAPACITY_PER_MEMBER * len(self.members[t]))
            overflow += per_team[t] - load
            unowned = round(load * 0.1)
            owned = load - unowned
            m = len(self.members[t])
            slots = [(person, owned // m + (1 if k < owned % m else 0)) for k, person in enumerate(self.members[t])]
            targets[t] = [*slots, (None, unowned)]
        # should the ok teams overflow (they do not at the default shares), the overloaded take it
        for k in range(overflow):
            spare = overloaded[k % len(overloaded)] if overloaded else None
            targets[spare.team if spare else over_teams[0]].append((spare, 1))
        it = iter(ops)
        for t in [*over_teams, *ok_teams]:
            for owner, count in targets[t]:
                for _ in range(count):
                    p = next(it, None)
                    if p is None:
                        break
                    p.assignee, p.team = owner, t
        self.overloaded = overloaded
        self.over_teams = over_teams

        # delivery epics: 10% of the active ones without owner; finished work always has one
        dels = [p for p in active if p.project == DEL]
        no_owner = set(map(id, self.sample(dels, round(len(dels) * 0.1))))
        for p in plans:
            if p.project == OPS and STAGE_OF_STATUS[p.status] in ACTIVE_STAGES:
                continue
            if id(p) in no_owner:
                p.team = pick(self.teams)
            else:
                p.assignee = pick(self.people)
                p.team = p.assignee.team

    def plan_due_dates(self, plans: list[_Plan], active: list[_Plan]) -> None:
        """12% of active without end date, 10% overdue, the rest due in the future."""
        between = self.between
        shuffled = list(active)
        self.rng.shuffle(shuffled)
        n_none = round(0.12 * len(active))
        n_overdue = round(0.10 * len(active))
        for p in shuffled[n_none:]:
            created_day = self.day_of(p.created)
            if n_overdue and not p.young and created_day < -9:
                n_overdue -= 1
                p.due = between(max(created_day + 7, -150), -2)  # clear of time-zone edges
            else:
                p.due = between(7, 270)
        for p in plans:
            stage = STAGE_OF_STATUS[p.status]
            if stage == "done":
                p.due = self.day_of(p.entered) + between(-30, 20)
            elif stage == "cancelled":
                p.due = self.day_of(p.created) + between(30, 200)

    def plan_people_fields(self, plans: list[_Plan], active: list[_Plan]) -> None:
        """Integrator (30% of active major without) and decision owner (none for stuck or young)."""
        rnd, pick = self.rnd, self.pick
        major = [p for p in active if p.priority in MAJOR_PRIORITIES]
        no_integrator = set(map(id, self.sample(major, round(len(major) * 0.3))))
        for p in plans:
            is_major = p.priority in MAJOR_PRIORITIES
            if (is_major and id(p) not in no_integrator) or (not is_major and rnd() < 0.25):
                p.integrator = self.other_than(self.people, p.assignee)
            if not (p.young or p.stuck) and (STAGE_OF_STATUS[p.status] == "decide" or rnd() < 0.6):
                lead = self.members[p.team][0]
                p.decision = lead if rnd() < 0.5 else pick(self.people)

    def plan_commitments(self, plans: list[_Plan]) -> None:
        """Commitments; a few move their due date without approval, a few with it, the rest stay."""
        rnd, between = self.rnd, self.between
        yes: list[_Plan] = []
        for p in plans:
            r = rnd()
            yes_rate = 0.4 if p.handoff else 0.05
            if r < yes_rate:
                p.commitment = "Yes"
                if p.due is not None:
                    yes.append(p)
            elif r < yes_rate + 0.3:
                p.commitment = "No"
            elif p.due is not None and r > 0.88:
                p.due_from = p.due - between(7, 60)  # an ordinary extension
        n = max(2, round(self.size * 0.01))
        moved = self.sample(yes, min(len(yes), 2 * n))
        for k, p in enumerate(moved):
            p.due_from = p.due - between(7, 60)  # type: ignore[operator]
            if k >= n:
                p.labels.append(APPROVAL_LABEL)

    def plan_text_and_labels(self, plans: list[_Plan], active: list[_Plan]) -> None:
        rng, rnd, pick, between = self.rng, self.rnd, self.pick, self.between
        ops = [p for p in plans if p.project == OPS]
        for p in plans:
            if p.handoff is not None:
                acct = self.accounts[p.handoff.account][1]
                p.summary = pick(_ONBOARD).format(a=acct, p=p.handoff.product)
                if p.commitment == "Yes":
                    p.labels.append("customer-commitment")
            elif p.project == OPS or rnd() < 0.6:
                p.summary = pick(_ACTIONS) + pick(_QUALIFIERS)
            else:
                p.summary = pick(_DELIVERY_ACTIONS) + pick(_QUALIFIERS)
            r = rnd()
            if r < 0.45:
                p.labels.append(pick(_LABELS))
                if r < 0.12:
                    extra = pick(_LABELS)
                    if extra not in p.labels:
                        p.labels.append(extra)
            if p.project == OPS and rnd() < 0.4:
                p.scorecard = float(between(3, MAX_SCORECARD_MEASURES))
        for p, summary in zip(self.sample(ops, 2), (_HTML_SUMMARY, _LONG_SUMMARY), strict=False):
            p.summary = summary
        for p in self.sample(ops, max(2, round(self.size * 0.005))):
            p.scorecard = float(between(MAX_SCORECARD_MEASURES + 1, 16))
        for k, p in enumerate(self.sample(active, max(2, round(self.size * 0.005)))):
            p.labels.append(WAIVER_LABELS[0] if k % 3 < 2 else WAIVER_LABELS[1])
        cancelled = [p for p in plans if p.status == WONT]
        rng.shuffle(cancelled)
        for p in cancelled[: len(cancelled) // 2]:
            p.learning = pick(_LEARNINGS)
        for p in plans:
            if p.status == DONE and rnd() < 0.3:
                p.learning = pick(_LEARNINGS)

    def status_items(self, old: str, new: str) -> tuple[dict[str, Any], ...]:
        """The items of one status change; cached, so the dicts are shared between issues."""
        items = self._status_items.get((old, new))
        if items is None:
            status = {
                "field": "status",
                "fieldtype": "jira",
                "from": self.status_id[old],
                "fromString": old,
                "to": self.status_id[new],
                "toString": new,
            }
            resolution = {
                "field": "resolution",
                "fieldtype": "jira",
                "from": None,
                "fromString": None,
                "to": RESOLUTIONS.get(new),
                "toString": new,
            }
            items = (status, resolution) if new in RESOLUTIONS else (status,)
            self._status_items[old, new] = items
        return items

    def slip_events(self, p: _Plan, when: int, actor: str) -> list[tuple[int, str, list[dict[str, Any]]]]:
        """The changelog of a due-date move, in a fixed cycle of four (no random draws, so the rest of the
        organisation stays as it was): no reason; a reason in the same edit; a reason added later; moved
        twice, the first time with a reason and the second without. Once 2.5% of the organisation's size is
        planted without a reason, the rest are explained."""
        assert p.due_from is not None and p.due is not None
        kind = self._slips % 4
        text = _SLIP_REASONS[self._slips % len(_SLIP_REASONS)]
        self._slips += 1
        if kind in (0, 3):  # unexplained: a share of the organisation, like the other gaps
            if self._unexplained >= max(2, round(self.size * 0.025)):
                kind = 1 if kind == 0 else 2
            else:
                self._unexplained += 1

        def due(old: int, new: int) -> dict[str, Any]:
            old_s, new_s = self.day_str(old), self.day_str(new)
            return {
                "field": "duedate",
                "fieldtype": "jira",
                "from": old_s,
                "fromString": old_s + " 00:00:00.0",
                "to": new_s,
                "toString": new_s + " 00:00:00.0",
            }

        reason = {
            "field": "Slip reason",
            "fieldtype": "custom",
            "fieldId": self.cf["Slip reason"],
            "from": None,
            "fromString": None,
            "to": None,
            "toString": text,
        }
        if kind == 0:
            return [(when, actor, [due(p.due_from, p.due)])]
        p.slip_reason = text
        if kind == 1:
            return [(when, actor, [due(p.due_from, p.due), reason])]
        if kind == 2:
            return [(when, actor, [due(p.due_from, p.due)]), (when // 2, actor, [reason])]
        mid = p.due_from + max(1, (p.due - p.due_from) // 2)
        return [(when, actor, [due(p.due_from, mid), reason]), (when // 2, actor, [due(mid, p.due)])]

    def plan_history(self, p: _Plan) -> None:
        """The changelog (status walk plus a few edits) and comments, oldest first.

        History and Comment objects are made here with id 0; `build_issues` numbers them once the
        issues are in creation order. `updated` and `resolutiondate` reuse the event's datetime.
        """
        rnd, between, pick, dt = self.rnd, self.between, self.pick, self.dt
        created = p.created
        actor = (p.assignee or p.decision or pick(self.people)).account_id
        events: list[tuple[int, str, list[dict[str, Any]]]] = []
        for when, old, new in p.transitions:
            events.append((when, actor, list(self.status_items(old, new))))
        if p.handoff is not None:
            p.reporter = p.handoff.owner
        else:
            p.reporter = self.members[p.team][0] if rnd() < 0.4 else pick(self.people)
        reporter = p.reporter.account_id
        r = rnd()
        if p.assignee is not None and (r < 0.4 or not events):
            item = {
                "field": "assignee",
                "fieldtype": "jira",
                "from": None,
                "fromString": None,
                "to": p.assignee.account_id,
                "toString": p.assignee.display,
            }
            events.append((between(1000, created - 1000), reporter, [item]))
        elif p.assignee is None and (r < 0.3 or not events):
            gone = pick(self.people)
            item = {
                "field": "assignee",
                "fieldtype": "jira",
                "from": gone.account_id,
                "fromString": gone.display,
                "to": None,
                "toString": None,
            }
            events.append((between(1000, created - 1000), gone.account_id, [item]))
        if p.due_from is not None and p.due is not None:
            events.extend(self.slip_events(p, between(1000, created - 1000), actor))
        if rnd() < 0.15:
            old_p = pick(_PRIORITY_NAMES)
            if old_p != p.priority:
                item = {
                    "field": "priority",
                    "fieldtype": "jira",
                    "from": PRIORITIES[old_p],
                    "fromString": old_p,
                    "to": PRIORITIES[p.priority],
                    "toString": p.priority,
                }
                events.append((between(1000, created - 1000), reporter, [item]))
        events.sort(key=itemgetter(0), reverse=True)
        p.created_at = p.updated_at = dt(created)
        latest = created
        for when, author, items in events:
            at = dt(when)
            p.changelog.append(History(0, author, at, items))
            if when == p.entered:
                p.resolved_at = at
            if when < latest:
                latest, p.updated_at = when, at
        if rnd() < 0.35:
            notes = []
            for _ in range(1 + int(rnd() * 3)):
                body = pick(_COMMENTS).format(n=pick(self.people).first)
                notes.append((between(1000, created - 1000), pick(self.people).account_id, body))
            notes.sort(key=itemgetter(0), reverse=True)
            for when, author, body in notes:
                at = dt(when)
                p.comments.append(Comment(0, author, body, at, at))
                if when < latest:
                    latest, p.updated_at = when, at
        p.updated = latest
