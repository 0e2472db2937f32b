"""Running the selected rules over a set of initiatives: selection, parameters, severities,
per-connector scope and waivers, in one pure function.

A rule that raises does not stop the run (as soda turns a failing check into a failed check): each
record it could not judge gets a TB000 `rule-crashed` finding (severity error) naming the rule and
the exception's type and message (URLs masked, cut short; never a traceback, which goes to the
`trackerbridge.rules` debug log), and every other rule's verdict stands. A record rule that raises
on one record still judges the others; a set rule that raises leaves every record it would have
judged without its verdict. `crashed_refs` names those records: `sync` holds their write-back.
A `ParamError` (a parameter value the rule cannot use) is the configuration's fault: it stops the
run as a configuration error (exit 2) naming `rules.params.<code>`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from trackerbridge.model import Initiative
from trackerbridge.rules.base import (
    DOCS,
    Context,
    Finding,
    Hit,
    Index,
    ParamError,
    Rule,
    RuleWarning,
    Severity,
    Status,
    SyncBinding,
)
from trackerbridge.rules.waivers import waivers_of

UNREADABLE = "TB116"  # the one record rule that judges a held record (see Initiative.held)
CRASH_MESSAGE_LIMIT = 200  # characters of the exception's message a finding quotes
log = logging.getLogger("trackerbridge.rules")

RULE_CRASHED = Rule(
    code="TB000",
    name="rule-crashed",
    severity=Severity.ERROR,
    summary="A rule raised an error: its verdict on the record is unknown",
    what=(
        "A rule failed with an exception while judging the record, so the record's health lacks that rule's "
        "verdict. The finding names the rule and the error; the other rules' findings stand."
    ),
    why=(
        "A health computed without one of the rules looks complete but is not: it is shown as an error, and "
        "`sync` holds the record's write-back until the rule works again."
    ),
    fix=(
        "Report the finding (rule, error) to the rule's maintainer, or ignore the rule until it is fixed; "
        "the traceback is in the debug log (logger trackerbridge.rules)."
    ),
    check=lambda initiative, ctx: (),
    url=f"{DOCS}#tb000-rule-crashed",
)


@dataclass(frozen=True)
class Selection:
    """Codes or prefixes, as in ruff: the longest matching entry decides; on a tie, ignore wins."""

    select: tuple[str, ...] = ("TB",)
    ignore: tuple[str, ...] = ()

    def includes(self, code: str) -> bool:
        best_select = max((len(s) for s in self.select if code.startswith(s.upper())), default=-1)
        best_ignore = max((len(s) for s in self.ignore if code.startswith(s.upper())), default=-1)
        return best_select > best_ignore


@dataclass(frozen=True)
class RuleSettings:
    selection: Selection = Selection()
    severity: Mapping[str, Severity] = field(default_factory=dict)  # code -> override
    params: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # code -> values
    scope: Mapping[str, Selection] = field(default_factory=dict)  # connector -> selection within the global one
    waiver_prefix: str = "tb-waive-"
    preview: bool = False  # run preview rules selected by prefix too
    redirects: Mapping[str, str] = field(default_factory=dict)  # an earlier code -> the rule's code now (waivers)


def active_rules(rules: Mapping[str, Rule], settings: RuleSettings) -> list[Rule]:
    """Selected rules that may run: never a removed one; a preview one only when selected by its exact
    code (`rule_settings` turns names into codes) or with preview on."""
    return [r for code, r in rules.items() if settings.selection.includes(code) and _may_run(r, settings)]


def _may_run(rule: Rule, settings: RuleSettings) -> bool:
    if rule.status is Status.REMOVED:
        return False
    if rule.status is Status.PREVIEW:
        return settings.preview or rule.code in settings.selection.select
    return True


def crashed_refs(findings: Iterable[Finding]) -> set[str]:
    """Records some rule could not judge (a TB000 finding, waived or not): their health is incomplete."""
    return {f.ref for f in findings if f.code == RULE_CRASHED.code}


def effective_params(rule: Rule, settings: RuleSettings) -> dict[str, object]:
    """Defaults overlaid with configured values (validated when the config loads)."""
    values = rule.defaults()
    for name, value in settings.params.get(rule.code, {}).items():
        values[name] = rule.params[name].coerce(value)
    return values


def evaluate(
    initiatives: Sequence[Initiative],
    rules: Mapping[str, Rule],
    settings: RuleSettings,
    now: datetime,
    syncs: Sequence[SyncBinding] = (),
    mappings: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every finding, waived ones included (marked), ordered by record then code: deterministic.

    `mappings` names each connector's mapping (connector -> mapping), for rules that follow sync bindings.
    """
    index = Index(initiatives)
    today = now.date()
    mapping_of = dict(mappings or {})
    findings: list[Finding] = []
    for rule in active_rules(rules, settings):
        ctx = Context(
            now=now,
            params=effective_params(rule, settings),
            index=index,
            syncs=tuple(syncs),
            mappings=mapping_of,
            waiver_prefix=settings.waiver_prefix,
        )
        severity = settings.severity.get(rule.code, rule.severity)
        for hit in _hits(rule, initiatives, index, ctx):
            source = hit.initiative.source
            scoped = settings.scope.get(source)
            if scoped is not None and not scoped.includes(rule.code):
                continue
            if isinstance(hit, _Crash):
                findings.append(_finding(RULE_CRASHED, RULE_CRASHED.severity, hit.hit(rule), settings, today))
            else:
                findings.append(_finding(rule, severity, hit, settings, today))
    findings.sort(key=lambda f: (f.source, f.key, f.code, f.detail))
    return findings


