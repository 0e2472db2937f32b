"""Jira Cloud's two-phase read (issue 15): an ids-only enhanced search, then Bulk fetch issues, concurrently.

References (Jira Cloud platform REST API):
- Search for issues using JQL enhanced search, `GET/POST /rest/api/3/search/jql`: pages of up to 5000 when only
  `id` / `key` are asked, smaller ones (100 here) with real fields:
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get
- Bulk fetch issues, `POST /rest/api/3/issue/bulkfetch`: 100 issues a request, 1000 when `fields` names the
  fields explicitly (at most 100, none returning multiple values) and `expand` has no changelog; unknown and
  hidden issues are left out of the answer, retriable failures come in `issueErrors`:
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-bulkfetch-post

When it is used: only on Cloud, only without changelogs (bulk fetch's `changelog` expand caps a request at 100
and carries at most 40 entries, so the single pass is never dearer), and only when its calls are at most the
single pass's: reads cost min(ceil(N/100), ceil(N/5000) + ceil(N/B)), with B = 100 or 1000 (`fetch_batch`), so
with B = 100 the single pass always wins. N is not known before the first call, so every read first asks the
single pass's first page (what today's read asks): when it is the last (N <= 100: every small incremental read),
the read is done in one call, as before. When it is a full page of 100 with more to come, the rest goes
two-phase: an ids-only search of the whole query, then bulk fetches of the ids the first page did not bring. That
is 1 + ceil(N/5000) + ceil((N-100)/B) calls: at most one over the two-phase minimum. A first page smaller than
100 with a token (a proxy with small pages) keeps the single pass, as does an explicit `page_size`.
With equal calls the two-phase read is still chosen: its bulk fetches run `max_workers` at a time (429s waited
out, 5xx and dropped connections resent: a fetch is safe to repeat), so the read's wall time drops.

Consistency between the phases (an issue edited or deleted after the ids search):
- an id the fetch no longer returns (deleted, moved out of view) is left out, as if the search had run after;
- an issue edited after the search comes with its newest fields, all from one answer; but then the newest
  `updated` this read reports can be later than edits it never saw (an issue that entered the scope, or was
  edited, after the search), and the next run's watermark would skip them. So when any fetched issue was
  updated at or after the search's start, one single-pass search of the scope for `updated >= start` (minus a
  minute) follows, and its copies come last (the caller keeps the newest copy of each key);
- `issueErrors` (retriable) are fetched once more; still failing, the read stops with an error (a full read that
  silently lacked records would take them for deleted).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from trackerbridge.activity import STAMP_KEY
from trackerbridge.connectors.base import ConnectorError
from trackerbridge.connectors.jira.values import to_datetime

if TYPE_CHECKING:
    from trackerbridge.connectors.jira.search import JiraConnector

SEARCH_PAGE = 100  # enhanced search with fields
IDS_PAGE = 5000  # enhanced search, ids only
FETCH = 100  # bulk fetch by default
FETCH_EFFICIENT = 1000  # bulk fetch when the request is shaped for it
FETCH_FIELDS_MAX = 100
MULTI_VALUED = frozenset({"comment", "worklog", "attachment", "issuelinks", "subtasks"})
"""Fields that return multiple values in the reference's sense (its examples: comment, worklog, attachment)."""
FOLLOW_MARGIN = timedelta(minutes=1)  # JQL compares to the minute
PROBE_ASK = 5000  # maxResults the single pass asks (Cloud answers 100 with fields)
POST_ABOVE = 2000  # characters of URL-encoded JQL above which a search goes by POST (as connectors/jira.py)


def fetch_batch(field_ids: Sequence[str], history: bool) -> int:
    """Issues a bulk fetch may ask for these fields: 1000 when the documented conditions hold, else 100."""
    ids = set(field_ids)
    if history or not ids or len(ids) > FETCH_FIELDS_MAX or ids & MULTI_VALUED:
        return FETCH
    return FETCH_EFFICIENT


def single_pass_calls(n: int) -> int:
    return max(1, math.ceil(n / SEARCH_PAGE))


def two_phase_calls(n: int, batch: int) -> int:
    return max(1, math.ceil(n / IDS_PAGE)) + math.ceil(n / batch)


def read_minimum(n: int, batch: int) -> int:
    """The fewest search/fetch calls a read of N issues can make (issue 15's formula)."""
    return min(single_pass_calls(n), two_phase_calls(n, batch))


def two_phase_pays(n: int, batch: int) -> bool:
    """Whether the two-phase read costs at most the single pass's calls for N issues (ties: two-phase, for the
    concurrency)."""
    return two_phase_calls(n, batch) <= single_pass_calls(n)


