"""The "turned red" notes as Salesforce Tasks, at most one per marker: the markers already there are
queried first, and a POST that may have landed is checked before it is sent again."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_soql

from trackerbridge.changes import Note, Outcome, RecordChange
from trackerbridge.connectors.errors import STOPS, backoff, maybe_sent, note_attempts
from trackerbridge.connectors.record_write import chunked
from trackerbridge.connectors.salesforce.bodies import (
    COLLECTION_MAX,
    COMPOSITE_RECORDS,
    MARKER_LIKE,
    markers_in,
    same_record,
    save_errors,
    task_record,
)
from trackerbridge.connectors.salesforce.client import SalesforceClient
from trackerbridge.connectors.salesforce.values import field_value


class SalesforceNotes(SalesforceClient):
    """Tasks for notes."""

    def _note_chunk(self, chunk: Sequence[RecordChange], refs: Mapping[str, str]) -> Iterator[Outcome]:
        """Tasks for up to 1000 records: one query per 200 for the markers already there (only on records with a
        note an earlier run may have posted, `Note.maybe_posted`; none when there is no such note),
        then the missing ones."""
        existing = self._markers([c.key for c in chunk if any(n.maybe_posted for n in c.notes)])
        wanted: list[tuple[RecordChange, Note]] = []
        asked: set[tuple[str, str]] = set()
        for change in chunk:
            have = existing.setdefault(same_record(change.key), set())
            for note in change.notes:
                ident = (same_record(change.key), note.marker)
                if note.marker not in have and ident not in asked:
                    asked.add(ident)
                    wanted.append((change, note))
        failed: dict[str, str] = {}
        for batch in chunked(wanted, COMPOSITE_RECORDS):
            for (change, note), error in zip(batch, self._create_tasks(batch, refs), strict=True):
                if error is None:
                    existing[same_record(change.key)].add(note.marker)
                else:
                    failed.setdefault(change.key, f"note {note.marker} not posted: {error}")
        for change in chunk:
            have = existing[same_record(change.key)]
            posted = tuple(dict.fromkeys(n.marker for n in change.notes if n.marker in have))
            error = failed.get(change.key)
            if error is not None and change.fields:
                error = "fields written; " + error
            yield Outcome(self.name, change.key, error is None, error, posted)

    def _markers(self, keys: Sequence[str]) -> dict[str, set[str]]:
        """Record (15-character id) -> markers of trackerbridge Tasks on it: one SOQL per 200 records."""
        out: dict[str, set[str]] = {}
        for chunk in chunked(list(dict.fromkeys(keys)), COLLECTION_MAX):
            soql = format_soql(
                "SELECT Id, WhatId, Subject FROM Task WHERE WhatId IN {ids} AND Subject LIKE {like}",
                ids=list(chunk),
                like=MARKER_LIKE,
            )
            for row in self._query(soql, "the query for notes already posted"):
                what = field_value(row, "WhatId")
                if isinstance(what, str):
                    out.setdefault(same_record(what), set()).update(markers_in(field_value(row, "Subject")))
        return out

    def _create_tasks(self, batch: Sequence[tuple[RecordChange, Note]], refs: Mapping[str, str]) -> list[str | None]:
        """POST composite/sobjects for the batch's Tasks (more than 200: collections of 200 in one
        Composite call): per Task, None (it exists now) or the error.

        A POST is never resent blindly: after a 5xx or a dropped connection the markers are queried
        again and only Tasks still missing are sent again."""
        results: list[str | None] = [None] * len(batch)
        remaining = list(range(len(batch)))
        attempts = note_attempts(self._retry)
        for attempt in range(attempts):
            if attempt:
                there = self._markers([batch[i][0].key for i in remaining])
                remaining = [
                    i for i in remaining if batch[i][1].marker not in there.get(same_record(batch[i][0].key), set())
                ]
                if not remaining:
                    return results
            records = []
            for i in remaining:
                change, note = batch[i]
                owner = refs.get(note.mention.identity) if note.mention is not None else None
                records.append(task_record(change.key, note, owner))
            action = f"creating {len(records)} Task{'s' if len(records) != 1 else ''}"
            try:
                answer = self._post_tasks(records, action)
            except (SalesforceError, requests.RequestException) as exc:
                error = self._translate(exc, action)
                if isinstance(error, STOPS):
                    raise error from None
                again = maybe_sent(exc) or (isinstance(exc, SalesforceError) and exc.status >= 500)
                if not again or attempt == attempts - 1:
                    for i in remaining:
                        results[i] = str(error)
                    return results
                time.sleep(backoff(self._retry, attempt))
                continue
            if not isinstance(answer, list) or len(answer) != len(remaining):
                for i in remaining:
                    results[i] = f"Salesforce answered {action} without one result per Task"
                return results
            for i, result in zip(remaining, answer, strict=True):
                ok = isinstance(result, dict) and result.get("success") is True
                results[i] = None if ok else save_errors(result)
            return results
        return results

    def _post_tasks(self, records: Sequence[dict[str, Any]], action: str) -> Any:
        """Create the Tasks: one collection, or up to 5 in a Composite call (never resent by the retry
        layer: the caller checks the markers before it sends again). The results, in order, as one
        collection would give them; a collection refused whole fails its Tasks with its errors."""
        body = {"allOrNone": False, "records": list(records)}
        if len(records) <= COLLECTION_MAX:
            return self._connect().restful("composite/sobjects", method="POST", json=body)
        parts: list[dict[str, Any]] = [
            {"allOrNone": False, "records": list(c)} for c in chunked(records, COLLECTION_MAX)
        ]
        answers = self._composite("POST", parts, resend=False)
        if answers is None:
            return None  # the caller reports an answer without one result per Task
        results: list[Any] = []
        for part, (status, found) in zip(parts, answers, strict=True):
            if status == 200 and isinstance(found, list) and len(found) == len(part["records"]):
                results.extend(found)
                continue
            failure = self._api_error(status, found, action)
            if isinstance(failure, STOPS):
                raise type(failure)(self._scrub(str(failure)))
            said = [{"statusCode": "ERROR", "message": self._scrub(str(failure))}]
            results.extend({"success": False, "errors": said} for _ in part["records"])
        return results
