"""`SalesforceConnector`: the layers of the Salesforce package put together."""

from __future__ import annotations

from trackerbridge.connectors.salesforce.write import SalesforceWriter


class SalesforceConnector(SalesforceWriter):
    """One Salesforce org, scoped to one sObject (and an optional SOQL condition)."""