class TwoPhaseRead:
    """One connector's reads through ids-only search and bulk fetch; `stats` says what the last read did."""

    def __init__(self, connector: JiraConnector) -> None:
        self.c = connector
        self.enabled = True
        self.batch: int | None = None  # learned down to 100 if Jira refuses 1000
        self.stats: dict[str, int] = {}

    def wanted(self, ids: Sequence[str], expand: str | None) -> bool:
        """Cloud, no changelog, and a batch that can beat pages of 100 (with 100 it never does)."""
        if not self.enabled or expand or self.c._page_size is not None or self.c.flavor != "cloud":
            return False
        return self._batch(ids) > SEARCH_PAGE

    def _batch(self, ids: Sequence[str]) -> int:
        return self.batch if self.batch is not None else fetch_batch(ids, False)

    def issues(self, jql: str, ids: list[str]) -> Generator[dict[str, Any], None, None]:
        """The scope's issues as the single pass would give them (raw search/fetch JSON, `fields` and
        `properties`), oldest change first within each phase."""
        self.stats = {"probe": 0, "id_pages": 0, "fetches": 0, "vanished": 0, "follow_up": 0}
        start = self.c._server_now()
        have: set[str] = set()
        body = self._probe(jql, ids)  # the single pass's first page: when it is the last, the read is done
        issues, token = body["issues"], body.get("nextPageToken") or None
        if token is None and body.get("isLast") is False:  # promised more without a token: the single pass says so
            yield from self.c._cloud_issues(jql, ids, None)
            return
        self.stats["probe"] = 1
        newest: datetime | None = None
        for raw in issues:
            have.add(str(raw.get("id")))
            newest = _newest(newest, raw)
            yield raw
        if token is None or body.get("isLast") is True:
            return
        if len(issues) < SEARCH_PAGE:  # pages smaller than Cloud's (a proxy?): bulk fetch would not pay as planned
            yield from self.c._cloud_issues(jql, ids, None, token=token, read=len(issues))
            return
        order = [str(raw["id"]) for raw in self.c._cloud_issues(jql, ["id"], None) if raw.get("id")]
        self.stats["id_pages"] = max(1, math.ceil(len(order) / IDS_PAGE))
        todo = [i for i in dict.fromkeys(order) if i not in have]
        for raw in self._fetch_all(todo, ids):
            newest = _newest(newest, raw)
            yield raw
        if newest is not None and newest >= start - timedelta(seconds=1):  # edited after the search began
            self.stats["follow_up"] = 1
            yield from self.c._cloud_issues(self.c.jql(start - FOLLOW_MARGIN, now=self.c._server_now()), ids, None)

    def _probe(self, jql: str, ids: list[str]) -> dict[str, Any]:
        """The single pass's first page, as Jira sent it."""
        client = self.c._connect()
        body = self.c._call(
            "searching",
            partial(
                client.enhanced_search_issues,
                jql,
                nextPageToken=None,
                maxResults=PROBE_ASK,
                fields=list(ids),
                properties=STAMP_KEY,
                json_result=True,
                use_post=len(quote(jql)) > POST_ABOVE,
            ),
            search=True,
        )
        if not isinstance(body, dict) or not isinstance(body.get("issues"), list):
            raise ConnectorError(f"jira {self.c.name!r}: the search answered without an issues list")
        return body

    def _fetch_all(self, todo: list[str], ids: list[str]) -> Iterator[dict[str, Any]]:
        """Bulk fetches `max_workers` at a time, answered in the search's order (a bounded window, so memory
        holds a few batches, not the scope)."""
        size = self._batch(ids)
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        workers = max(1, min(self.c.max_workers, len(batches)))
        if workers == 1:
            for part in batches:
                yield from self._ordered(part, self._fetch(part, ids))
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="tb-jira-fetch") as pool:
            window: deque[tuple[list[str], Future[list[dict[str, Any]]]]] = deque()
            queue = iter(batches)
            try:
                for part in queue:
                    window.append((part, pool.submit(self._fetch, part, ids)))
                    if len(window) >= 2 * workers:
                        done, future = window.popleft()
                        yield from self._ordered(done, future.result())
                while window:
                    done, future = window.popleft()
                    yield from self._ordered(done, future.result())
            finally:
                for _, future in window:
                    future.cancel()

    def _ordered(self, part: list[str], issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_id = {str(raw.get("id")): raw for raw in issues}
        self.stats["vanished"] += sum(1 for i in part if i not in by_id)
        return [by_id[i] for i in part if i in by_id]

    def _fetch(self, part: list[str], ids: list[str]) -> list[dict[str, Any]]:
        """One bulk fetch (and, for its retriable failures, one more); a refused 1000 is asked again by 100."""
        what = f"fetching {len(part)} issues"
        body = {"issueIdsOrKeys": part, "fields": list(ids), "properties": [STAMP_KEY], "fieldsByKeys": False}
        response = self.c.bulk._post(what, "issue/bulkfetch", body, accept=(400,))
        self.stats["fetches"] += 1
        if response.status_code == 400 and len(part) > FETCH:
            self.batch = FETCH  # this Jira reads the conditions more narrowly: 100 from now on
            return [raw for i in range(0, len(part), FETCH) for raw in self._fetch(part[i : i + FETCH], ids)]
        if response.status_code == 400:
            self.c._raise_http(400, response, what, search=False, token=False, read=0, text=response.reason)
        answer = self.c._json(what, response)
        issues = list(answer.get("issues") or []) if isinstance(answer, dict) else []
        failed = [str(e.get("id")) for e in (answer.get("issueErrors") or []) if isinstance(e, dict)]
        if failed:
            again = self.c._json(what, self.c.bulk._post(what, "issue/bulkfetch", {**body, "issueIdsOrKeys": failed}))
            self.stats["fetches"] += 1
            errors = again.get("issueErrors") or [] if isinstance(again, dict) else []
            if errors:
                first = errors[0] if isinstance(errors[0], dict) else {}
                raise ConnectorError(
                    f"jira {self.c.name!r}: Jira could not return {len(errors)} issue(s) while {what} "
                    f"(issue {first.get('id')}: {first.get('errorMessage')}); run again"
                )
            issues += list(again.get("issues") or [])
        return issues


def _newest(newest: datetime | None, raw: dict[str, Any]) -> datetime | None:
    values = raw.get("fields")
    updated = to_datetime(values.get("updated")) if isinstance(values, dict) else None
    if updated is None or (newest is not None and newest >= updated):
        return newest
    return updated
