"""TB107 owner-overloaded: owners do not carry more active initiatives than their capacity allows.

One finding per overloaded owner, not one per initiative: ten red records for one fact would drown
the other reasons. It sits on the owner's newest active initiative (latest `created`), the one that
took them over the limit. Not the most recently *updated* one: that changes with every edit, and the
finding (and the health written into the tracker) would hop between records from run to run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from trackerbridge.model import Initiative
from trackerbridge.rules.base import Context, Hit, Index, Param, Rule, Severity


def counted(initiatives: Iterable[Initiative], kinds: Sequence[str]) -> Iterator[Initiative]:
    """Active initiatives of the configured kinds (all kinds when none are configured)."""
    wanted = {k.casefold() for k in kinds}
    for i in initiatives:
        if i.active and (not wanted or (i.kind is not None and i.kind.casefold() in wanted)):
            yield i


def newest(initiatives: Iterable[Initiative]) -> Initiative:
    """The latest created (then updated, then by reference): a stable, deterministic anchor for a finding."""
    return max(
        initiatives,
        key=lambda i: (
            i.created.timestamp() if i.created else float("-inf"),
            i.updated.timestamp() if i.updated else float("-inf"),
            i.source,
            i.key,
        ),
    )


def active(n: int) -> str:
    """Counted in words people read in the tracker: "1 active initiative", "6 active initiatives"."""
    return f"{n} active initiative" + ("" if n == 1 else "s")


def check(index: Index, ctx: Context) -> Iterator[Hit]:
    limit: int = ctx.params["max_active"]
    by_owner: dict[str, list[Initiative]] = {}
    for i in counted(index.all, ctx.params["kinds"]):
        if i.owner is not None and i.owner.identity:
            by_owner.setdefault(i.owner.identity, []).append(i)
    for identity, carried in sorted(by_owner.items()):
        if len(carried) > limit:
            anchor = newest(carried)
            who = anchor.owner.label if anchor.owner else identity
            yield Hit(anchor, f"owner {who} carries {active(len(carried))} (max {limit})", detail=identity)


RULE = Rule(
    code="TB107",
    name="owner-overloaded",
    severity=Severity.WARNING,
    summary="Owner carries more active initiatives than their capacity",
    what=(
        "One person owns more than `max_active` initiatives in decide, build or launch (counting only `kinds`, "
        "when set). Reported once per owner, on their newest active initiative."
    ),
    why="An owner spread over too many initiatives owns none of them: each moves slower and the gaps go unseen.",
    fix="Hand some initiatives to another owner, or finish or sunset some before starting more.",
    check=check,
    params={
        "max_active": Param(5, "active initiatives one owner may carry"),
        "kinds": Param([], "kinds (issue types, record types) that count; empty counts every kind"),
    },
    scope="set",
)
