"""trackerbridge: execution conventions kept honest inside Jira and Salesforce."""

__version__ = "0.1.0"
