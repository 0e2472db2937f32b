"""Salesforce Users for people: the active User with the person's e-mail, or a User Id they carry."""

from __future__ import annotations

from collections.abc import Iterable

from simple_salesforce.format import format_soql

from trackerbridge.connectors.base import ConnectorError
from trackerbridge.connectors.errors import STOPS
from trackerbridge.connectors.record_write import chunked, unique
from trackerbridge.connectors.salesforce.bodies import COLLECTION_MAX, same_record
from trackerbridge.connectors.salesforce.client import SalesforceClient
from trackerbridge.connectors.salesforce.values import RECORD_ID, field_value
from trackerbridge.model import Person

USER_PREFIX = "005"  # the key prefix of User ids
EMAIL_CHUNK = 100  # addresses per user lookup: the query travels in the URL (16 KB at most)


class SalesforcePeople(SalesforceClient):
    """People to User Ids (the attributes are set by `SalesforceQuery.__init__`)."""

    _people: dict[str, str | None]
    _people_why: dict[str, str]

    def resolve_people(self, people: Iterable[Person]) -> dict[str, str]:
        """Person.identity -> the Id of the active User with that e-mail (one SOQL per 100 addresses),
        cached for the connector's life. A person without an e-mail is matched by a User Id they
        already carry. Two active users with one address are ambiguous: left out, with the reason."""
        wanted = unique(people)
        todo = [p for p in wanted if p.identity not in self._people]
        by_email: dict[str, list[Person]] = {}
        by_id: dict[str, list[Person]] = {}
        for p in todo:
            if p.email:
                by_email.setdefault(p.email.casefold(), []).append(p)
            elif p.ref and RECORD_ID.fullmatch(p.ref) and p.ref.startswith(USER_PREFIX):
                by_id.setdefault(same_record(p.ref), []).append(p)
            else:
                self._people[p.identity] = None
        self._match_users(by_email, "Email", EMAIL_CHUNK)
        self._match_users(by_id, "Id", COLLECTION_MAX)
        return {p.identity: ref for p in wanted if (ref := self._people.get(p.identity))}

    def _match_users(self, wanted: dict[str, list[Person]], column: str, size: int) -> None:
        """Look active users up by `column` (Email or Id) and cache what each person resolves to."""
        keys = sorted(wanted)
        for chunk in chunked(keys, size):
            soql = format_soql(
                "SELECT Id, Email FROM User WHERE IsActive = true AND {column:literal} IN {values}",
                column=column,
                values=list(chunk),
            )
            try:
                rows = self._query(soql, "the user lookup")
            except STOPS:
                raise
            except ConnectorError as exc:
                for key in chunk:
                    for p in wanted[key]:
                        self._people_why[p.identity] = str(exc)
                continue
            found: dict[str, set[str]] = {}
            for row in rows:
                value = field_value(row, column)
                if isinstance(value, str):
                    key = value.casefold() if column == "Email" else same_record(value)
                    found.setdefault(key, set()).add(str(row["Id"]))
            for key in chunk:
                ids = found.get(key, set())
                for p in wanted[key]:
                    self._people[p.identity] = next(iter(ids)) if len(ids) == 1 else None
                    self._people_why.pop(p.identity, None)
                    if len(ids) > 1:
                        self._people_why[p.identity] = f"{len(ids)} active users share that e-mail address"
