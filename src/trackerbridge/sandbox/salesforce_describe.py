"""The emulated Salesforce's describe: the global list of sObjects, one sObject's basic information and its
full describe.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from trackerbridge.sandbox.salesforce_dml import COLLECTION_MAX, SalesforceDml
from trackerbridge.sandbox.salesforce_errors import NOT_FOUND, _error
from trackerbridge.sandbox.salesforce_model import REFERENCE, SObjectType
from trackerbridge.sandbox.web import Request, Response


class SalesforceDescribe(SalesforceDml):
    # --- describe -----------------------------------------------------------------------------

    def _basic_info(self, t: SObjectType, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{t.name}"
        plural = t.label[:-1] + "ies" if t.label.endswith("y") else t.label + "s"
        deletable = t.name != "User"
        return {
            "activateable": False,
            "createable": t.updateable,
            "custom": t.custom,
            "customSetting": False,
            "deletable": deletable and t.updateable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isSubtype": False,
            "keyPrefix": t.key_prefix,
            "label": t.label,
            "labelPlural": plural,
            "layoutable": True,
            "mergeable": t.name == "Account",
            "mruEnabled": True,
            "name": t.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": deletable,
            "updateable": t.updateable,
            "urls": {"rowTemplate": f"{base}/{{ID}}", "describe": f"{base}/describe", "sobject": base},
        }

    def describe_global(self, request: Request) -> Response:
        version = self._version(request)
        return Response(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": COLLECTION_MAX,
                "sobjects": [self._basic_info(t, version) for t in self.data.types.values()],
            },
        )

    def sobject_info(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        version = self._version(request)
        rows = sorted(
            self.data.records.get(t.name, {}).values(),
            key=lambda r: r.get("LastModifiedDate") or datetime.min.replace(tzinfo=timezone.utc),
            reverse=True,
        )[:10]
        name_field = "Name" if t.field("Name") else "Subject" if t.field("Subject") else None
        recent = []
        for row in rows:
            item = self._attributes(t, row["Id"], version)
            item["Id"] = row["Id"]
            if name_field:
                item[name_field] = row.get(name_field)
            recent.append(item)
        return Response(200, {"objectDescribe": self._basic_info(t, version), "recentItems": recent})

    def describe(self, request: Request) -> Response:
        t = self._sobject(request)
        if t is None:
            return _error(404, "NOT_FOUND", NOT_FOUND)
        version = self._version(request)
        body = self._basic_info(t, version)
        children = [
            {
                "cascadeDelete": False,
                "childSObject": other.name,
                "field": f.name,
                "relationshipName": None,
                "restrictedDelete": False,
            }
            for other in self.data.types.values()
            for f in other.fields.values()
            if f.type == REFERENCE and t.name in f.reference_to and f.name not in ("CreatedById", "LastModifiedById")
        ]
        body.update(
            {
                "childRelationships": children,
                "fields": [f.describe() for f in t.fields.values()],
                "recordTypeInfos": [],
                "supportedScopes": [{"label": "All " + body["labelPlural"].lower(), "name": "everything"}],
            }
        )
        body["urls"] = {**body["urls"], "uiDetailTemplate": None, "uiEditTemplate": None, "uiNewRecord": None}
        return Response(200, dict(sorted(body.items())))
