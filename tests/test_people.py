"""People a sync writes, matched across Jira and Salesforce (issue 13): one person under two identities
is not rewritten, and a person the other system has no account for is reported, never a failed record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.connectors.base import FieldInfo
from trackerbridge.model import Initiative, Link, Person
from trackerbridge.people import match_people
from trackerbridge.planner import WriteSpec
from trackerbridge.rules.base import SyncBinding
from trackerbridge.sandbox import Sandbox


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(size=120)


def sync(sb: Sandbox, project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat(), *args], env=sb.info.as_env()
    )
    return result.exit_code, result.stderr


def field_id(sb: Sandbox, name: str) -> str:
    f = sb.jira_data.field_by_clause(name)
    assert f is not None
    return f.id


def linked(sb: Sandbox) -> list[tuple[str, str]]:
    """(epic key, opportunity id) of every epic linked to an opportunity that exists."""
    link = field_id(sb, "Salesforce opportunity id")
    opportunities = sb.salesforce_data.records["Opportunity"]
    return [(k, i.fields[link]) for k, i in sb.jira_data.issues.items() if i.fields.get(link) in opportunities]


def test_people_who_hide_their_email_on_jira_are_matched_through_the_link_not_rewritten(
    sb: Sandbox, project: Path
) -> None:
    """Once Jira Cloud hides everyone's address, an epic's people are known by account id only and the
    opportunity's by e-mail: by identity they all differ. Jira's account lookup of the opportunity's
    person (e-mail) gives the account the epic holds, so nothing is rewritten and no write fails
    (before: every delivery owner's write failed, exit 4, and every account owner was written again)."""
    code, err = sync(sb, project)
    assert code in (0, 1), err
    owner_field, delivery = field_id(sb, "Account owner"), "Delivery_Owner__c"
    opportunities = sb.salesforce_data.records["Opportunity"]
    assigned = {k for k, i in sb.jira_data.issues.items() if i.fields.get("assignee")}
    pairs = [(k, o) for k, o in linked(sb) if k in assigned and opportunities[o][delivery]]
    assert len(pairs) >= 5
    sb.jira_data.hidden_emails.update(u.account_id for u in sb.jira_data.users.values())
    before = {k: (sb.jira_data.issues[k].fields.get(owner_field), opportunities[o][delivery]) for k, o in pairs}
    sb.clock.advance(timedelta(minutes=10))
    sb.accounting.reset()

    code, err = sync(sb, project, "--full")

    assert code in (0, 1), err
    assert "write-failed" not in err and "sync-held" not in err, err
    after = {k: (sb.jira_data.issues[k].fields.get(owner_field), opportunities[o][delivery]) for k, o in pairs}
    assert after == before
    edits = [r for r in sb.accounting.records() if r.service == "jira" and r.method == "PUT"]
    assert not edits, f"{len(edits)} epics rewritten with the person they already hold"


def test_a_person_the_other_system_has_no_account_for_is_reported_and_the_rest_is_written(
    sb: Sandbox, project: Path
) -> None:
    """An opportunity handed to a new salesperson who has no Jira account: the epic's "Account owner"
    keeps its value, the run names the person (`sync-held`), and the epic's health is still written
    (before: the whole epic's write failed, run after run, exit 4)."""
    code, err = sync(sb, project)
    assert code in (0, 1), err
    owner_field, health = field_id(sb, "Account owner"), field_id(sb, "Execution health")
    key, opp_id = next((k, o) for k, o in linked(sb) if sb.jira_data.issues[k].fields.get(owner_field))
    users = sb.salesforce_data.records["User"]
    template = next(u for u in users.values() if u["IsActive"] and u["Email"] != "trackerbridge-bot@example.com")
    newcomer = sb.salesforce_data.new_id(sb.salesforce_data.types["User"])
    users[newcomer] = {
        **template,
        "Id": newcomer,
        "Email": "new.seller@example.com",
        "Name": "New Seller",
        "Username": "new.seller@example.com.demo",
        "FirstName": "New",
        "LastName": "Seller",
    }
    opp = sb.salesforce_data.records["Opportunity"][opp_id]
    sb.clock.advance(timedelta(minutes=5))
    opp["OwnerId"] = newcomer
    opp["SystemModstamp"] = opp["LastModifiedDate"] = sb.clock.now()
    issue = sb.jira_data.issues[key]
    shown = issue.fields[owner_field]
    issue.fields[health] = None  # so this run has health to write on the epic
    sb.clock.advance(timedelta(minutes=5))

    result = CliRunner().invoke(
        main,
        ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat(), "--full", "--dry-run"],
        env=sb.info.as_env(),
    )
    assert f"held sandbox-jira:{key} owner: no Jira account matches New Seller" in result.stdout
    assert "; 1 synced value held (see sync-held);" in result.stdout.splitlines()[-1]
    code, err = sync(sb, project, "--full")

    assert code in (0, 1), err
    assert "write-failed" not in err, err
    [held] = [line for line in err.splitlines() if "sync-held" in line and f"target=sandbox-jira:{key}" in line]
    assert "attribute=owner" in held and "no Jira account matches New Seller" in held
    assert "new.seller@example.com" in held
    assert issue.fields[owner_field] == shown, "never blanked or guessed"
    assert issue.fields[health] in ("Green", "Amber", "Red"), "the rest of the epic is written"


class Lookups:
    """Stands in for a connector's account lookup: no account for anyone, and every question kept."""

    def __init__(self) -> None:
        self.asked: list[Person] = []

    def resolve_people(self, people: list[Person]) -> dict[str, str]:
        self.asked.extend(people)
        return {}

    def people_why(self, person: Person) -> str | None:
        return None


@pytest.mark.parametrize(("kind", "asks"), [("text", False), ("user", True)])
def test_only_a_user_field_needs_an_account(kind: str, asks: bool) -> None:
    """A person synced into a text field is written as text: no lookup, never held for want of an account."""
    owner = Person("alice@example.com", "Alice", "acc-a")
    epic = Initiative("jira", "jira", "DEL-1", "u", owner=owner, links=(Link("salesforce", "006A"),))
    opp = Initiative("sf", "salesforce", "006A", "u2", current={"Lead__c": "bob@example.com"})
    spec = WriteSpec("sf", "m-sf", sync_fields={"sync:m-jira:owner": FieldInfo("Lead__c", "Lead", kind, True)})
    binding = SyncBinding("m-jira", "m-sf", "owner", "Lead__c", "Lead", None, "ops@example.com")
    jira, sf = Lookups(), Lookups()
    found = match_people(
        [epic, opp],
        [binding],
        {"jira": jira, "sf": sf},  # type: ignore[dict-item]
        {"jira": "m-jira", "sf": "m-sf"},
        {"sf": spec},
    )
    assert (sf.asked == [owner]) is asks and jira.asked == []
    assert dict(found.unmatched) == ({("sf", owner.identity): "looked up by e-mail alice@example.com"} if asks else {})
