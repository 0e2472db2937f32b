"""Jira Cloud and Data Center, through the `jira` client library.

One class, `JiraConnector`, built from a layer per concern, each module importing only those below it:

- `errors`: failures as safe `ConnectorError` messages (`JiraErrors`);
- `client`: signing in, the client's session with our retry layer and counter, each REST call (`JiraClient`);
- `discovery`: serverInfo, the field catalog, live values, creating fields through `admin`;
- `people`: people to accountIds / usernames; `write`: `apply` (PUTs, comments, `bulk` edits, `bodies`);
- `search`: `JiraConnector` itself, with the searches, the watermark and the records;
- `values`: Jira's JSON as plain values (no I/O).
"""

from __future__ import annotations

from trackerbridge.connectors.jira.search import OVERLAP, JiraConnector
from trackerbridge.connectors.jira.values import DATETIME_TEXT, from_parts, normalise, person_of, to_datetime

__all__ = ["DATETIME_TEXT", "OVERLAP", "JiraConnector", "from_parts", "normalise", "person_of", "to_datetime"]
