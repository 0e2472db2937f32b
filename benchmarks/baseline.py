"""The scripts people write instead of trackerbridge, run against the same sandbox.

The naive script: Jira: the `jira` client's `search_issues(jql, maxResults=False)` (default paging,
default fields) and `issue.update(fields=...)` per issue for the health field. Salesforce: `query_all`
and one `sf.Opportunity.update(id, {...})` per record.

The efficient script a careful user writes (`kind: efficient`). Salesforce: `query_all` of the Id and the
health field only, then the health of every record through Composite, 5 sObject Collections of 200 in each
call (1000 records an API call, `allOrNone: false`). Jira Cloud: the real `jira` client's
`enhanced_search_issues(json_result=True)` of the health field only (pages of 100: one real field), the health
field's option ids (its context, its options), then bulk edit (`POST bulk/issues/fields`, 1000 issues a request,
one request per health value, `sendBulkNotification: false`), each task polled (`GET bulk/queue/{taskId}`) to
COMPLETE. No activity stamps, no labels, no reasons, no notes: the least a script that sets the flag does.

The script keeps no state, so it cannot know which records changed: it writes the health of every
record in scope. The health values come from trackerbridge's last sync (the state store), so rule
evaluation is not part of the baseline's cost: the baseline is measured for its I/O pattern, and
its CPU time is a lower bound."""

from __future__ import annotations

from typing import Any

import requests

JIRA_HEALTH_FIELD = "Execution health"
SF_HEALTH_FIELD = "Execution_Health__c"


def desired_health(state_url: str, connector: str) -> dict[str, str]:
    """key -> "Green" | "Amber" | "Red", as trackerbridge last judged it."""
    from trackerbridge.state.store import StateStore

    store = StateStore.open(state_url)
    try:
        return {k: str(flag).capitalize() for k, (flag, _since) in store.health(connector).items()}
    finally:
        store.close()


def run_baseline(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    desired = desired_health(job["state"], job["connector"])
    if job.get("efficient"):
        if job["system"] == "jira":
            return jira_efficient(env, job["jql"], desired)
        return salesforce_efficient(env, job["sobject"], desired)
    if job["system"] == "jira":
        return jira_baseline(env, job["jql"], desired)
    return salesforce_baseline(env, job["sobject"], desired)


def jira_baseline(env: dict[str, str], jql: str, desired: dict[str, str]) -> dict[str, Any]:
    from jira import JIRA

    client = JIRA(
        env["TB_SANDBOX_JIRA_URL"],
        basic_auth=(env["TB_SANDBOX_JIRA_EMAIL"], env["TB_SANDBOX_JIRA_TOKEN"]),
        options={"verify": env["TB_SANDBOX_CA_BUNDLE"]},
    )
    health = next(f["id"] for f in client.fields() if f["name"] == JIRA_HEALTH_FIELD)
    issues = client.search_issues(jql, maxResults=False)
    written = 0
    for issue in issues:
        value = desired.get(issue.key)
        if value is None:
            continue
        issue.update(fields={health: {"value": value}})
        written += 1
    client.close()
    return {"records": len(issues), "written": written}


def salesforce_baseline(env: dict[str, str], sobject: str, desired: dict[str, str]) -> dict[str, Any]:
    from simple_salesforce import Salesforce

    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    session.verify = env["TB_SANDBOX_CA_BUNDLE"]
    sf = Salesforce(
        instance_url=env["TB_SANDBOX_SF_URL"], session_id=env["TB_SANDBOX_SF_TOKEN"], version="59.0", session=session
    )
    rows = sf.query_all(f"SELECT Id, {SF_HEALTH_FIELD} FROM {sobject}")["records"]
    api = getattr(sf, sobject)
    written = 0
    for row in rows:
        value = desired.get(row["Id"]) or desired.get(row["Id"][:15])
        if value is None:
            continue
        api.update(row["Id"], {SF_HEALTH_FIELD: value})
        written += 1
    session.close()
    return {"records": len(rows), "written": written}


def salesforce_efficient(env: dict[str, str], sobject: str, desired: dict[str, str]) -> dict[str, Any]:
    from simple_salesforce import Salesforce

    session = requests.Session()
    session.trust_env = False
    session.verify = env["TB_SANDBOX_CA_BUNDLE"]
    sf = Salesforce(
        instance_url=env["TB_SANDBOX_SF_URL"], session_id=env["TB_SANDBOX_SF_TOKEN"], version="59.0", session=session
    )
    rows = sf.query_all(f"SELECT Id, {SF_HEALTH_FIELD} FROM {sobject}")["records"]
    records = []
    for row in rows:
        value = desired.get(row["Id"]) or desired.get(row["Id"][:15])
        if value is not None:
            records.append({"attributes": {"type": sobject}, "id": row["Id"], SF_HEALTH_FIELD: value})
    written = 0
    url = "/services/data/v59.0/composite/sobjects"
    for start in range(0, len(records), 1000):
        part = records[start : start + 1000]
        subrequests = [
            {
                "method": "PATCH",
                "url": url,
                "referenceId": f"c{n}",
                "body": {"allOrNone": False, "records": part[n : n + 200]},
            }
            for n in range(0, len(part), 200)
        ]
        answer = sf.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": subrequests})
        for result in answer["compositeResponse"]:
            written += sum(1 for r in result["body"] if r.get("success"))
    session.close()
    return {"records": len(rows), "written": written}


def jira_efficient(env: dict[str, str], jql: str, desired: dict[str, str]) -> dict[str, Any]:
    import time

    from jira import JIRA

    client = JIRA(
        env["TB_SANDBOX_JIRA_URL"],
        basic_auth=(env["TB_SANDBOX_JIRA_EMAIL"], env["TB_SANDBOX_JIRA_TOKEN"]),
        options={"verify": env["TB_SANDBOX_CA_BUNDLE"]},
    )
    health = next(f["id"] for f in client.fields() if f["name"] == JIRA_HEALTH_FIELD)
    by_value: dict[str, list[str]] = {}
    records, token = 0, None
    while True:
        page = client.enhanced_search_issues(
            jql, nextPageToken=token, maxResults=5000, fields=[health], json_result=True
        )
        for issue in page["issues"]:
            records += 1
            value = desired.get(issue["key"])
            if value is not None:
                by_value.setdefault(value, []).append(issue["id"])
        token = page.get("nextPageToken")
        if not token or page.get("isLast"):
            break
    session = client._session
    contexts = session.get(client._get_url(f"field/{health}/context")).json()["values"]
    options = session.get(client._get_url(f"field/{health}/context/{contexts[0]['id']}/option")).json()["values"]
    option_id = {o["value"]: int(o["id"]) for o in options}
    written = 0
    for value, ids in sorted(by_value.items()):
        for start in range(0, len(ids), 1000):
            part = ids[start : start + 1000]
            body = {
                "selectedIssueIdsOrKeys": part,
                "selectedActions": [health],
                "editedFieldsInput": {
                    "singleSelectClearableUnmatchedFields": [
                        {"fieldId": health, "option": {"optionId": option_id[value]}}
                    ]
                },
                "sendBulkNotification": False,
            }
            task = session.post(client._get_url("bulk/issues/fields"), json=body).json()["taskId"]
            while True:
                progress = session.get(client._get_url(f"bulk/queue/{task}")).json()
                if progress["status"] not in ("ENQUEUED", "RUNNING"):
                    break
                time.sleep(0.2)
            written += len(progress.get("processedAccessibleIssues") or [])
    client.close()
    return {"records": records, "written": written}
