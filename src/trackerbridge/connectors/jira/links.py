"""Jira's `issuelinks` field as plain data, for roll-ups through issue links ("DEL-33 delivers OPS-7").

The wire shape (Atlassian, "Jira issue linking model",
https://developer.atlassian.com/cloud/jira/platform/issue-linking-model/): each entry has `id`, `type` {`id`, `name`,
`inward`, `outward`} and exactly one of `outwardIssue` or `inwardIssue` {`id`, `key`, `fields`}. Links are stored
once and shown on both issues: an entry with `outwardIssue` X on issue R reads "R <type.outward> X" (DEL-33 delivers
OPS-7); with `inwardIssue` X it reads "R <type.inward> X" (OPS-7 is delivered by DEL-33). So the direction is a
property of the entry as seen from the record that carries it, which is what a mapping declares.
"""

from __future__ import annotations

from typing import Any

ISSUE_LINKS_NATIVE = "array<issuelinks>"  # the field's schema: {"type": "array", "items": "issuelinks"}


def issue_links(value: Any) -> list[dict[str, str]]:
    """Each readable entry as {"type", "type_id", "direction": "outward" | "inward", "relation", "key"}; entries
    without a type or a linked key (a link to an issue the user cannot see) are left out."""
    out: list[dict[str, str]] = []
    for entry in value if isinstance(value, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), dict):
            continue
        kind = entry["type"]
        for direction in ("outward", "inward"):
            other = entry.get(f"{direction}Issue")
            if isinstance(other, dict) and other.get("key"):
                out.append(
                    {
                        "type": str(kind.get("name") or ""),
                        "type_id": str(kind.get("id") or ""),
                        "direction": direction,
                        "relation": str(kind.get(direction) or ""),
                        "key": str(other["key"]),
                    }
                )
                break
    return out


def link_type_names(types: Any) -> tuple[str, ...] | None:
    """The names, then the ids, of the instance's issue link types (GET issueLinkType, through the client)."""
    found = [t for t in types or [] if getattr(t, "name", None)]
    names = [str(t.name) for t in found] + [str(t.id) for t in found if getattr(t, "id", None)]
    return tuple(dict.fromkeys(names)) or None
