"""Salesforce field history for the mapping's `history: true`: slips (TB117) and commitments read it like Jira's
changelog.

Salesforce keeps the changes of tracked fields in a history object beside the record's (Object Reference,
OpportunityFieldHistory:
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_opportunityfieldhistory.htm;
custom objects' `<Object>__History` with `ParentId`, SOQL and SOSL Developer Guide, "Using Relationship Queries with
History Objects": https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_relationships_query_hist.htm).
A row has the parent's Id, `Field` (API name), `OldValue`, `NewValue`, `CreatedDate` and `CreatedById`.

Calls: one query per `CHUNK` records read (`<parent column> IN (...)` with at most 200 Ids keeps the GET well under
Salesforce's 16,384-character URI limit), plus a queryMore per 2,000 history rows; only the requested fields' rows
(`Field IN (...)`). A subquery of the `Histories` relationship in the records' own query would save those calls (a
parent whose child rows overflow the first batch still needs a queryMore of its own); it is not used because the
sandbox's SOQL has no subqueries yet, and it keeps the record query (and its paging) unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from simple_salesforce.format import format_soql

from trackerbridge.connectors.base import RawRecord
from trackerbridge.model import Person

CHUNK = 200
UNTRACKABLE = frozenset({"id", "createddate", "createdbyid", "lastmodifieddate", "lastmodifiedbyid", "systemmodstamp"})


def history_source(sobject: str) -> tuple[str, str]:
    """(history object, its column holding the record's Id), as Salesforce names them."""
    if sobject.casefold() == "opportunity":
        return "OpportunityFieldHistory", "OpportunityId"
    if sobject.casefold().endswith("__c"):
        return f"{sobject[:-3]}__History", "ParentId"
    return f"{sobject}History", f"{sobject}Id"


def history_soql(sobject: str, ids: Sequence[str], fields: Sequence[str]) -> str:
    history, parent = history_source(sobject)
    return format_soql(
        "SELECT {parent:literal}, Field, OldValue, NewValue, CreatedDate, CreatedById, CreatedBy.Name, "
        "CreatedBy.Email FROM {history:literal} WHERE {parent:literal} IN {ids} AND Field IN {fields} "
        "ORDER BY {parent:literal}, CreatedDate",
        parent=parent,
        history=history,
        ids=list(ids),
        fields=list(fields),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def entries(
    rows: Iterable[dict[str, Any]], sobject: str, parse: Callable[[str], datetime]
) -> dict[str, list[dict[str, Any]]]:
    """Record Id (15 characters, as ids compare) -> its changes in the changelog shape the mapping reads, oldest
    first: {"created", "author", "items": [{"field", "from", "to", "fromString", "toString"}]}."""
    parent = history_source(sobject)[1]
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        at, owner = row.get("CreatedDate"), row.get(parent)
        if not isinstance(at, str) or not isinstance(owner, str):
            continue
        by = row.get("CreatedBy")
        by = by if isinstance(by, dict) else {}
        author = Person(email=by.get("Email") or None, name=by.get("Name") or None, ref=_text(row.get("CreatedById")))
        old, new = row.get("OldValue"), row.get("NewValue")
        out.setdefault(owner[:15], []).append(
            {
                "created": parse(at),
                "author": author,
                "items": [
                    {
                        "field": row.get("Field"),
                        "from": old,
                        "to": new,
                        "fromString": _text(old),
                        "toString": _text(new),
                    }
                ],
            }
        )
    for changes in out.values():
        changes.sort(key=lambda c: c["created"])
    return out


def with_history(
    records: Iterator[RawRecord],
    sobject: str,
    fields: Sequence[str],
    query: Callable[[str], list[dict[str, Any]]],
    parse: Callable[[str], datetime],
) -> Iterator[RawRecord]:
    """The records, each with its field history, asked `CHUNK` records at a time."""
    wanted = list(dict.fromkeys(f for f in fields if f.casefold() not in UNTRACKABLE))
    batch: list[RawRecord] = []

    def flush() -> Iterator[RawRecord]:
        found = entries(query(history_soql(sobject, [r.key for r in batch], wanted)), sobject, parse) if wanted else {}
        for r in batch:
            yield replace(r, history=found.get(r.key[:15], []))
        batch.clear()

    for record in records:
        batch.append(record)
        if len(batch) >= CHUNK:
            yield from flush()
    if batch:
        yield from flush()
