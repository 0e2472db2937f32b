"""Findings as SARIF 2.1.0, for code-scanning dashboards and other static-analysis tooling.

One run. Each rule that ran (and any code a finding carries that is not among them) becomes a
reportingDescriptor; each finding a result pointing at its tracker record: the record's URL as the
artifact, `source:key` as a logical location. Waived findings stay in, with an external suppression
carrying the waiver's text, so a dashboard shows them as suppressed rather than fixed. The finding
identity is the partial fingerprint, so a dashboard tracks a finding across runs even when its
message changes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

import trackerbridge
from trackerbridge.emitters.json import dumps, ordered, severity, text

if TYPE_CHECKING:
    from trackerbridge.assessment import AuditResult
    from trackerbridge.rules.base import Finding, Rule

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
INFORMATION_URI = "https://pypi.org/project/trackerbridge/"
FINGERPRINT = "trackerbridgeFinding/v1"
LEVELS = {"error": "error", "warning": "warning"}
# RFC 3986 reserved and unreserved characters, and % so existing escapes survive.
_URI_SAFE = ":/?#[]@!$&'()*+,;=-._~%"


def pascal(name: str) -> str:
    """owner-missing -> OwnerMissing: SARIF's reportingDescriptor.name is an identifier, not kebab text."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def uri(url: object) -> str:
    """A valid URI reference: spaces, control and non-ASCII characters percent-encoded (UTF-8)."""
    return quote(text(url).strip(), safe=_URI_SAFE)


def level(value: object) -> str:
    return LEVELS.get(severity(value), "warning")


def descriptor(rule: Rule) -> dict[str, Any]:
    """The rule as a reportingDescriptor; `helpUri` is its documentation page, when it has one (the
    built-ins' docs/rules.md sections; a plugin's own `url`)."""
    out: dict[str, Any] = {"id": text(rule.code)}
    if pascal(text(rule.name)):
        out["name"] = pascal(text(rule.name))
    out |= {
        "shortDescription": {"text": text(rule.summary)},
        "fullDescription": {"text": text(rule.what)},
        "help": {"text": "\n\n".join(p for p in (text(rule.why), text(rule.fix)) if p)},
    }
    if text(getattr(rule, "url", "")).strip():
        out["helpUri"] = uri(rule.url)
    return out | {"defaultConfiguration": {"level": level(rule.severity)}}


def _fallback_descriptor(f: Finding) -> dict[str, Any]:
    """A finding whose rule is not among those that ran still needs its ruleId described."""
    out: dict[str, Any] = {"id": text(f.code)}
    if pascal(text(f.rule)):
        out["name"] = pascal(text(f.rule))
    return out | {"defaultConfiguration": {"level": level(f.severity)}}


def _message(f: Finding) -> str:
    record = " ".join(p for p in (text(f.key), text(f.title)) if p)
    return f"{record}: {text(f.message)}" if record else text(f.message)


def sarif_result(f: Finding, index: int) -> dict[str, Any]:
    location: dict[str, Any] = {}
    if text(f.url).strip():
        location["physicalLocation"] = {"artifactLocation": {"uri": uri(f.url)}}
    location["logicalLocations"] = [
        {"name": text(f.key), "fullyQualifiedName": f"{text(f.source)}:{text(f.key)}", "kind": "object"}
    ]
    out: dict[str, Any] = {
        "ruleId": text(f.code),
        "ruleIndex": index,
        "level": level(f.severity),
        "message": {"text": _message(f)},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT: f.identity},
    }
    if f.waived_by is not None:
        out["suppressions"] = [{"kind": "external", "justification": text(f.waived_by)}]
    return out


def log(result: AuditResult) -> dict[str, Any]:
    """The SARIF log as plain data."""
    rules = {text(rule.code): descriptor(rule) for rule in result.rules.values()}
    for f in result.findings:
        rules.setdefault(text(f.code), _fallback_descriptor(f))
    codes = sorted(rules)
    index = {code: n for n, code in enumerate(codes)}
    return {
        "$schema": SCHEMA_URI,
        "version": VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "trackerbridge",
                        "informationUri": INFORMATION_URI,
                        "version": trackerbridge.__version__,
                        "rules": [rules[code] for code in codes],
                    }
                },
                "results": [sarif_result(f, index[text(f.code)]) for f in ordered(result.findings)],
            }
        ],
    }


def emit(result: AuditResult, out: TextIO) -> None:
    """Write the SARIF log (UTF-8, indent 2, deterministic)."""
    out.write(dumps(log(result), indent=2) + "\n")
