"""Writing Salesforce records: sObject Collections (PATCH, 200 records each, an outcome per record), up
to 5 of them in one Composite call, then the notes as Tasks (`notes`); synced fields are re-read first.

Writes go through Composite (`POST composite`), which counts as one API call for up to 5 sObject
Collections of 200 records each, so W updates cost ceil(W/1000) calls (a single collection is sent as
its own PATCH); the "turned red" Tasks likewise, 1000 a call:
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite_post.htm
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_soql

from trackerbridge.changes import Outcome, RecordChange
from trackerbridge.connectors.base import ConnectorError, FieldInfo
from trackerbridge.connectors.errors import STOPS
from trackerbridge.connectors.record_write import (
    WriteError,
    changed_since_read,
    chunked,
    people_of,
    synced_fields,
)
from trackerbridge.connectors.salesforce.bodies import (
    COLLECTION_MAX,
    COMPOSITE_RECORDS,
    record_values,
    same_record,
    save_errors,
    update_record,
)
from trackerbridge.connectors.salesforce.notes import SalesforceNotes
from trackerbridge.connectors.salesforce.people import SalesforcePeople
from trackerbridge.connectors.salesforce.query import USER_COLUMNS, SalesforceQuery


class SalesforceWriter(SalesforceNotes, SalesforcePeople, SalesforceQuery):
    """`apply` and the re-read before it."""

    def apply(
        self, changes: Sequence[RecordChange], fields: Mapping[str, FieldInfo], *, recheck_synced: bool = False
    ) -> Iterator[Outcome]:
        """Field changes through sObject Collections (PATCH, 200 records each, allOrNone=false, an
        outcome per record), up to 5 of them in one Composite call, then notes as Tasks, at most once
        per marker. A failed call fails the records it carried and the next call is still made; a
        spent quota (or rejected session, or unreachable org) stops: the outcomes already known are
        yielded, then it is raised."""
        todo = list(changes)
        if not todo:
            return
        sobject = self._describe()["name"]
        refs = self.resolve_people(people_of(todo))
        why = dict(self._people_why)
        saving: list[tuple[RecordChange, dict[str, Any]]] = []
        noting: list[RecordChange] = []  # fields saved (or none to save): their notes come next
        for change in todo:
            try:
                values = record_values(change, fields, refs, why)
            except WriteError as exc:
                yield Outcome(self.name, change.key, False, str(exc))
                continue
            if values:
                saving.append((change, values))
            elif change.notes:
                noting.append(change)
            else:
                yield Outcome(self.name, change.key, True)
        stopped: ConnectorError | None = None
        for wave in chunked(saving, COMPOSITE_RECORDS):
            chunks = list(chunked(wave, COLLECTION_MAX))
            try:
                moved = self._changed_since_read(sobject, wave, fields) if recheck_synced else {}
            except STOPS as exc:
                stopped = exc
                break
            for change, _ in wave:
                if change.key in moved:
                    yield Outcome(self.name, change.key, False, moved[change.key])
            kept = [[item for item in chunk if item[0].key not in moved] for chunk in chunks]
            kept = [chunk for chunk in kept if chunk]
            results, stop = self._save_wave(sobject, kept) if kept else ([], None)
            for chunk, errors in zip(kept, results, strict=True):
                if errors is None:  # the wave stopped before this collection's outcome was known
                    continue
                for (change, _), error in zip(chunk, errors, strict=True):
                    if error is not None:
                        gone = error.startswith("ENTITY_IS_DELETED")  # deleted since it was read: nothing to write
                        yield Outcome(self.name, change.key, False, error, gone=gone)
                    elif change.notes:
                        noting.append(change)
                    else:
                        yield Outcome(self.name, change.key, True)
            if stop is not None:
                stopped = stop
                break
        start = 0
        while stopped is None and start < len(noting):
            try:
                yield from self._note_chunk(noting[start : start + COMPOSITE_RECORDS], refs)
            except STOPS as exc:
                stopped = exc
                break
            start += COMPOSITE_RECORDS
        if stopped is not None:
            for change in noting[start:]:
                if change.fields:  # in `noting`, fields mean saved fields
                    yield Outcome(self.name, change.key, False, f"fields written; note not posted: {stopped}")
            raise stopped

    def _changed_since_read(
        self, sobject: str, wave: Sequence[tuple[RecordChange, dict[str, Any]]], fields: Mapping[str, FieldInfo]
    ) -> dict[str, str]:
        """Records of the wave whose synced fields a person changed since the read: key -> message.
        sObject Collections has no per-record precondition, so the synced fields are re-read (only
        for records that write synced values: a query per 200, the ids travel in its URL; more than
        one query go together in one Composite call) and those records are left out."""
        watched = {c.key: w for c, _ in wave if (w := synced_fields(c))}
        if not watched:
            return {}
        described = self._describe()
        columns = {fc.field: self._column(fields[fc.field], described) for w in watched.values() for fc in w}
        names = {"id": "Id"}
        for column in columns.values():
            names.setdefault(column.name.casefold(), column.name)
            for part in USER_COLUMNS if column.relationship else ():
                names.setdefault(f"{column.relationship}.{part}".casefold(), f"{column.relationship}.{part}")
        groups = list(chunked(list(watched), COLLECTION_MAX))
        queries = [
            format_soql(
                "SELECT {names:literal} FROM {sobject:literal} WHERE Id IN {ids}",
                names=", ".join(names.values()),
                sobject=sobject,
                ids=list(ids),
            )
            for ids in groups
        ]
        action = "re-reading synced fields before writing them"
        rows: list[dict[str, Any]] = []
        failed: dict[str, str] = {}
        try:
            answers = self._reread(queries, action)
        except STOPS:
            raise
        except ConnectorError as exc:
            return {key: f"not written: {exc}" for key in watched}
        for ids, answer in zip(groups, answers, strict=True):
            if isinstance(answer, ConnectorError):
                failed.update((key, f"not written: {answer}") for key in ids)
            else:
                rows.extend(answer)
        now = {same_record(str(r.get("Id"))): self._record(r, list(columns.values())).values for r in rows}
        out = dict(failed)
        for key, w in watched.items():
            values = now.get(same_record(key))
            message = changed_since_read(w, values) if values is not None and key not in failed else None
            if message is not None:
                out[key] = message
        return out

    def _reread(self, queries: Sequence[str], action: str) -> list[list[dict[str, Any]] | ConnectorError]:
        """Each query's rows (or the error that query met): one query alone, several (5 at most) as the
        Query subrequests of one Composite call, which is one API call; a spent quota raises."""
        if len(queries) == 1:
            return [self._query(queries[0], action)]
        base = f"/services/data/v{self.api_version}"
        subrequests = [{"method": "GET", "url": f"{base}/query?q={quote(q, safe='')}"} for q in queries]
        try:
            answers = self._composite_call(subrequests, resend=True)
        except (SalesforceError, requests.RequestException) as exc:
            raise self._translate(exc, action) from None
        if answers is None:
            raise ConnectorError(f"Salesforce answered Composite without one result per query while {action}")
        out: list[list[dict[str, Any]] | ConnectorError] = []
        for status, body in answers:
            if status != 200 or not isinstance(body, dict) or not isinstance(body.get("records"), list):
                failure = self._api_error(status, body, action)
                if isinstance(failure, STOPS):
                    raise type(failure)(self._scrub(str(failure)))
                out.append(type(failure)(self._scrub(str(failure))))
                continue
            found = [r for r in body["records"] if isinstance(r, dict)]
            next_url = body.get("nextRecordsUrl")
            while not body.get("done", True) and isinstance(next_url, str):  # more than a batch: not for 200 ids
                try:
                    body = self._connect().query_more(next_url, identifier_is_url=True)
                except (SalesforceError, requests.RequestException) as exc:
                    raise self._translate(exc, action) from None
                found += [r for r in body.get("records") or [] if isinstance(r, dict)]
                next_url = body.get("nextRecordsUrl")
            out.append(found)
        return out

    def _save(self, sobject: str, chunk: Sequence[tuple[RecordChange, dict[str, Any]]]) -> list[str | None]:
        """One PATCH composite/sobjects: per record, None (saved) or Salesforce's errors. A request
        Salesforce refuses whole (400: one value it cannot even parse) is split to find the record."""
        body = {"allOrNone": False, "records": [update_record(sobject, c.key, v) for c, v in chunk]}
        action = f"saving {len(chunk)} {sobject} record{'s' if len(chunk) != 1 else ''}"
        try:
            results = self._connect().restful("composite/sobjects", method="PATCH", json=body)
        except (SalesforceError, requests.RequestException) as exc:
            error = self._translate(exc, action)
            if isinstance(error, STOPS):
                raise error from None
            if isinstance(exc, SalesforceError) and exc.status == 400 and len(chunk) > 1:
                half = len(chunk) // 2
                return self._save(sobject, chunk[:half]) + self._save(sobject, chunk[half:])
            return [str(error)] * len(chunk)
        if not isinstance(results, list) or len(results) != len(chunk):
            count = len(results) if isinstance(results, list) else "no"
            return [f"Salesforce answered {count} results for {len(chunk)} records while {action}"] * len(chunk)
        return [None if isinstance(r, dict) and r.get("success") is True else save_errors(r) for r in results]

    def _save_wave(
        self, sobject: str, chunks: Sequence[Sequence[tuple[RecordChange, dict[str, Any]]]]
    ) -> tuple[list[list[str | None] | None], ConnectorError | None]:
        """Up to 5 collections in one Composite call: per collection, its records' results (None: not
        known, the run stopped first), and the error that stops the run, if one did (the collections
        Salesforce did answer keep their results). One collection alone is its own PATCH. A collection
        Salesforce refused whole (400) is sent again alone and split to find the record (`_save`); so is
        every collection of a composite refused whole."""
        if len(chunks) == 1:
            try:
                return [self._save(sobject, chunks[0])], None
            except STOPS as exc:
                return [None], exc
        size = sum(len(c) for c in chunks)
        action = f"saving {size} {sobject} records"
        subrequests = [
            {"allOrNone": False, "records": [update_record(sobject, c.key, v) for c, v in chunk]} for chunk in chunks
        ]
        try:
            answers = self._composite("PATCH", subrequests, resend=True)
        except (SalesforceError, requests.RequestException) as exc:
            error = self._translate(exc, action)
            if isinstance(error, STOPS):
                return [None] * len(chunks), error
            if not (isinstance(exc, SalesforceError) and exc.status == 400):
                return [[str(error)] * len(chunk) for chunk in chunks], None
            answers = [(400, None)] * len(chunks)  # refused whole: each collection again alone
        if answers is None:
            message = f"Salesforce answered Composite without one result per collection while {action}"
            return [[message] * len(chunk) for chunk in chunks], None
        results: list[list[str | None] | None] = []
        again: list[int] = []
        stop: ConnectorError | None = None
        for n, chunk in enumerate(chunks):
            status, body = answers[n]
            if status == 200 and isinstance(body, list) and len(body) == len(chunk):
                results.append(
                    [None if isinstance(r, dict) and r.get("success") is True else save_errors(r) for r in body]
                )
                continue
            failure = self._api_error(status, body, action) if status >= 400 else None
            if isinstance(failure, STOPS):  # the other collections' outcomes are still known: keep them
                stop = stop or type(failure)(self._scrub(str(failure)))
                results.append(None)
                continue
            if status == 400:  # a value Salesforce cannot even parse: this collection alone, split
                again.append(n)
                results.append(None)
                continue
            message = (
                str(failure)
                if failure is not None
                else (
                    f"Salesforce answered {len(body) if isinstance(body, list) else 'no'} results for "
                    f"{len(chunk)} records while {action}"
                )
            )
            results.append([self._scrub(message)] * len(chunk))
        for n in again if stop is None else ():  # no more calls once the run must stop
            try:
                results[n] = self._save(sobject, chunks[n])
            except STOPS as exc:
                return results, exc
        return results, stop
