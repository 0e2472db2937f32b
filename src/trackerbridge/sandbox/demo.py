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

The convention parameters the generator plants against are the module constants below
(`OWNER_CAPACITY`, `DECIDE_LIMIT_DAYS`, ...); rules and tests should use the same values.
"""

from __future__ import annotations

import gc
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from operator import itemgetter
from typing import Any, TypeVar

from trackerbridge.sandbox.bot import BOT_EMAIL, BOT_NAME
from trackerbridge.sandbox.jira_model import (
    PRIORITIES,
    RESOLUTIONS,
    Comment,
    History,
    Issue,
    JiraData,
    JiraUser,
    new_jira_data,
)
from trackerbridge.sandbox.salesforce_model import SalesforceData, new_salesforce_data

T = TypeVar("T")

DEFAULT_SEED = 7
DEFAULT_SIZE = 400
MIN_SIZE = 1  # every gap kind appears from about 30 issues up; smaller demos plant what fits

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

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


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


# --------------------------------------------------------------------------------------------
# Word lists

# (first, last, time zone); the first rows are always the first people, so every demo has them.
_CURATED: tuple[tuple[str, str, str], ...] = (
    ("Zoë", "Müller", "Europe/Berlin"),
    ("José", "Álvarez", "Europe/Madrid"),
    ("Ngozi", "Okonkwo", "Africa/Lagos"),
    ("ليلى", "حداد", "Asia/Beirut"),  # a right-to-left name on purpose
    ("Priya", "Raman", "Asia/Kolkata"),
    ("Wei", "Chen", "Asia/Shanghai"),
    ("Haruto", "Tanaka", "Asia/Tokyo"),
    ("Søren", "Nielsen", "Europe/Copenhagen"),
    ("Łukasz", "Nowak", "Europe/Warsaw"),
    ("Amélie", "Dubois", "Europe/Paris"),
    ("Sarah", "O'Brien", "Europe/Dublin"),
    ("Marcus", "Thompson", "America/New_York"),
    ("Linh", "Nguyễn", "Asia/Ho_Chi_Minh"),
    ("Ayşe", "Yılmaz", "Europe/Istanbul"),  # noqa: RUF001 - Turkish dotless i
    ("Ji-woo", "Park", "Asia/Seoul"),
    ("João", "Gonçalves", "America/Sao_Paulo"),
    ("Emily", "Walker", "America/Los_Angeles"),
    ("Chinedu", "Eze", "Africa/Lagos"),
    ("Lucía", "Fernández", "America/Mexico_City"),
    ("Arjun", "Iyer", "Asia/Kolkata"),
    ("Astrid", "Lindqvist", "Europe/Stockholm"),
    ("Omar", "Khoury", "Asia/Dubai"),
    ("Mei", "Lin", "Asia/Singapore"),
    ("Théo", "Lefèvre", "Europe/Paris"),
    ("Katarzyna", "Wójcik", "Europe/Warsaw"),
    ("Daniel", "Cohen", "Asia/Jerusalem"),
    ("Fatima Zahra", "Benali", "Africa/Casablanca"),
    ("Kwame", "Mensah", "Africa/Accra"),
    ("Ingrid", "Hansen", "Europe/Oslo"),
    ("Mateo", "Rossi", "Europe/Rome"),
    ("Anouk", "van der Berg", "Europe/Amsterdam"),
    ("Rohan", "Mehta", "Asia/Kolkata"),
    ("Aiko", "Sato", "Asia/Tokyo"),
    ("Björn", "Åberg", "Europe/Stockholm"),
    ("Grace", "Kim", "America/Toronto"),
    ("Diego", "Muñoz", "America/Santiago"),
    ("Olivia", "Bennett", "Europe/London"),
    ("Siobhán", "Murphy", "Europe/Dublin"),
    ("Ahmed", "Nasser", "Africa/Cairo"),
    ("Chloé", "Martin", "Europe/Brussels"),
)
_ASCII_OVERRIDES = {"ليلى": "layla", "حداد": "haddad"}  # transliterations

# Name pools for people beyond the curated ones: first and last names of one culture stay together.
_NAME_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("Jonas", "Lena", "Lukas", "Anja", "Felix", "Greta", "Jürgen", "Mia"),
        ("Müller", "Schäfer", "Becker", "Wagner", "Köhler", "Fischer", "Weiß", "Hoffmann"),
        ("Europe/Berlin", "Europe/Zurich", "Europe/Vienna"),
    ),
    (
        ("José", "Lucía", "Mateo", "Valentina", "Andrés", "Camila", "Javier", "Sofía"),
        ("Álvarez", "García", "Fernández", "Ortiz", "Muñoz", "Ramírez", "Castillo", "Peña"),
        ("Europe/Madrid", "America/Mexico_City", "America/Bogota", "America/Buenos_Aires"),
    ),
    (
        ("Ngozi", "Chinedu", "Adaeze", "Tunde", "Folake", "Emeka", "Kwame", "Ama"),
        ("Okonkwo", "Adeyemi", "Eze", "Balogun", "Nwosu", "Mensah", "Owusu", "Okafor"),
        ("Africa/Lagos", "Africa/Accra", "Africa/Nairobi"),
    ),
    (
        ("Omar", "Nour", "Youssef", "Rania", "Karim", "Layla", "Hana", "Tariq"),
        ("Haddad", "Khoury", "Mansour", "Saeed", "Nasser", "Aziz", "Farouk", "Salem"),
        ("Asia/Beirut", "Asia/Dubai", "Africa/Cairo", "Asia/Amman"),
    ),
    (
        ("Priya", "Arjun", "Ananya", "Rohan", "Kavya", "Vikram", "Meera", "Aditya"),
        ("Sharma", "Iyer", "Patel", "Reddy", "Menon", "Raman", "Mehta", "Kapoor"),
        ("Asia/Kolkata",),
    ),
    (
        ("Wei", "Mei", "Jun", "Xiu", "Hao", "Ling", "Yan", "Bo"),
        ("Chen", "Wang", "Liu", "Zhang", "Lin", "Huang", "Zhou", "Wu"),
        ("Asia/Shanghai", "Asia/Singapore", "Asia/Taipei"),
    ),
    (
        ("Yuki", "Haruto", "Aiko", "Sora", "Ren", "Hina", "Takumi", "Emi"),
        ("Tanaka", "Sato", "Nakamura", "Kobayashi", "Ito", "Suzuki", "Watanabe", "Yamamoto"),
        ("Asia/Tokyo",),
    ),
    (
        ("Søren", "Astrid", "Magnus", "Ingrid", "Björn", "Freja", "Lars", "Sigrid"),
        ("Nielsen", "Lindqvist", "Hansen", "Åberg", "Johansson", "Berg", "Dahl", "Løvås"),
        ("Europe/Copenhagen", "Europe/Stockholm", "Europe/Oslo", "Europe/Helsinki"),
    ),
    (
        ("Zofia", "Paweł", "Katarzyna", "Łukasz", "Agnieszka", "Tomasz", "Marta", "Piotr"),
        ("Nowak", "Wójcik", "Mazur", "Krawczyk", "Kaczmarek", "Zając", "Król", "Wróbel"),
        ("Europe/Warsaw",),
    ),
    (
        ("Amélie", "Théo", "Chloé", "Hugo", "Inès", "Léa", "Mathis", "Camille"),
        ("Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau", "Martin", "Bernard", "Fontaine"),
        ("Europe/Paris", "Europe/Brussels", "America/Toronto"),
    ),
    (
        ("Sarah", "James", "Emily", "Michael", "Olivia", "Liam", "Grace", "Noah"),
        ("Thompson", "O'Brien", "Walker", "Bennett", "Hughes", "Murphy", "Clarke", "Reid"),
        ("Europe/London", "Europe/Dublin", "America/New_York", "America/Chicago", "Australia/Sydney"),
    ),
    (
        ("Linh", "Minh", "Thảo", "Quang", "Trang", "Huy", "Ngọc", "Bảo"),
        ("Nguyễn", "Trần", "Phạm", "Lê", "Hoàng", "Vũ", "Đặng", "Bùi"),
        ("Asia/Ho_Chi_Minh",),
    ),
    (
        ("Elif", "Emre", "Ayşe", "Can", "Zeynep", "Burak", "Selin", "Mert"),
        ("Yılmaz", "Demir", "Şahin", "Çelik", "Kaya", "Aydın", "Öztürk", "Arslan"),  # noqa: RUF001
        ("Europe/Istanbul",),
    ),
    (
        ("Ji-woo", "Min-jun", "Seo-yeon", "Do-yun", "Ha-eun", "Joon", "Soo-ah", "Hyun"),
        ("Kim", "Park", "Lee", "Choi", "Jung", "Kang", "Yoon", "Han"),
        ("Asia/Seoul",),
    ),
    (
        ("João", "Ana", "Gabriel", "Beatriz", "Rafael", "Larissa", "Thiago", "Marília"),
        ("Silva", "Gonçalves", "Araújo", "Costa", "Pereira", "Rocha", "Barbosa", "Lima"),
        ("America/Sao_Paulo", "Europe/Lisbon"),
    ),
    (
        ("Anouk", "Daan", "Sanne", "Bram", "Fleur", "Ruben", "Lotte", "Joris"),
        ("van der Berg", "de Vries", "Jansen", "Bakker", "Visser", "de Jong", "Smit", "Mulder"),
        ("Europe/Amsterdam",),
    ),
)
_DOTLESS_I = "\u0131"  # Turkish; NFKD leaves it alone
_FOLD = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "æ": "ae",
        "Æ": "AE",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        _DOTLESS_I: "i",
    }
)

_TEAM_WEIGHTS = {
    "Platform": 1.3,
    "Payments": 1.2,
    "Growth": 1.0,
    "Data": 0.9,
    "Mobile": 0.8,
    "Partnerships": 0.8,
}
_TITLES = {
    "Payments": ("Product Manager", "Senior Software Engineer", "Staff Engineer", "Risk Analyst"),
    "Platform": ("Staff Engineer", "Site Reliability Engineer", "Engineering Manager", "Platform Architect"),
    "Growth": ("Account Executive", "Growth Marketing Manager", "Sales Engineer", "Customer Success Manager"),
    "Data": ("Data Engineer", "Analytics Lead", "Data Scientist", "Product Analyst"),
    "Mobile": ("iOS Engineer", "Android Engineer", "Product Designer", "Engineering Manager"),
    "Partnerships": ("Partner Manager", "Account Executive", "Solutions Architect", "Program Manager"),
}
_SALES_TEAMS = ("Growth", "Partnerships")

_ACTIONS = (
    "Migrate billing to ledger v2",
    "Self-serve onboarding",
    "Launch partner API v3",
    "Consolidate payment providers",
    "Automate invoice reconciliation",
    "Roll out usage-based pricing",
    "Sunset legacy reporting",
    "Redesign mobile checkout",
    "Harden fraud scoring",
    "Move the data warehouse to a lakehouse",
    "Enterprise SSO",
    "Localise the customer portal",
    "Streamline KYC checks",
    "Instrument activation funnel",
    "Pilot in-app messaging",
    "Standardise incident response",
    "Replatform search",
    "Introduce feature flags",
    "Expand payout schedules",
    "Retire the monolith's order service",
    "Offline mode for the field app",
    "Customer health score",
    "GDPR data export",
    "Cut cloud spend",
    "Tokenise stored cards",
    "Referral programme",
    "Partner marketplace listings",
    "Real-time tax calculation",
    "Dunning email revamp",
    "Observability stack upgrade",
    "Unify identity service",
    "Event pipeline on Kafka",
    "Android widget",
    "Accessibility audit fixes",
    "SOC 2 evidence automation",
    "Multi-currency settlement",
    "Reduce checkout latency",
    "Churn prediction model",
    "Self-serve plan upgrades",
    "Revamp developer docs",
)
_QUALIFIERS = (
    "",
    "",
    "",
    " for SMB",
    " for enterprise",
    " in DACH",
    " in LATAM",
    " in APAC",
    " (phase 2)",
    " - EU region",
    " for partners",
    " v2",
    " (pilot)",
    " for the US launch",
)
_DELIVERY_ACTIONS = (
    "Platform upgrade",
    "Data residency setup",
    "Regional failover",
    "Internal tooling refresh",
    "Release train hardening",
    "Support runbook overhaul",
    "Capacity planning for peak",
    "Vendor contract migration",
)
_PRODUCTS = (
    "Payments API",
    "Ledger",
    "Analytics add-on",
    "Mobile SDK",
    "Partner portal",
    "Enterprise SSO",
    "Premium support",
    "Data export",
    "Fraud shield",
    "Marketplace listing",
)
_DEAL_KINDS = ("expansion", "renewal", "pilot", "new logo", "500 seats", "EU rollout", "upsell")
_ONBOARD = ("Onboard {a} to {p}", "Deliver {p} for {a}", "{a}: {p} go-live", "Implement {p} at {a}")
_ACCOUNT_STEMS = (
    "Northwind",
    "Blue Harbor",
    "Kestrel",
    "Lumen",
    "Nordlicht",
    "Sakura",
    "Atlas",
    "Meridian",
    "Copperleaf",
    "Halcyon",
    "Orbital",
    "Bright Path",
    "Verdant",
    "Quantix",
    "Solstice",
    "Ironbridge",
    "Pinecrest",
    "Tidewater",
    "Evergreen",
    "Cobalt",
    "Redwood",
    "Aurora",
    "Zenith",
    "Crescent",
    "Müller & Söhne",
    "São Paulo",
    "Café Olé",
    "Fjordline",
    "Kōbe",
    "Łódź",
)
_ACCOUNT_SUFFIXES = (
    ("Logistics", "Manufacturing"),
    ("Health", "Healthcare"),
    ("Bank", "Finance"),
    ("Retail", "Retail"),
    ("Labs", "Technology"),
    ("Insurance", "Finance"),
    ("Systems", "Technology"),
    ("Foods", "Retail"),
    ("Mobility", "Manufacturing"),
    ("Clinics", "Healthcare"),
)
_LEGAL_FORMS = ("", " Inc.", " GmbH", " Ltd", " S.A.", " AB", " K.K.", " B.V.")
_LABELS = (
    "q3-okr",
    "q4-okr",
    "platform",
    "tech-debt",
    "compliance",
    "security",
    "cost-saving",
    "h2-roadmap",
    "exec-visible",
    "pilot",
    "migration",
    "gdpr",
)
_DESCRIPTIONS: tuple[str | None, ...] = (
    None,
    None,
    "Why: customers keep asking for this in QBRs.\n\nScope: see the linked one-pager.",
    "Goal: reduce manual work for the ops team by half.\n\n*Out of scope:* legacy tenants.",
    "Context in the planning doc. Success = adoption by 3 pilot customers.",
    "Dependency on Platform capacity; see risks in the kickoff notes.",
)
_SLIP_REASONS = (
    "Vendor delivered the SDK three weeks late",
    "Customer asked to move the pilot after their freeze",
    "Security review found a blocker",
    "Team lent to the incident response for two sprints",
)

_COMMENTS = (
    "Synced with {n}: blocked on legal review until next week.",
    "Moved the date: the vendor contract slipped.",
    "Decision: we go with option B, see the doc.",
    "Can we get an integrator on this? Payments and Platform both touch it.",
    "Customer asked for a date; told them end of quarter.",
    "Risk: depends on Data team capacity in the next sprint.",
    "{n} is picking this up after the offsite.",
    "Rolled out to 10% of traffic \U0001f680 no errors so far.",
    "Status: on track. Demo on Thursday.",
    "Is this still a priority? Nobody has touched it in weeks.",
)
_LEARNINGS = (
    "Demand was lower than the pilot suggested; we kept the reporting piece.",
    "The vendor could not meet our latency needs. Next time: spike first.",
    "Overlapped with the platform roadmap; merged into the identity work.",
    "Customers preferred the existing flow. Keep the research notes.",
    "Cost outweighed the benefit once usage-based pricing shipped.",
)
_HTML_SUMMARY = 'Fix <script>alert(1)</script> & "quotes" in export'
_LONG_SUMMARY = (  # about 250 characters; Jira allows 255
    "Consolidate regional billing, invoicing and dunning services used by Payments, Growth and "
    "Partnerships into one ledger-backed platform with per-tenant tax rules, multi-currency settlement, "
    "audit trails and a migration path for legacy contracts"
)


# --------------------------------------------------------------------------------------------
# Helpers


def _fold(text: str) -> str:
    """ASCII for usernames and e-mail addresses: strip accents, keep letters, digits and hyphens."""
    if text in _ASCII_OVERRIDES:
        return _ASCII_OVERRIDES[text]
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return "".join(c for c in plain if c.isascii() and (c.isalnum() or c == "-"))


def _quota(n: int, shares: Sequence[tuple[T, float]]) -> list[T]:
    """Exactly n values in the given shares (largest remainder), unshuffled."""
    raw = [n * w for _, w in shares]
    counts = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])[: n - sum(counts)]:
        counts[i] += 1
    out: list[T] = []
    for (value, _), c in zip(shares, counts, strict=True):
        out += [value] * c
    return out


@dataclass(slots=True, eq=False)
class _Person:
    first: str
    last: str
    tz: str
    display: str = ""
    username: str = ""
    email: str = ""
    team: str = ""
    title: str = ""
    account_id: str = ""
    key: str = ""
    sf_id: str = ""


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


class _Generator:
    """Plans the organisation in integer time offsets, then builds the model objects in one pass."""

    def __init__(self, seed: int, size: int, anchor: datetime) -> None:
        self.seed, self.size, self.anchor = seed, size, anchor
        self.rng = random.Random(seed)
        self.rnd: Callable[[], float] = self.rng.random
        self.anchor_ordinal = anchor.date().toordinal()
        midnight = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
        self.ms_into_day = (anchor - midnight) // timedelta(milliseconds=1)
        self.jira = new_jira_data()
        self.sf = new_salesforce_data()
        self.cf = {f.name: f.id for f in self.jira.fields.values() if f.custom}
        self.status_id = {s.name: s.id for s in self.jira.statuses.values()}
        self.teams: tuple[str, ...] = self.jira.fields[self.cf["Team"]].allowed_values
        self._date_strs: dict[int, str] = {}
        self._dates: dict[int, date] = {}
        self._status_items: dict[tuple[str, str], tuple[dict[str, Any], ...]] = {}
        self._slips = 0  # due-date moves planned so far: their reasons follow a fixed cycle, no random draws
        self._unexplained = 0  # ... of which planted without a reason

    # small, hot helpers -----------------------------------------------------------------------

    def between(self, low: int, high: int) -> int:
        """Uniform integer in [low, high]; cheaper than rng.randint."""
        return low + int(self.rnd() * (high - low + 1))

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        """Up to k distinct elements: tiny demos have fewer candidates than the shares ask for."""
        return self.rng.sample(seq, min(k, len(seq)))

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.rnd() * len(seq))]

    def other_than(self, pool: Sequence[_Person], person: _Person | None) -> _Person:
        """Someone from pool who is not person (pools hold at least two people)."""
        choice = self.pick(pool)
        while choice is person:
            choice = self.pick(pool)
        return choice

    def dt(self, ago_ms: int) -> datetime:
        seconds, ms = divmod(ago_ms, 1000)
        return self.anchor - timedelta(0, seconds, ms * 1000)  # int arguments: the fast path

    def day_str(self, offset: int) -> str:
        """The "YYYY-MM-DD" of the anchor's date plus offset days, cached (strings are immutable)."""
        s = self._date_strs.get(offset)
        if s is None:
            s = self._date_strs[offset] = date.fromordinal(self.anchor_ordinal + offset).isoformat()
        return s

    def day(self, offset: int) -> date:
        d = self._dates.get(offset)
        if d is None:
            d = self._dates[offset] = date.fromordinal(self.anchor_ordinal + offset)
        return d

    def day_of(self, ago_ms: int) -> int:
        """Day offset (<= 0) of a time given in ms before the anchor."""
        return (self.ms_into_day - ago_ms) // DAY_MS

    # the run ------------------------------------------------------------------------------------

    def run(self) -> Demo:
        self.make_people()
        self.make_salesforce_users_and_accounts()
        plans = self.plan_issues()
        self.build_issues(plans)
        self.make_opportunities(plans)
        self.make_delivers_links(plans)
        return Demo(self.jira, self.sf, self.summarise())

    # people -------------------------------------------------------------------------------------

    def make_people(self) -> None:
        rnd, rng = self.rnd, self.rng
        n = max(12, round(self.size / 10))
        raw: list[tuple[str, str, str]] = list(_CURATED[:n])
        while len(raw) < n:
            firsts, lasts, zones = self.pick(_NAME_GROUPS)
            tz = self.pick(zones) if rnd() < 0.8 else self.pick(_CURATED)[2]
            raw.append((self.pick(firsts), self.pick(lasts), tz))
        emails: Counter[str] = Counter()
        usernames: Counter[str] = Counter()
        people: list[_Person] = []
        for i, (first, last, tz) in enumerate(raw):
            f, la = _fold(first), _fold(last)
            local = f"{f.replace('-', '')}.{la.replace('-', '')}"
            user = f[0] + la.replace("-", "")
            emails[local] += 1
            usernames[user] += 1
            if emails[local] > 1:
                local += str(emails[local])
            if usernames[user] > 1:
                user += str(usernames[user])
            hexid = f"{rng.getrandbits(128):032x}"
            people.append(
                _Person(
                    first,
                    last,
                    tz,
                    display=f"{first} {last}",
                    username=user,
                    email=f"{local}@example.com",
                    account_id=f"712020:{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}",
                    key=f"JIRAUSER{10100 + i}",
                )
            )
        # teams: sizes by weight (at least 2 each), members shuffled in; the first member leads
        weights = [(t, _TEAM_WEIGHTS.get(t, 1.0)) for t in self.teams]
        total = sum(w for _, w in weights)
        sizes = dict(Counter(_quota(n - 2 * len(weights), [(t, w / total) for t, w in weights])))
        order = list(range(n))
        rng.shuffle(order)
        self.members: dict[str, list[_Person]] = {}
        pos = 0
        for team in self.teams:
            count = 2 + sizes.get(team, 0)
            self.members[team] = [people[j] for j in order[pos : pos + count]]
            pos += count
            for k, person in enumerate(self.members[team]):
                person.team = team
                person.title = f"Head of {team}" if k == 0 else self.pick(_TITLES.get(team, ("Engineer",)))
        self.people = people
        self.sales = [p for t in _SALES_TEAMS if t in self.members for p in self.members[t]] or people

        hexid = f"{rng.getrandbits(128):032x}"
        self.bot = JiraUser(
            account_id=f"712020:{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}",
            name=BOT_EMAIL,  # e-mail-style usernames are common on Data Center; one login for both flavours
            key="JIRAUSER10000",
            display_name=BOT_NAME,
            email=BOT_EMAIL,
        )
        users = self.jira.users
        users[self.bot.account_id] = self.bot
        for p in people:
            users[p.account_id] = JiraUser(p.account_id, p.username, p.key, p.display, p.email, True, p.tz)

    # salesforce users and accounts -----------------------------------------------------------------

    def sys_fields(self, created: int, creator: str, modified: int, modifier: str) -> dict[str, Any]:
        when = self.dt(modified)
        return {
            "CreatedDate": self.dt(created),
            "CreatedById": creator,
            "LastModifiedDate": when,
            "LastModifiedById": modifier,
            "SystemModstamp": when,
        }

    def make_salesforce_users_and_accounts(self) -> None:
        sf, between = self.sf, self.between
        user_t, account_t = sf.types["User"], sf.types["Account"]
        users = sf.records["User"]
        self.bot_sf_id = sf.new_id(user_t)
        users[self.bot_sf_id] = {
            "Id": self.bot_sf_id,
            **self.sys_fields(1200 * DAY_MS, self.bot_sf_id, 1200 * DAY_MS, self.bot_sf_id),
            "Username": BOT_EMAIL + ".demo",
            "Name": BOT_NAME,
            "FirstName": "trackerbridge",
            "LastName": "bot",
            "Email": BOT_EMAIL,
            "IsActive": True,
            "Title": "Integration User",
            "Department": None,
        }
        for p in self.people:
            p.sf_id = sf.new_id(user_t)
            created = between(400, 1100) * DAY_MS + between(0, DAY_MS)
            users[p.sf_id] = {
                "Id": p.sf_id,
                **self.sys_fields(
                    created, self.bot_sf_id, created - between(0, 300 * DAY_MS), self.bot_sf_id
                ),
                "Username": p.email + ".demo",
                "Name": p.display,
                "FirstName": p.first,
                "LastName": p.last,
                "Email": p.email,
                "IsActive": True,
                "Title": p.title,
                "Department": p.team,
            }
        n = max(6, round(self.size / 8))
        seen: Counter[str] = Counter()
        self.accounts: list[tuple[str, str, _Person]] = []  # (id, name, owner)
        records = sf.records["Account"]
        for _ in range(n):
            suffix, industry = self.pick(_ACCOUNT_SUFFIXES)
            name = f"{self.pick(_ACCOUNT_STEMS)} {suffix}{self.pick(_LEGAL_FORMS)}"
            seen[name] += 1
            if seen[name] > 1:
                name += f" ({seen[name]})"
            owner = self.pick(self.sales)
            rid = sf.new_id(account_t)
            created = between(200, 1500) * DAY_MS + between(0, DAY_MS)
            records[rid] = {
                "Id": rid,
                **self.sys_fields(created, owner.sf_id, between(DAY_MS, 200 * DAY_MS), owner.sf_id),
                "Name": name,
                "OwnerId": owner.sf_id,
                "Industry": industry,
                "Type": self.pick(("Prospect", "Customer - Direct", "Customer - Direct", "Partner")),
            }
            self.accounts.append((rid, name, owner))

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
            slots = [
                (person, owned // m + (1 if k < owned % m else 0)) for k, person in enumerate(self.members[t])
            ]
            targets[t] = [*slots, (None, unowned)]
        # should the ok teams overflow (they do not at the default shares), the overloaded take it
        for k in range(overflow):
            person = overloaded[k % len(overloaded)] if overloaded else None
            targets[person.team if person else over_teams[0]].append((person, 1))
        it = iter(ops)
        for t in [*over_teams, *ok_teams]:
            for person, count in targets[t]:
                for _ in range(count):
                    p = next(it, None)
                    if p is None:
                        break
                    p.assignee, p.team = person, t
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
            return {"field": "duedate", "fieldtype": "jira", "from": old_s, "fromString": old_s + " 00:00:00.0",
                    "to": new_s, "toString": new_s + " 00:00:00.0"}

        reason = {"field": "Slip reason", "fieldtype": "custom", "fieldId": self.cf["Slip reason"], "from": None,
                  "fromString": None, "to": None, "toString": text}
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
        stages = ["Closed Won"] * n_won + _quota(
            self.n_opp - n_won, [(s, w / total) for s, w in stage_shares]
        )
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
        drift_candidates = [
            p for p in handoffs if p.updated > SYNC_WINDOW_DAYS * DAY_MS and p.assignee is not None
        ]
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
                1
                for i in self.jira.issues.values()
                if any(lb.startswith("tb-waive-") for lb in i.fields["labels"])
            ),
            gaps=count_gaps(self.jira, self.sf, self.anchor, team_capacity),
            team_capacity=team_capacity,
            bot_account_id=self.bot.account_id,
            bot_user_id=self.bot_sf_id,
        )


