"""The generator's base: its random source and time helpers, the people (Jira users in teams) and the
Salesforce users and accounts.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from trackerbridge.sandbox.bot import BOT_EMAIL, BOT_NAME
from trackerbridge.sandbox.demo_words import (
    _ACCOUNT_STEMS,
    _ACCOUNT_SUFFIXES,
    _ASCII_OVERRIDES,
    _CURATED,
    _FOLD,
    _LEGAL_FORMS,
    _NAME_GROUPS,
    _SALES_TEAMS,
    _TEAM_WEIGHTS,
    _TITLES,
)
from trackerbridge.sandbox.jira_model import JiraUser, new_jira_data
from trackerbridge.sandbox.salesforce_model import new_salesforce_data

T = TypeVar("T")


DAY_MS = 86_400_000
HOUR_MS = 3_600_000


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


class _People:
    """The generator's state and small helpers, and the people and accounts the later steps pick from."""

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
                **self.sys_fields(created, self.bot_sf_id, created - between(0, 300 * DAY_MS), self.bot_sf_id),
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
