"""Matching the people a sync writes to accounts on the other system, before planning.

A synced person (an opportunity's owner onto the epic's "Account owner", an epic's assignee onto the
opportunity's delivery owner) is known on each tracker by what that tracker shows: an e-mail address
where it shows one, else its own account id (Jira Cloud users who hide their address). Identity by
e-mail alone then says "different people" for the same person, and a person the target system has no
account for used to fail the whole record's write. Here the connectors are asked, once per person:

- the target's account for the source's person (by e-mail, or by the account id they carry): when it
  is the account the linked record already holds, the two mentions are one person and nothing is
  written;
- failing that, the link gives a second chance: the person the linked record holds, looked up on the
  source's system, is the source's person when it comes back as their account there;
- otherwise the person cannot be matched: the planner holds that field (reported as `sync-held`) and
  writes the rest of the record. Names alone never match anyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trackerbridge.model import Initiative, Person
from trackerbridge.planner import PeopleMatch, WriteSpec, _attribute, same
from trackerbridge.records import REFERENCE, USER
from trackerbridge.rules.base import Index, SyncBinding

if TYPE_CHECKING:
    from trackerbridge.connectors.base import Connector


@dataclass(frozen=True)
class _Pair:
    source: str  # connector of the source of truth
    target: str  # connector of the linked record
    desired: Person
    current: Person | None


def match_people(
    records: Sequence[Initiative],
    syncs: Sequence[SyncBinding],
    connectors: Mapping[str, Connector],
    mappings: Mapping[str, str],
    specs: Mapping[str, WriteSpec],
) -> PeopleMatch:
    """Which synced people are one person on both sides, and which have no account on the target. Only
    user fields on the target ask: a person synced into a text field is written as text, no account needed."""
    pairs = _pairs(records, syncs, mappings, specs)
    if not pairs:
        return PeopleMatch()
    found = _resolve(connectors, ((p.target, p.desired) for p in pairs))
    second = [p for p in pairs if found.get((p.target, p.desired.identity)) is None]
    back = _resolve(connectors, ((p.source, p.current) for p in second if p.current is not None and p.current.email))
    alike: set[frozenset[str]] = set()
    unmatched: dict[tuple[str, str], str] = {}
    for p in pairs:
        ref = found.get((p.target, p.desired.identity))
        if ref is not None:
            if p.current is not None and p.current.ref == ref:
                alike.add(frozenset((p.desired.identity, p.current.identity)))
            continue
        if p.current is not None and p.desired.ref and back.get((p.source, p.current.identity)) == p.desired.ref:
            alike.add(frozenset((p.desired.identity, p.current.identity)))  # the link tied them together
            continue
        why = connectors[p.target].people_why(p.desired)
        unmatched[(p.target, p.desired.identity)] = why or (
            f"looked up by {_by(p.desired)}"
            + (f"; {p.current.label} on the linked record is someone else" if p.current is not None else "")
        )
    return PeopleMatch(frozenset(alike), unmatched)


def _pairs(
    records: Sequence[Initiative],
    syncs: Sequence[SyncBinding],
    mappings: Mapping[str, str],
    specs: Mapping[str, WriteSpec],
) -> list[_Pair]:
    """Synced people bound for a user field whose linked record does not already show the same identity."""
    index = Index(records)
    out: dict[tuple[str, str, str, str], _Pair] = {}
    for binding in syncs:
        slot = f"sync:{binding.source_mapping}:{binding.attribute}"
        for source in records:
            if mappings.get(source.source) != binding.source_mapping or source.held:
                continue
            desired = _attribute(source, binding.attribute)
            if not isinstance(desired, Person) or not desired.identity:
                continue
            for target in index.counterparts(source):
                spec = specs.get(target.source)
                fi = spec.sync_fields.get(slot) if spec is not None else None
                if mappings.get(target.source) != binding.target_mapping or target.held or fi is None:
                    continue
                if fi.type not in (USER, REFERENCE):
                    continue
                current = target.current.get(binding.target_field)
                if same(current, desired):
                    continue
                shown = current if isinstance(current, Person) and current.identity else None
                key = (source.source, target.source, desired.identity, shown.identity if shown else "")
                out.setdefault(key, _Pair(source.source, target.source, desired, shown))
    return list(out.values())


def _resolve(
    connectors: Mapping[str, Connector], wanted: Iterable[tuple[str, Person | None]]
) -> dict[tuple[str, str], str | None]:
    """(connector, identity) -> that tracker's account reference, one batch per connector."""
    by_connector: dict[str, list[Person]] = {}
    for name, person in wanted:
        if name in connectors and person is not None:
            by_connector.setdefault(name, []).append(person)
    out: dict[tuple[str, str], str | None] = {}
    for name, people in by_connector.items():
        refs = connectors[name].resolve_people(people)
        for person in people:
            out[(name, person.identity)] = refs.get(person.identity)
    return out


def _by(person: Person) -> str:
    if person.email:
        return f"e-mail {person.email}"
    return f"account id {person.ref}" if person.ref else f"name {person.name!r}"