def count_gaps(
    jira: JiraData, sf: SalesforceData, anchor: datetime, team_capacity: dict[str, int]
) -> dict[str, int]:
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
    return f[cf["Commitment"]] == "Yes" and APPROVAL_LABEL not in f["labels"] and any(
        item["field"] == "duedate" for h in issue.changelog for item in h.items
    )


def _slipped_without_reason(issue: Issue, current_reason: str | None) -> bool:
    """TB117's definition (defaults: a reason within 24 hours before the latest move or after it), counted
    from the raw changelog: due dates are YYYY-MM-DD strings, so they compare as text."""
    moves = [h.created for h in issue.changelog for item in h.items
             if item["field"] == "duedate" and item["from"] and item["to"] and item["to"] > item["from"]]
    if not moves or issue.fields["duedate"] is None:
        return False
    first = next(item["from"] or item["to"] for h in sorted(issue.changelog, key=lambda h: h.created)
                 for item in h.items if item["field"] == "duedate")
    if issue.fields["duedate"] <= first:
        return False
    reasons = sorted(((h.created, item["toString"]) for h in issue.changelog for item in h.items
                      if item["field"] == "Slip reason"), key=itemgetter(0))
    if not reasons:
        return not (current_reason or "").strip()
    given = [text for at, text in reasons if at >= max(moves) - timedelta(hours=24)]
    return not (given and (given[-1] or "").strip())


def _salesforce_user_ids(jira: JiraData, sf: SalesforceData) -> dict[str | None, str | None]:
    """Jira account id -> Salesforce User Id, matched by e-mail (how the mapping resolves people)."""
    by_email = {u["Email"].casefold(): uid for uid, u in sf.records["User"].items()}
    return {u.account_id: by_email.get(u.email.casefold()) for u in jira.users.values()}
