"""The sandbox's demo organisation: people, Jira initiatives and epics, Salesforce accounts and
opportunities, with a realistic share of every convention gap from DESIGN.md planted in them.

Why deterministic: the demo, the docs and the integration tests point at concrete records, so the
same seed, size and anchor must always give identical data. Only `random.Random(seed)` is used,
and every time is an offset from `anchor` (the demo's "today"), never the wall clock.

Why fast: `size=100_000` is the load-test organisation. Per-record work is a handful of
`rng.random()` calls and one dict literal; times are integer milliseconds before the anchor until
the record is built, and immutable values (date strings, `date` objects) are cached and shared.
So are the item dicts of status changes in changelogs: history is read-only, never edit it in place.
The cyclic garbage collector is paused during the build (no cycles are made); a server that keeps
a large demo for its lifetime may call `gc.freeze()` after loading so later collections skip it.

The convention parameters the generator plants against are the constants of demo_gaps.py, re-exported
here (`OWNER_CAPACITY`, `DECIDE_LIMIT_DAYS`, ...); rules and tests should use the same values.

The parts: demo_words.py (the word lists), demo_people.py (people, Salesforce users and accounts),
demo_plan.py (planning the Jira issues), demo_build.py (the Jira and Salesforce objects) and demo_gaps.py
(the conventions and the gap count); `build_demo` and the generator's run are here.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

from trackerbridge.sandbox.bot import BOT_NAME
from trackerbridge.sandbox.demo_build import _Builder
from trackerbridge.sandbox.demo_gaps import (
    ACTIVE_STAGES,
    APPROVAL_LABEL,
    BACKLOG,
    DECIDE_LIMIT_DAYS,
    DEL,
    DELIVERY_STATUS_OF_STATUS,
    DONE,
    GAP_DESCRIPTIONS,
    IDLE_HANDOFF_DAYS,
    LANE_OF_STAGE,
    MAJOR_PRIORITIES,
    MAX_SCORECARD_MEASURES,
    OPS,
    OWNER_CAPACITY,
    PROGRESS,
    REVIEW,
    ROLLOUT,
    STAGE_OF_STATUS,
    SYNC_WINDOW_DAYS,
    TEAM_CAPACITY_PER_MEMBER,
    WAIVER_LABELS,
    WONT,
    count_gaps,
)
from trackerbridge.sandbox.demo_people import DAY_MS, HOUR_MS
from trackerbridge.sandbox.jira_model import JiraData
from trackerbridge.sandbox.salesforce_model import SalesforceData

__all__ = [
    "ACTIVE_STAGES",
    "APPROVAL_LABEL",
    "BACKLOG",
    "DAY_MS",
    "DECIDE_LIMIT_DAYS",
    "DEFAULT_SEED",
    "DEFAULT_SIZE",
    "DEL",
    "DELIVERY_STATUS_OF_STATUS",
    "DONE",
    "GAP_DESCRIPTIONS",
    "HOUR_MS",
    "IDLE_HANDOFF_DAYS",
    "LANE_OF_STAGE",
    "MAJOR_PRIORITIES",
    "MAX_SCORECARD_MEASURES",
    "MIN_SIZE",
    "OPS",
    "OWNER_CAPACITY",
    "PROGRESS",
    "REVIEW",
    "ROLLOUT",
    "STAGE_OF_STATUS",
    "SYNC_WINDOW_DAYS",
    "TEAM_CAPACITY_PER_MEMBER",
    "WAIVER_LABELS",
    "WONT",
    "Demo",
    "DemoSummary",
    "build_demo",
    "count_gaps",
]


DEFAULT_SEED = 7
DEFAULT_SIZE = 400
MIN_SIZE = 1  # every gap kind appears from about 30 issues up; smaller demos plant what fits


@dataclass(frozen=True)
class DemoSummary:
    """What the generator built and planted, for `trackerbridge demo` to print and tests to check."""

    seed: int
    size: int
    anchor: datetime
    people: int
    teams: int
    initiatives: int  # OPS issues (issuetype Initiative)
    epics: int  # DEL issues (issuetype Epic)
    accounts: int
    opportunities: int
    closed_won: int
    linked_handoffs: int  # closed-won opportunities linked both ways to a DEL epic
    delivers_links: int
    waiver_labels: int  # issues carrying a tb-waive-* label (gap counts do not subtract them)
    gaps: dict[str, int] = field(default_factory=dict)
    team_capacity: dict[str, int] = field(default_factory=dict)  # team -> active initiatives allowed
    bot_account_id: str = ""  # the sandbox's caller in Jira
    bot_user_id: str = ""  # ... and in Salesforce

    def lines(self) -> list[str]:
        """Short human description; the caller adds the heading (seed, size) and indentation."""
        out = [
            f"As of {self.anchor.date().isoformat()}: {self.people} people in {self.teams} teams, "
            f"plus the integration user '{BOT_NAME}'",
            f"Jira: {self.initiatives} initiatives (OPS), {self.epics} delivery epics (DEL), "
            f"{self.delivers_links} 'Delivers' links, {self.waiver_labels} issues with waiver labels",
            f"Salesforce: {self.accounts} accounts, {self.opportunities} opportunities, "
            f"{self.closed_won} closed won, {self.linked_handoffs} handed off to a DEL epic",
            "Planted convention gaps:",
        ]
        width = max((len(str(n)) for n in self.gaps.values()), default=1)
        out += [f"  {self.gaps[k]:>{width}}  {GAP_DESCRIPTIONS.get(k, k)}" for k in self.gaps]
        return out


@dataclass
class Demo:
    jira: JiraData
    salesforce: SalesforceData
    summary: DemoSummary


def build_demo(*, seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE, anchor: datetime) -> Demo:
    """Build the demo organisation; the same seed, size and anchor always give identical data."""
    if anchor.tzinfo is None or anchor.utcoffset() is None:
        raise ValueError("anchor must be an aware datetime (UTC)")
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} (got {size})")
    anchor = anchor.astimezone(timezone.utc)
    anchor = anchor.replace(microsecond=anchor.microsecond // 1000 * 1000)
    with _gc_paused():
        return _Generator(seed, size, anchor).run()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic collector: the build allocates millions of objects and no cycles, and the
    collector's repeated passes over the growing heap would otherwise cost 40% of the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Generator(_Builder):
    """Plans the organisation in integer time offsets, then builds the model objects in one pass."""

    # the run ------------------------------------------------------------------------------------

    def run(self) -> Demo:
        self.make_people()
        self.make_salesforce_users_and_accounts()
        plans = self.plan_issues()
        self.build_issues(plans)
        self.make_opportunities(plans)
        self.make_delivers_links(plans)
        return Demo(self.jira, self.sf, self.summarise())

    # summary ----------------------------------------------------------------------------------------

    def summarise(self) -> DemoSummary:
        opps = self.sf.records["Opportunity"].values()
        team_capacity = {t: TEAM_CAPACITY_PER_MEMBER * len(self.members[t]) for t in self.teams}
        return DemoSummary(
            seed=self.seed,
            size=self.size,
            anchor=self.anchor,
            people=len(self.people),
            teams=len(self.teams),
            initiatives=sum(1 for i in self.jira.issues.values() if i.fields["issuetype"] == "Initiative"),
            epics=sum(1 for i in self.jira.issues.values() if i.fields["issuetype"] == "Epic"),
            accounts=len(self.sf.records["Account"]),
            opportunities=len(self.sf.records["Opportunity"]),
            closed_won=sum(1 for o in opps if o["IsWon"]),
            linked_handoffs=sum(1 for o in opps if o["IsWon"] and o["Jira_Epic_Key__c"]),
            delivers_links=len(self.jira.links),
            waiver_labels=sum(
                1 for i in self.jira.issues.values() if any(lb.startswith("tb-waive-") for lb in i.fields["labels"])
            ),
            gaps=count_gaps(self.jira, self.sf, self.anchor, team_capacity),
            team_capacity=team_capacity,
            bot_account_id=self.bot.account_id,
            bot_user_id=self.bot_sf_id,
        )
