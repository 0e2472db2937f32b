"""TB111 handoff-without-owner: every hand-off (a closed-won deal into delivery) has a named owner.

The hand-off owner is the source record's `owner_attribute` (an extra attribute such as the
opportunity's delivery owner, or a canonical one such as `integrator`). With
`fallback_to_delivery_owner`, an owner on a linked delivery record is accepted instead; off by default,
because the convention asks for the owner to be named on the hand-off itself, where sales sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trackerbridge.model import CANONICAL_ATTRIBUTES, Initiative, Stage
from trackerbridge.rules.base import Context, Hit, Index, Param, Rule, Severity


def _named(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


def owner_of(initiative: Initiative, attribute: str) -> Any:
    if attribute in CANONICAL_ATTRIBUTES:
        return getattr(initiative, attribute)
    return initiative.extra.get(attribute)


def check(index: Index, ctx: Context) -> Iterator[Hit]:
    attribute: str = ctx.params["owner_attribute"]
    fallback: bool = ctx.params["fallback_to_delivery_owner"]
    source_system: str = ctx.params["source_system"]
    delivery_system: str = ctx.params["delivery_system"]
    for source in index.all:
        if source.system != source_system or source.stage is not Stage.DONE:
            continue
        if _named(owner_of(source, attribute)):
            continue
        if fallback and any(d.owner is not None for d in index.counterparts(source) if d.system == delivery_system):
            continue
        yield Hit(source, "hand-off without a delivery owner")


RULE = Rule(
    code="TB111",
    name="handoff-without-owner",
    severity=Severity.ERROR,
    summary="Won deal handed off without a named delivery owner",
    what="A closed-won record (stage done on `source_system`) has nobody in its hand-off owner attribute.",
    why="A hand-off nobody receives is a dropped ball: sales thinks delivery has it, delivery never heard of it.",
    fix="Name the person in delivery who takes the deal over (the opportunity's delivery owner field).",
    check=check,
    params={
        "owner_attribute": Param("delivery_owner", "attribute (extra or canonical) naming the hand-off owner"),
        "fallback_to_delivery_owner": Param(False, "accept the owner of a linked delivery record instead"),
        "source_system": Param("salesforce", "system whose done records hand off (closed won)"),
        "delivery_system": Param("jira", "system where the linked delivery records live"),
    },
    scope="set",
)
