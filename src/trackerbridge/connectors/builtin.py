"""The built-in connector types, registered like any plugin's."""

from __future__ import annotations

from trackerbridge.connectors.base import Connector
from trackerbridge.plugins import hookimpl


@hookimpl
def trackerbridge_connector_types() -> dict[str, type[Connector]]:
    from trackerbridge.connectors.jira import JiraConnector
    from trackerbridge.connectors.salesforce import SalesforceConnector

    return {"jira": JiraConnector, "salesforce": SalesforceConnector}
