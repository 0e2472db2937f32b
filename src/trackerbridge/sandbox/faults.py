"""Seeded fault injection for the sandbox.

A fault spec is a `;`-separated list of rules, each `kind[:key=value,...]`:

    rate-limit:every=5,retry_after=1     Jira: 429 + Retry-After; Salesforce: 403 REQUEST_LIMIT_EXCEEDED
    error:rate=0.05,status=503            a 5xx response (status 500, 502, 503 or 504)
    drop:rate=0.01                        close the connection without answering (nothing was done)
    drop-reply:rate=0.01                  carry the request out, then close without answering: the
                                          client cannot tell it from `drop` (a non-idempotent write
                                          resent blindly happens twice)
    latency:ms=20                         sleep before answering (also `--latency`)

Every rule also takes `service=jira|salesforce` (default: both), `method=PUT` (default: every
method), `after=N` (skip the first N requests it sees) and `count=N` (stop after firing N
times). `every=N` fires on each Nth request the rule sees; `rate=P` fires with probability P
from a generator seeded by `--seed`, so a run with the same requests in the same order meets
the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

KINDS = ("rate-limit", "error", "drop", "drop-reply", "latency")
SERVICES = ("jira", "salesforce")


class FaultSpecError(ValueError):
    pass


@dataclass
class FaultRule:
    kind: str
    every: int | None = None
    rate: float | None = None
    status: int = 503
    retry_after: int = 1
    ms: int = 0
    service: str | None = None
    method: str | None = None
    after: int = 0
    count: int | None = None
    seen: int = 0
    fired: int = 0

    def describe(self) -> dict[str, object]:
        keys = ("kind", "every", "rate", "status", "retry_after", "ms", "service", "method", "after", "count", "fired")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


@dataclass(frozen=True)
class Fault:
    """What to do to one request; `latency_ms` applies even when `kind` is None."""

    kind: str | None = None  # "rate-limit" | "error" | "drop" | "drop-reply"
    status: int = 0
    retry_after: int = 0
    latency_ms: int = 0


def parse_fault_spec(spec: str) -> list[FaultRule]:
    rules = []
    for raw in filter(None, (part.strip() for part in spec.split(";"))):
        kind, _, params = raw.partition(":")
        kind = kind.strip()
        if kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r} in {raw!r}; expected one of {', '.join(KINDS)}")
        rule = FaultRule(kind)
        for item in filter(None, (p.strip() for p in params.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise FaultSpecError(f"expected key=value in {raw!r}, got {item!r}")
            _set_param(rule, key.strip(), value.strip(), raw)
        if kind == "latency":
            if rule.ms <= 0:
                raise FaultSpecError(f"latency needs ms=N with N > 0 in {raw!r}")
        elif rule.every is None and rule.rate is None:
            raise FaultSpecError(f"{kind} needs every=N or rate=P in {raw!r}")
        rules.append(rule)
    return rules


def _set_param(rule: FaultRule, key: str, value: str, raw: str) -> None:
    if key not in ("every", "retry_after", "ms", "after", "count", "status", "rate", "service", "method"):
        raise FaultSpecError(f"unknown fault parameter {key!r} in {raw!r}")
    try:
        if key in ("every", "retry_after", "ms", "after", "count", "status"):
            number = int(value)
            if number < (1 if key in ("every", "count") else 0):
                raise ValueError
            setattr(rule, key, number)
        elif key == "rate":
            rate = float(value)
            if not 0.0 <= rate <= 1.0:
                raise ValueError
            rule.rate = rate
        elif key == "service":
            if value not in SERVICES:
                raise ValueError
            rule.service = value
        elif key == "method":
            if not value.isalpha():
                raise ValueError
            rule.method = value.upper()
    except ValueError:
        raise FaultSpecError(f"invalid value {value!r} for {key!r} in {raw!r}") from None
    if key == "status" and rule.status not in (500, 502, 503, 504):
        raise FaultSpecError(f"status must be 500, 502, 503 or 504 in {raw!r}")


@dataclass
class FaultInjector:
    rules: list[FaultRule] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def replace(self, rules: list[FaultRule], seed: int | None = None) -> None:
        with self._lock:
            self.rules = rules
            self._rng = random.Random(self.seed if seed is None else seed)

    def decide(self, service: str, method: str | None = None) -> Fault:
        """The fault for the next request to `service` (by `method`). Every rule sees every request
        of its service and method, so each rule's `every=N` counts those; when several fire, the
        first listed wins."""
        latency = 0
        hit: FaultRule | None = None
        with self._lock:
            for rule in self.rules:
                if rule.service not in (None, service) or rule.method not in (None, method):
                    continue
                rule.seen += 1
                if rule.kind == "latency":
                    latency += rule.ms
                elif self._fires(rule) and hit is None:
                    rule.fired += 1
                    hit = rule
        if hit is None:
            return Fault(latency_ms=latency)
        return Fault(hit.kind, hit.status, hit.retry_after, latency)

    def _fires(self, rule: FaultRule) -> bool:
        if rule.seen <= rule.after or (rule.count is not None and rule.fired >= rule.count):
            return False
        if rule.every is not None:
            return (rule.seen - rule.after) % rule.every == 0
        return self._rng.random() < (rule.rate or 0.0)
