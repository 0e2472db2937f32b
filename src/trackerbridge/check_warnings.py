"""What `check` warns about a connector it has opened, from what opening it learned: ownership that reaches
people's own labels, Salesforce writes without an activity field, rules the mapping leaves unable to fire.
Pure functions of the opened source; `trackerbridge.checking` connects and samples."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trackerbridge.config.errors import ConfigError
from trackerbridge.health import health_labels

if TYPE_CHECKING:
    from trackerbridge.config.project import Project
    from trackerbridge.sources import Source


def warnings_of(source: Source) -> list[str]:
    """What makes a ready connector less trustworthy than it could be."""
    out = []
    owns, mapping = source.owns, source.mapping
    if owns is not None and owns.label_prefixes:
        vocabulary = ", ".join(sorted(health_labels(mapping.spec.write_back.label_prefix)))
        out.append(
            f"owns.label_prefixes {owns.label_prefixes}: trackerbridge may remove every label with these prefixes, "
            f"people's own included (such as {owns.label_prefixes[0]}insurance); to own only what it writes, list "
            f"the labels in owns.labels instead" + (f": [{vocabulary}]" if vocabulary else "")
        )
    writes = any(r in mapping.write_fields for r in ("health", "reasons"))
    if source.server.system == "salesforce" and writes and "activity" not in mapping.write_fields:
        out.append(
            "no write_back.activity_field: each write trackerbridge makes moves LastModifiedDate, so the records it "
            "writes look freshly updated (TB106 stops seeing them as stale); add an owned date-time field "
            "(trackerbridge setup salesforce prints it)"
        )
    return out


def _rule_coverage(project: Project, source: Source) -> list[str]:
    """Rules that run on this connector but cannot fire, or fire on a stand-in, for what the mapping leaves out."""
    from trackerbridge.rules.registry import load_rules
    from trackerbridge.rules.settings import rule_settings

    rules = load_rules()
    try:
        settings = rule_settings(project, rules)
    except ConfigError:
        return []  # reported by the commands that run rules
    scoped = settings.scope.get(source.name)
    system = source.server.system

    def runs(code: str) -> bool:
        rule = rules.get(code)
        return (
            rule is not None
            and settings.selection.includes(code)
            and (scoped is None or scoped.includes(code))
            and (rule.scope == "set" or system in rule.systems)
        )

    spec = project.mappings[source.mapping.name]
    mapped = set(spec.attributes)
    out = []
    where = f"mappings/{source.mapping.name}.yaml"
    if runs("TB104"):
        if "stage" not in mapped:
            out.append(f"TB104 (stuck in decide) cannot fire: {where} maps no stage")
        elif "stage_entered" not in mapped and not spec.history:
            since = "created date" if "created" in mapped else "creation date, read from the tracker"
            out.append(
                f"TB104 (stuck in decide) times the decide stage from each record's {since}: {where} maps no "
                "stage_entered (map the field that says when the stage last changed, or set history: true)"
            )
    if runs("TB112") and "commitment" in mapped and not spec.history:
        out.append(
            f"TB112 (commitment changed without approval) cannot fire: {where} does not read history "
            "(set history: true)"
        )
    return out
