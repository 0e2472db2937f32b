"""The emulated Salesforce's query and queryAll, with server-side cursors (`nextRecordsUrl`) that idle out
and are capped per user as Salesforce's are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trackerbridge.sandbox.salesforce_errors import _error
from trackerbridge.sandbox.salesforce_model import to_18
from trackerbridge.sandbox.salesforce_plumbing import SalesforcePlumbing
from trackerbridge.sandbox.soql import SoqlError, SoqlQuery, compile_soql
from trackerbridge.sandbox.web import Request, Response

QUERY_DEFAULT_BATCH, QUERY_MIN_BATCH, QUERY_MAX_BATCH = 2000, 200, 2000


_LOCATOR_RE = re.compile(r"(01g[a-zA-Z0-9]{15})-(\d+)")


@dataclass
class _Cursor:
    """An open query cursor: the matching ids are fixed at query time, rows render at fetch time."""

    ids: list[str]
    query: SoqlQuery
    batch: int
    user_id: str
    last_used: datetime


class SalesforceQuery(SalesforcePlumbing):
    CURSOR_IDLE = timedelta(minutes=15)  # Salesforce closes idle query cursors after 15 minutes

    MAX_CURSORS_PER_USER = 10  # ... and keeps at most 10 open per user, dropping the oldest

    # --- query --------------------------------------------------------------------------------

    def query(self, request: Request) -> Response:
        return self._run_query(request, include_deleted=False)

    def query_all(self, request: Request) -> Response:
        return self._run_query(request, include_deleted=True)

    def _run_query(self, request: Request, *, include_deleted: bool) -> Response:
        text = request.arg("q")
        if text is None or not text.strip():
            return _error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            compiled = compile_soql(text, self.data, now=self.clock.now())
            rows = compiled.run(self.data, include_deleted=include_deleted)
        except SoqlError as exc:
            return _error(400, exc.error_code, exc.message)
        if compiled.count_only:
            return Response(200, {"totalSize": len(rows), "done": True, "records": []})
        version = self._version(request)
        batch = self._batch_size(request, QUERY_DEFAULT_BATCH)
        body: dict[str, Any] = {"totalSize": len(rows), "done": len(rows) <= batch}
        if len(rows) > batch:
            locator = self._open_cursor([r["Id"] for r in rows], compiled, batch)
            endpoint = "queryAll" if include_deleted else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{batch}"
        body["records"] = [compiled.render(r, version) for r in rows[:batch]]
        return Response(200, body)

    def query_more(self, request: Request) -> Response:
        m = _LOCATOR_RE.fullmatch(request.path_params["locator"])
        locator, offset = (m.group(1), int(m.group(2))) if m else ("", 0)
        now = self.clock.now()
        cursor = self._cursors.get(locator)
        if cursor is not None and now - cursor.last_used > self.CURSOR_IDLE:
            del self._cursors[locator]
            cursor = None
        if cursor is None or offset > len(cursor.ids):
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.last_used = now
        batch = self._batch_size(request, cursor.batch)
        version = self._version(request)
        page = cursor.ids[offset : offset + batch]
        records = []
        for record_id in page:
            record = self._stored(record_id)
            if record is not None:
                records.append(cursor.query.render(record, version))
        end = offset + len(page)
        body: dict[str, Any] = {"totalSize": len(cursor.ids), "done": end >= len(cursor.ids)}
        if end < len(cursor.ids):
            endpoint = "queryAll" if "/queryAll/" in request.path else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
        body["records"] = records
        return Response(200, body)

    def _batch_size(self, request: Request, default: int) -> int:
        """Sforce-Query-Options: batchSize=N is a hint Salesforce keeps within 200..2000."""
        m = re.search(r"batchSize\s*=\s*(\d+)", request.header("Sforce-Query-Options") or "")
        if not m:
            return default
        return min(max(int(m.group(1)), QUERY_MIN_BATCH), QUERY_MAX_BATCH)

    def _open_cursor(self, ids: list[str], compiled: SoqlQuery, batch: int) -> str:
        now = self.clock.now()
        mine = [k for k, c in self._cursors.items() if c.user_id == self._caller]
        for stale in mine[: max(len(mine) - self.MAX_CURSORS_PER_USER + 1, 0)]:
            del self._cursors[stale]
        self._cursor_serial += 1
        locator = to_18(f"01g8d00{self._cursor_serial:08d}")
        self._cursors[locator] = _Cursor(ids, compiled, batch, self._caller, now)
        return locator

    def _stored(self, record_id: str) -> dict[str, Any] | None:
        """A record as stored now, live or in the recycle bin."""
        found = self.data.get(record_id)
        if found is not None:
            return found[1]
        sobject = self.data.type_of_id(record_id)
        return self.data.deleted.get(sobject.name, {}).get(record_id) if sobject else None