@dataclass(frozen=True)
class _Crash:
    """A record `rule` could not judge because it raised `error`."""

    initiative: Initiative
    error: BaseException

    def hit(self, rule: Rule) -> Hit:
        return Hit(self.initiative, crash_message(rule, self.error), detail=rule.code)


def crash_message(rule: Rule, error: BaseException) -> str:
    """The rule and the error, never a traceback; URLs in the message masked (drivers quote them with
    credentials), and cut short."""
    from trackerbridge.redact import mask_text

    text = " ".join(mask_text(str(error)).split())
    if len(text) > CRASH_MESSAGE_LIMIT:
        text = text[: CRASH_MESSAGE_LIMIT - 1] + "…"
    head = f"rule {rule.code} {rule.name} crashed: {type(error).__name__}"
    return f"{head}: {text}" if text else head


def _hits(rule: Rule, initiatives: Sequence[Initiative], index: Index, ctx: Context) -> Iterator[Hit | _Crash]:
    systems = rule.systems
    judges_unreadable = rule.code == UNREADABLE
    if rule.scope == "set":
        try:
            hits = list(rule.check(index, ctx))  # type: ignore[arg-type]
        except ParamError as exc:
            raise _named(rule, exc) from exc
        except Exception as exc:  # every record the rule would judge lacks its verdict
            _log_crash(rule, exc)
            yield from (_Crash(i, exc) for i in initiatives if i.system in systems and not i.held)
            return
        yield from (h for h in hits if not h.initiative.held)
        return
    logged = False
    for initiative in initiatives:
        # A record read without some mapped fields is judged only as unreadable: absent is not empty.
        if initiative.system in systems and (judges_unreadable or not initiative.held):
            try:
                found = list(rule.check(initiative, ctx))  # type: ignore[arg-type]
            except ParamError as exc:
                raise _named(rule, exc) from exc
            except Exception as exc:  # this record lacks the rule's verdict; the others are judged
                if not logged:
                    _log_crash(rule, exc, initiative.ref)
                    logged = True
                yield _Crash(initiative, exc)
                continue
            yield from found


def _named(rule: Rule, error: ParamError) -> ParamError:
    """A bad parameter is the configuration's fault, not a crash: it stops the run (exit 2), naming the key."""
    return ParamError(f"rules.params.{rule.code}: {error}")


def _log_crash(rule: Rule, error: BaseException, ref: str | None = None) -> None:
    on = f" on {ref}" if ref else ""
    log.debug("rule %s %s crashed%s", rule.code, rule.name, on, exc_info=error)


def _finding(rule: Rule, severity: Severity, hit: Hit, settings: RuleSettings, today: object) -> Finding:
    i = hit.initiative
    waived_by = None
    for waiver in waivers_of(i, settings.waiver_prefix):
        code = settings.redirects.get(waiver.code, waiver.code)
        if code == rule.code and waiver.honoured_on(today):  # type: ignore[arg-type]
            if code != waiver.code:
                warnings.warn(
                    RuleWarning(
                        f"waivers naming {waiver.code} are read as {code} ({rule.name}), its new code: rename them"
                    ),
                    stacklevel=2,
                )
            waived_by = waiver.origin
            break
    return Finding(
        code=rule.code,
        rule=rule.name,
        severity=severity,
        source=i.source,
        key=i.key,
        url=i.url,
        title=i.title,
        message=hit.message,
        detail=hit.detail,
        waived_by=waived_by,
    )
