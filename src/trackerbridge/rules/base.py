"""What a rule is, what it finds, and what it may look at.

Rules are pure: a function of initiatives, parameters and an injected `now`. Record rules see
one initiative at a time; set rules (capacity, hand-offs, drift) see the whole set once.

A rule has a lifecycle, as in ruff: `stable` rules run when selected (by prefix too); `preview`
rules only when selected by their exact code or name, or with `rules.preview: true`; `deprecated`
rules run and warn; `removed` rules never run, and naming one is an error that names its
replacement. A renamed rule lists its earlier codes (and names) in `redirects`: selecting, ignoring
or waiving an old code means the new one, with a warning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from trackerbridge.model import Initiative, Link

DOCS = "https://github.com/trackerbridge/trackerbridge/blob/main/docs/rules.md"  # the built-ins' documentation
CODE_PATTERN = r"^TB\d{3}$"
NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"


class ParamError(ValueError):
    """A parameter value a rule cannot work with (an unknown time zone, a capacity that is no number): a
    configuration error (exit 2), not a crash, so the engine lets it through instead of a TB000 finding."""

    exit_code = 2


class RuleWarning(UserWarning):
    """Something about the rules a user should change, though the run goes on: a deprecated rule, an
    old code that was redirected. The CLI shows each one once per run."""


class Status(str, Enum):
    STABLE = "stable"
    PREVIEW = "preview"
    DEPRECATED = "deprecated"
    REMOVED = "removed"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"

    @property
    def rank(self) -> int:
        return 2 if self is Severity.ERROR else 1


@dataclass(frozen=True)
class Param:
    """A rule parameter: its default, and what it means."""

    default: Any
    help: str

    def coerce(self, value: Any) -> Any:
        """Parameters keep their default's type: a YAML string "7" for an int is an error, not a surprise."""
        kind = type(self.default)
        if kind is bool or isinstance(value, bool):
            if not isinstance(value, bool) or kind is not bool:
                raise ValueError(f"expected {kind.__name__}, got {value!r}")
            return value
        if kind in (int, float) and isinstance(value, int | float):
            if kind is int and not float(value).is_integer():
                raise ValueError(f"expected a whole number, got {value!r}")
            return kind(value)
        if isinstance(value, kind):
            return value
        raise ValueError(f"expected {kind.__name__}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Hit:
    """One violation as a rule reports it; the engine turns it into a Finding."""

    initiative: Initiative
    message: str
    detail: str = ""  # distinguishes several hits of one rule on one record (part of the identity)


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    rule: str
    severity: Severity
    source: str
    key: str
    url: str
    title: str
    message: str
    detail: str = ""
    waived_by: str | None = None  # the waiver's text, when a waiver covers this finding

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.key}"

    @property
    def identity(self) -> str:
        """Stable across runs: the same rule, record and detail give the same id, whatever the message says."""
        raw = "\x1f".join((self.code, self.source, self.key, self.detail))
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class Index:
    """Lookups a set rule needs: records by key, and the counterpart of a cross-system link."""

    def __init__(self, initiatives: Iterable[Initiative]) -> None:
        self.all = list(initiatives)
        self._by_key: dict[tuple[str, str], list[Initiative]] = {}
        for i in self.all:
            self._by_key.setdefault((i.system, i.key), []).append(i)

    def find(self, link: Link) -> list[Initiative]:
        return self._by_key.get((link.system, link.key), [])

    def counterparts(self, initiative: Initiative) -> list[Initiative]:
        """Records on the other side that this one links to, or that link back to it."""
        found = [o for link in initiative.links for o in self.find(link)]
        found += [o for o in self._linking_to(initiative) if o not in found]
        return found

    def _linking_to(self, initiative: Initiative) -> Iterator[Initiative]:
        if not hasattr(self, "_back"):
            self._back: dict[tuple[str, str], list[Initiative]] = {}
            for i in self.all:
                for link in i.links:
                    self._back.setdefault((link.system, link.key), []).append(i)
        yield from self._back.get((initiative.system, initiative.key), [])


@dataclass(frozen=True)
class SyncBinding:
    """A resolved sync spec: the source side's attribute travels to a field of the other side."""

    source_mapping: str
    target_mapping: str
    attribute: str
    target_field: str  # field id on the target side (its current value is in Initiative.current)
    target_name: str
    values: Mapping[str, Any] | None
    quality_owner: str
    clear: bool = False  # an empty source value erases a filled target field (else it is held and reported)


@dataclass(frozen=True)
class Context:
    now: datetime
    params: Mapping[str, Any]
    index: Index
    syncs: tuple[SyncBinding, ...] = ()
    mappings: Mapping[str, str] = field(default_factory=dict)  # connector -> mapping name (sync bindings name mappings)
    waiver_prefix: str = "tb-waive-"  # as configured, so rules that read waivers see what the engine honours


RecordCheck = Callable[[Initiative, Context], Iterable[Hit]]
SetCheck = Callable[[Index, Context], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str  # one line, shown in listings
    what: str
    why: str
    fix: str
    check: RecordCheck | SetCheck
    params: Mapping[str, Param] = field(default_factory=dict)
    scope: str = "record"  # "record" | "set"
    systems: tuple[str, ...] = ("jira", "salesforce")  # which records a record rule applies to
    status: Status = Status.STABLE
    replacement: str | None = None  # deprecated / removed: the code that takes over, if any
    redirects: tuple[str, ...] = ()  # codes (and names) this rule had before: they select it, with a warning
    url: str = ""  # its documentation page (SARIF's helpUri, `trackerbridge rules CODE`); built-ins get theirs

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}


def doc_url(rule: Rule) -> str:
    """A built-in rule's section of docs/rules.md, by the anchor its heading gets ("## TB101 owner-missing")."""
    return f"{DOCS}#{rule.code.lower()}-{rule.name}"
