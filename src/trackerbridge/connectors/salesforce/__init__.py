"""Salesforce through the real `simple_salesforce` client: sign-in, describe, SOQL pull, Composite writes.

Everything crosses the connector boundary as plain trackerbridge data: `simple_salesforce` objects and
exceptions stay inside. One class, `SalesforceConnector` (`connector`), built from a layer per concern,
each module importing only those below it:

- `values`: describe types, datetimes and Ids as plain values (no I/O);
- `errors`: failures as `ConnectorError`s that name environment variables, never their values; counting;
- `client`: signing in (password, JWT, access token) and the SOQL / Composite calls;
- `query`: describe, the SOQL of the scope and its rows (`SalesforceQuery`, which holds `__init__`);
- `people`: people to User Ids; `notes`: the notes as Tasks; `write`: `apply` (`bodies`: the payloads).
"""

from __future__ import annotations

from trackerbridge.connectors.salesforce.connector import SalesforceConnector
from trackerbridge.connectors.salesforce.errors import endpoint_name

__all__ = ["SalesforceConnector", "endpoint_name"]
