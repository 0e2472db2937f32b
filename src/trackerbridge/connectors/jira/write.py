"""Writing to Jira issues: fields and labels by PUT (or bulk edit, `bulk`), notes as comments that land
at most once, and a re-read of synced fields right before they are written."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any
from urllib.parse import quote

import requests

from trackerbridge.activity import STAMP_KEY, stamp_value
from trackerbridge.changes import Note, Outcome, RecordChange
from trackerbridge.connectors.base import ConnectorError, FieldInfo
from trackerbridge.connectors.errors import STOPS, backoff, note_attempts, retry_after
from trackerbridge.connectors.http import RETRY_STATUSES
from trackerbridge.connectors.jira.bodies import comment_body, edit_body, has_marker
from trackerbridge.connectors.jira.bulk import BulkWriter, _Stopped
from trackerbridge.connectors.jira.errors import error_detail
from trackerbridge.connectors.jira.people import JiraPeople
from trackerbridge.connectors.jira.values import int_or, normalise
from trackerbridge.connectors.record_write import (
    WriteError,
    changed_since_read,
    people_of,
    synced_fields,
)

_RETRIED = frozenset(RETRY_STATUSES)  # a note-carrying request that got one of these is checked for, then resent


class JiraWriter(JiraPeople):
    """`apply` and what it needs (the attributes are set by `JiraConnector.__init__`)."""

    comment_page: int
    bulk_edit: bool
    bulk: BulkWriter
    _notify: bool | None
    _probe_lock: threading.Lock
    _bulk_allowed: bool | None
    _issue_ids: dict[str, int]
    _option_ids: dict[str, dict[str, str]]

    def apply(
        self, changes: Sequence[RecordChange], fields: Mapping[str, FieldInfo], *, recheck_synced: bool = False
    ) -> Iterator[Outcome]:
        """One call per changed issue: a PUT with its fields and label add/remove operations (with
        notifyUsers=false), carrying its note's comment as an `update.comment` add when it has one
        (then with Jira's usual notifications: the comment is meant to be seen); a note alone is a
        POST comment. At most one comment per marker: the comments are read first only for notes an
        earlier run may have posted (`Note.maybe_posted`), or after a failure that may have landed.
        `max_workers` issues at a time, outcomes in the order they complete. A spent quota, rejected
        credentials or an unreachable site stop the run: the outcomes already known are yielded,
        then the error is raised."""
        todo = list(changes)
        if not todo:
            return
        self._connect()
        cloud = self.flavor == "cloud"
        if cloud and self.bulk_edit and self.bulk.worth(todo) and self._may_bulk():
            groups, todo = self.bulk.split(todo, fields)
            if groups:
                stopping = threading.Event()
                try:
                    yield from self.bulk.write(groups, stopping)
                except _Stopped:
                    return
            if not todo:
                return
        refs = self.resolve_people(people_of(todo, mentions=False))  # mentions: only for comments still to post
        with self._people_lock:
            why = dict(self._people_why)
        stop = threading.Event()
        stopped: list[ConnectorError] = []
        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="tb-jira-apply")
        try:
            futures = [pool.submit(self._apply_one, c, fields, refs, why, cloud, stop, recheck_synced) for c in todo]
            for future in as_completed(futures):
                outcome, error = future.result()
                if error is not None and not stopped:
                    stopped.append(error)
                    stop.set()  # issues not yet started come back at once, untouched
                if outcome is not None:
                    yield outcome
        finally:
            stop.set()  # also when the caller stops iterating: start nothing new
            pool.shutdown(wait=True, cancel_futures=True)
        if stopped:
            raise stopped[0]

    def _apply_one(
        self,
        change: RecordChange,
        fields: Mapping[str, FieldInfo],
        refs: Mapping[str, str],
        why: Mapping[str, str],
        cloud: bool,
        stop: threading.Event,
        recheck_synced: bool = False,
    ) -> tuple[Outcome | None, ConnectorError | None]:
        """The outcome of one issue, and the error that should stop the run (if one did).

        One call in the common case: the edit carries the first note's comment. The comments are
        read first only when a note may be there already; a note with no edit to ride in (or a
        second note) is a POST of its own."""
        if stop.is_set():
            return None, None
        key = change.key
        try:
            body = edit_body(change, fields, refs, cloud=cloud, why=why)
        except WriteError as exc:
            return Outcome(self.name, key, False, str(exc)), None
        if body and change.stamp:  # this write is trackerbridge's: say so, and what it judged on
            body["properties"] = [{"key": STAMP_KEY, "value": stamp_value(change.activity, self._server_now())}]
        posted: list[str] = []  # markers now on the issue
        own = change.connector == self.name  # its owner was read from this site
        try:
            if body:
                moved = self._changed_since_read(key, change, fields) if recheck_synced else None
                if moved is not None:
                    return Outcome(self.name, key, False, moved), None
            notes = self._unposted(key, change.notes, posted)
            if body and notes:
                if self._edit_noting(key, body, self._note_text(notes[0], cloud, own), notes[0].marker):
                    posted.append(notes[0].marker)
                    notes = notes[1:]
            elif body:
                self._edit(key, body)
        except STOPS as exc:
            stop.set()  # now, not when the caller gets to this result: the next issue must not start
            return None, exc
        except (ConnectorError, WriteError) as exc:
            error = self._record_error(exc, change) if body else f"note not posted: {self._record_error(exc, change)}"
            return Outcome(self.name, key, False, error, tuple(posted)), None
        try:
            for note in notes:
                self._post_comment(key, self._note_text(note, cloud, own), note.marker)
                posted.append(note.marker)
        except (ConnectorError, WriteError) as exc:
            done = "fields written; " if body else ""
            error = f"{done}note not posted: {self._record_error(exc, change)}"
            outcome = Outcome(self.name, key, False, error, tuple(posted))
            if isinstance(exc, STOPS):
                stop.set()
                return (outcome if body or posted else None), exc
            return outcome, None
        return Outcome(self.name, key, True, None, tuple(posted)), None

    def _may_bulk(self) -> bool:
        """Whether the signed-in user holds the Bulk change global permission (asked once per connector):
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-permissions/#api-rest-api-3-mypermissions-get"""
        if self._bulk_allowed is None:
            what = "asking for the Bulk change permission"
            params = {"permissions": "BULK_CHANGE"}
            response = self._request(what, "GET", "mypermissions", params=params, accept=(400, 404))
            answer = self._json(what, response) if response is not None and response.ok else None
            perms = answer.get("permissions") if isinstance(answer, dict) else None
            entry = perms.get("BULK_CHANGE") if isinstance(perms, dict) else None
            self._bulk_allowed = isinstance(entry, dict) and entry.get("havePermission") is True
        return self._bulk_allowed

    def _load_option_ids(self, fid: str) -> None:
        """The option ids of a select field, from its global context (bulk edit names options by id):
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-custom-field-options/"""
        base = f"field/{quote(fid, safe='')}/context"
        what = f"reading the contexts of {fid}"
        listed = self._json(what, self._request(what, "GET", base, accept=(403, 404)))
        values = listed.get("values") if isinstance(listed, dict) else None
        ctx = next((c for c in values or [] if isinstance(c, dict) and c.get("isGlobalContext") and c.get("id")), None)
        if ctx is None:
            return
        what = f"reading the options of {fid}"
        path = f"{base}/{quote(str(ctx['id']), safe='')}/option"
        answer = self._json(what, self._request(what, "GET", path, accept=(403, 404)))
        known = self._option_ids.setdefault(fid, {})
        for o in (answer.get("values") if isinstance(answer, dict) else None) or []:
            if isinstance(o, dict) and o.get("id") and o.get("value") and not o.get("disabled"):
                known.setdefault(str(o["value"]), str(o["id"]))

    def _changed_since_read(self, key: str, change: RecordChange, fields: Mapping[str, FieldInfo]) -> str | None:
        """Re-read the synced fields the change writes (only those: the verdict fields are
        trackerbridge's outright) and say which a person changed since the read, if any."""
        watched = synced_fields(change)
        if not watched:
            return None
        what = f"re-reading {key} before writing synced fields"
        params = {"fields": ",".join(fc.field for fc in watched)}
        raw = self._json(what, self._request(what, "GET", f"issue/{quote(key, safe='')}", params=params))
        values = raw.get("fields") if isinstance(raw, dict) else None
        values = values if isinstance(values, dict) else {}
        now = {fc.field: normalise(values.get(fc.field), fields[fc.field]) for fc in watched}
        return changed_since_read(watched, now)

    def _edit(self, key: str, body: dict[str, Any]) -> None:
        """PUT issue/{key}?notifyUsers=false. Data Center refuses notifyUsers=false without admin
        rights (Cloud ignores it): then the issue is sent again without it, and so is every other."""
        what = f"editing {key}"
        path = f"issue/{quote(key, safe='')}"
        if self._notify is None:
            with self._probe_lock:  # one probe per run: the other workers wait for its answer
                if self._notify is None:
                    self._probe_edit(key, body)
                    return
        if self._notify is False:
            self._request(what, "PUT", path, body=body)
            return
        self._request(what, "PUT", path, params={"notifyUsers": "false"}, body=body)

    def _probe_edit(self, key: str, body: dict[str, Any]) -> None:
        """The first edit of a run asks for notifyUsers=false and learns from the answer whether it may."""
        what = f"editing {key}"
        path = f"issue/{quote(key, safe='')}"
        response = self._request(what, "PUT", path, params={"notifyUsers": "false"}, body=body, accept=(400, 403))
        assert response is not None
        if response.ok:
            self._notify = True
            return
        detail = error_detail(response)
        if response.status_code == 403 or "notif" in detail.casefold():
            self._request(what, "PUT", path, body=body)
            self._notify = False
            return
        self._raise_http(response.status_code, response, what, search=False, token=False, read=0, text=detail)

    def _edit_noting(self, key: str, body: dict[str, Any], text: str, marker: str) -> bool:
        """PUT issue/{key} with the fields and, in the same edit, the note's comment: an `update.comment`
        add, as Jira's Edit issue takes it next to `fields` and label operations. Sent with Jira's usual
        notifications (no notifyUsers=false): the comment is meant to reach the owner and the watchers.
        Not idempotent any more, so it goes through `_send_note`. False when Jira refuses a comment in
        this edit (a 400 naming `comment`): the fields are then written alone, the note left to a POST."""
        what = f"editing {key}"
        path = f"issue/{quote(key, safe='')}"
        update = {**body.get("update", {}), "comment": [{"add": {"body": text}}]}
        response = self._send_note(key, what, "PUT", path, {**body, "update": update}, marker, accept=(400,))
        if response is None or response.ok:
            return True
        if _refuses_comment(response):
            self._edit(key, body)
            return False
        detail = error_detail(response)
        self._raise_http(response.status_code, response, what, search=False, token=False, read=0, text=detail)

    def _unposted(self, key: str, notes: Sequence[Note], posted: list[str]) -> list[Note]:
        """The notes still to post, one per marker. The comments are read (once) only when a note may
        be there already (`Note.maybe_posted`: a crashed run's); the markers found go into `posted`."""
        todo = list({n.marker: n for n in reversed(notes)}.values())[::-1]  # the first of each marker
        if not any(n.maybe_posted for n in notes):
            return todo
        bodies = self._comment_bodies(key)
        there = {n.marker for n in todo if any(has_marker(b, n.marker) for b in bodies)}
        posted.extend(n.marker for n in todo if n.marker in there)
        return [n for n in todo if n.marker not in there]

    def _note_text(self, note: Note, cloud: bool, own: bool) -> str:
        """The note's comment. Its owner is mentioned by the reference they already carry when they
        were read from this site (`own`: accountId on Cloud, username on Data Center), without a call;
        a person with no such reference (e-mail or name only) is looked up, once per run."""
        person = note.mention
        ref = None
        if person is not None:
            ref = person.ref if own and person.ref else self.resolve_people([person]).get(person.identity)
        return comment_body(note, ref, cloud=cloud)

    def _comment_bodies(self, key: str) -> list[Any]:
        """Every comment body of the issue, page by page."""
        what = f"reading the comments of {key}"
        bodies: list[Any] = []
        start = 0
        while True:
            params = {"startAt": start, "maxResults": self.comment_page}
            body = self._json(what, self._request(what, "GET", f"issue/{quote(key, safe='')}/comment", params=params))
            comments = body.get("comments") if isinstance(body, dict) else None
            if not isinstance(comments, list):
                raise ConnectorError(f"jira {self.name!r}: the comments of {key} came without a comment list")
            bodies += [c.get("body") for c in comments if isinstance(c, dict)]
            start += len(comments)
            if not comments or start >= int_or(body.get("total"), start):
                return bodies

    def _post_comment(self, key: str, text: str, marker: str) -> None:
        """POST one comment (a note with no edit to ride in), through `_send_note`: at most once."""
        what = f"commenting on {key}"
        self._send_note(key, what, "POST", f"issue/{quote(key, safe='')}/comment", {"body": text}, marker)

    def _send_note(
        self,
        key: str,
        what: str,
        method: str,
        path: str,
        body: dict[str, Any],
        marker: str,
        *,
        accept: Iterable[int] = (),
    ) -> requests.Response | None:
        """Send a request that adds the comment carrying `marker`, so that the comment lands once.

        Never resent blindly: the retry layer keeps out (`once`), and after a 5xx or a dropped
        connection (it may have landed) the comments are read, and it is sent again only if the
        marker is not there. A 429 was not carried out: it is sent again after Retry-After without a
        read. Returns the answer (a success, or a status in `accept` for the caller), or None when
        the marker showed that a failed-looking attempt had landed."""
        attempts = note_attempts(self._retry)
        look = False  # whether an earlier attempt may have landed
        response: requests.Response | None = None
        for attempt in range(attempts):
            if look and any(has_marker(b, marker) for b in self._comment_bodies(key)):
                return None
            response = self._request(
                what, method, path, body=body, accept=(*_RETRIED, *accept), uncertain=True, once=True
            )
            if response is not None and response.status_code not in _RETRIED:
                return response
            look = look or response is None or response.status_code != 429
            wait = self._note_wait(response, attempt)
            if attempt == attempts - 1 or wait is None:
                break
            time.sleep(wait)
        if response is not None:
            self._raise_http(
                response.status_code, response, what, search=False, token=False, read=0, text=response.reason
            )
        raise ConnectorError(
            f"jira {self.name!r}: the connection closed without an answer while {what}, "
            f"{attempts} times; the comment is posted by the next run if it is not there"
        )

    def _note_wait(self, response: requests.Response | None, attempt: int) -> float | None:
        """Seconds before trying a note again: Retry-After if Jira sent one, else the policy's backoff;
        None when Jira asks for longer than trackerbridge waits."""
        wait = retry_after(response)
        if wait is None:
            wait = backoff(self._retry, attempt)
        return wait if wait <= self._max_retry_after else None

    def _record_error(self, exc: Exception, change: RecordChange) -> str:
        """A record's error without the connector prefix, with field ids shown with their names."""
        text = str(exc).removeprefix(f"jira {self.name!r}: ")
        for fc in change.fields:
            if fc.name and fc.name != fc.field:
                text = text.replace(f"{fc.field}: ", f"{fc.name} ({fc.field}): ")
        return text


def _refuses_comment(response: requests.Response) -> bool:
    """Whether a 400 to an edit names the comment: Jira takes no comment in this edit (a missing
    Add comments permission, say), which says nothing about the fields."""
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return response.status_code == 400 and isinstance(errors, dict) and "comment" in errors
