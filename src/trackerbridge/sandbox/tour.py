"""A short read of a running sandbox through the real client libraries, for `trackerbridge demo`.

It proves the round trip a user cares about (TLS with the sandbox CA, auth, search, SOQL)
rather than reading the sandbox's memory directly.
"""

from __future__ import annotations

from jira import JIRA
from simple_salesforce import Salesforce

from trackerbridge.net import session_for
from trackerbridge.sandbox.runner import SandboxInfo


def jira_client(info: SandboxInfo) -> JIRA:
    """Cloud: e-mail + API token; Data Center: a personal access token, as each is used for real."""
    options = {"verify": info.ca_bundle, "check_update": False}
    if info.jira_flavor == "cloud":
        return JIRA(info.jira_url, basic_auth=(info.jira_email, info.jira_api_token), options=options)
    return JIRA(info.jira_url, token_auth=info.jira_pat, options=options)


def salesforce_client(info: SandboxInfo) -> Salesforce:
    return Salesforce(
        session_id=info.salesforce_token, instance_url=info.salesforce_url, session=session_for(info.ca_bundle)
    )


def _count(jira: JIRA, jql: str, cloud: bool) -> int:
    if cloud:
        return int(jira.approximate_issue_count(jql))
    return int(jira.search_issues(jql, maxResults=1, fields="key", json_result=True)["total"])


def tour(info: SandboxInfo) -> list[str]:
    jira = jira_client(info)
    server = jira.server_info()
    cloud = server["deploymentType"] == "Cloud"
    lines = [f"Jira {server['deploymentType']} {server['version']}, signed in as {jira.myself()['displayName']}"]
    for status in ("Backlog", "Under Review", "In Progress", "Rolling Out", "Done", "Won't Do"):
        jql = f'status = "{status}"'
        lines.append(f"  {status:<13} {_count(jira, jql, cloud):>6}")
    unowned = _count(jira, "statusCategory != Done AND assignee IS EMPTY", cloud)
    undated = _count(jira, "statusCategory != Done AND duedate IS EMPTY", cloud)
    lines.append(f"  active without an owner: {unowned}; active without an end date: {undated}")

    sf = salesforce_client(info)
    total = sf.query("SELECT COUNT() FROM Opportunity")["totalSize"]
    won = sf.query("SELECT COUNT() FROM Opportunity WHERE StageName = 'Closed Won'")["totalSize"]
    linked = sf.query("SELECT COUNT() FROM Opportunity WHERE StageName = 'Closed Won' AND Jira_Epic_Key__c != null")[
        "totalSize"
    ]
    users = sf.query("SELECT COUNT() FROM User WHERE IsActive = true")["totalSize"]
    lines.append(
        f"Salesforce API v{sf.sf_version}: {users} active users, {total} opportunities, "
        f"{won} closed won, {linked} of them linked to a Jira delivery epic"
    )
    return lines
