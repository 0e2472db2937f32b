"""Health that rolls up: a parent's health considers its children's, by the project's roll-up rules.

Pure, and one level: each child counts with its own verdict (from its own findings), never a rolled-up one, so
links both ways (an opportunity and its delivery epic point at each other) cannot feed back, and the result is the
same whichever order the records come in. The reason names the child and what made it so ("DEL-33 red: TB101"),
and goes on the parent like any other reason, so the health written back shows why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from trackerbridge.health import Health, Rollup
from trackerbridge.model import Initiative
from trackerbridge.rules.base import Index


def _codes(health: Health) -> str:
    """The rule codes of a child's reasons ("TB101 owner missing" -> "TB101"), in order."""
    return ", ".join(dict.fromkeys(r.split(" ", 1)[0] for r in health.reasons))


def children(parent: Initiative, rule: Rollup, index: Index, by_parent: ByParent) -> list[Initiative]:
    if rule.via == "links":
        found = [o for link in parent.links for o in index.find(link)]
    else:
        found = list(by_parent.get((rule.attribute, parent.system, parent.key), ()))
    return [c for c in found if c.ref != parent.ref]


ByParent = dict[tuple[str, str, str], list[Initiative]]  # (attribute, system, parent key) -> children


def _parent_keys(initiatives: Iterable[Initiative], attributes: set[str]) -> ByParent:
    out: ByParent = {}
    for i in initiatives:
        for attribute in attributes:
            value = i.extra.get(attribute)
            # a list: the keys of issue links (mapping `issue_links`); a child may deliver several parents
            for key in value if isinstance(value, list | tuple) else [value]:
                if key not in (None, ""):
                    out.setdefault((attribute, i.system, str(key)), []).append(i)
    return out


def roll_up(
    initiatives: Sequence[Initiative], health: Mapping[str, Health], rules: Sequence[Rollup]
) -> dict[str, Health]:
    """Every record's health with its children's rolled up by `rules`."""
    index = Index(initiatives)
    by_parent = _parent_keys(initiatives, {r.attribute for r in rules if r.via == "attribute"})
    out = dict(health)
    for parent in initiatives:
        own = health.get(parent.ref)
        if own is None:
            continue
        flag, reasons = own.flag, list(own.reasons)
        for rule in rules:
            if rule.systems and parent.system not in rule.systems:
                continue
            if rule.stages and (parent.stage is None or parent.stage.value not in rule.stages):
                continue
            for child in sorted(children(parent, rule, index, by_parent), key=lambda c: (c.source, c.key)):
                verdict = health.get(child.ref)
                if verdict is None or verdict.flag.rank < rule.when.rank:
                    continue
                if rule.size is not None and (child.size is None or child.size.value != rule.size):
                    continue
                if rule.then.rank > flag.rank:
                    flag = rule.then
                reason = f"{child.key} {verdict.flag.value}: {_codes(verdict)}".rstrip(": ")
                if reason not in reasons:
                    reasons.append(reason)
        if flag is not own.flag or len(reasons) != len(own.reasons):
            out[parent.ref] = Health(flag, tuple(reasons))
    return out
