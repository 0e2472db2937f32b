"""Exact request accounting, so benchmarks count API calls by endpoint and status."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestRecord:
    service: str  # "jira" | "salesforce"
    method: str
    endpoint: str  # the route pattern, e.g. /rest/api/2/issue/{key}
    path: str  # the concrete path, without the query string
    status: int  # 0 when the connection was dropped


class Accounting:
    """Every request to a service, in arrival order. Sandbox-only endpoints are not counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self._records.append(entry)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def summary(self, *, with_requests: bool = False) -> dict[str, object]:
        records = self.records()
        by_service = Counter(r.service for r in records)
        by_endpoint = Counter((r.service, r.method, r.endpoint, r.status) for r in records)
        out: dict[str, object] = {
            "total": len(records),
            "by_service": dict(sorted(by_service.items())),
            "by_endpoint": [
                {"service": s, "method": m, "endpoint": e, "status": st, "count": n}
                for (s, m, e, st), n in sorted(by_endpoint.items())
            ],
        }
        if with_requests:
            out["requests"] = [r.__dict__ for r in records]
        return out
