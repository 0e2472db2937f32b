"""The report page's escaping and small pieces of markup (see `trackerbridge.report.html` on why every
tracker value goes through `e`): a leaf module, so that each section's own module (slips, team pages)
can use them without importing the page that includes it."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from trackerbridge.emitters.table import clean
from trackerbridge.report.model import RecordRef
from trackerbridge.report.present import FLAG_LABELS

_URL_SAFE = ":/?#[]@!$&'()*+,;=-._~%"
SYSTEM_LABELS = {"jira": "Jira", "salesforce": "Salesforce"}


def e(value: object) -> str:
    """Tracker text for HTML text or a quoted attribute: one line, no bidi overrides, fully escaped."""
    return html.escape(clean(value), quote=True)


def href(url: object) -> str | None:
    """An http(s) URL, percent-encoded and escaped for an attribute; None for anything else (javascript:)."""
    target = quote(clean(url), safe=_URL_SAFE)
    return html.escape(target, quote=True) if re.match(r"https?://", target, re.IGNORECASE) else None


def record_link(r: RecordRef, system: bool = False) -> str:
    url = href(r.url)
    label = f'<a href="{url}" rel="noopener noreferrer">{e(r.key)}</a>' if url else e(r.key)
    if system and r.system:
        label += f'<span class="sys">{e(SYSTEM_LABELS.get(r.system, r.system))}</span>'
    return label


def chip(label: str, kind: str) -> str:
    return f'<span class="chip {kind}">{e(label)}</span>'


def flag_chip(flag: str) -> str:
    return chip(FLAG_LABELS.get(flag, flag), flag if flag in FLAG_LABELS else "plain")
