"""The sObject schema the sandbox enforces, loaded from a JSON file (the packaged `schema.json` by default).

A file lists objects with a key prefix and their fields; the system fields every Salesforce object has are added
here, so a schema file only describes what differs between orgs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

DEFAULT_SCHEMA = os.path.join(os.path.dirname(__file__), "schema.json")
TEXT_TYPES = {"string", "textarea", "phone", "url", "email", "picklist", "id", "reference"}
NUMBER_TYPES = {"currency", "double", "percent", "int"}
SYSTEM_FIELDS = {
    "Id": {"type": "id", "length": 18},
    "IsDeleted": {"type": "boolean"},
    "CreatedDate": {"type": "datetime"},
    "CreatedById": {"type": "reference", "referenceTo": ["User"]},
    "LastModifiedById": {"type": "reference", "referenceTo": ["User"]},
    "LastModifiedDate": {"type": "datetime"},
    "SystemModstamp": {"type": "datetime"},
}


@dataclass
class Field:
    name: str
    type: str
    length: Optional[int] = None
    required: bool = False
    external_id: bool = False
    unique: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: Optional[str] = None
    system: bool = False
    # Salesforce's field-level "Create" and "Update" properties: PricebookEntry.Product2Id is set on create and
    # never changed; PricebookEntry.Name is read-only (it mirrors the product's).
    createable: bool = True
    updateable: bool = True
    default: Any = None  # "Defaulted on create": the value a create that leaves the field out gets

    def describe(self) -> dict[str, Any]:
        """The subset of Salesforce's field describe a sync engine reads (names as in the real payload)."""
        return {
            "name": self.name,
            "label": self.name.replace("__c", "").replace("_", " "),
            "type": self.type,
            "length": self.length or 0,
            "nillable": not self.required and self.type != "boolean" and self.name != "Id",
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.external_id or self.name == "Id",
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "custom": self.name.endswith("__c"),
            "createable": self.createable and not self.system,
            "updateable": self.updateable and not self.system,
            "defaultedOnCreate": self.system or self.default is not None,
            "calculated": False,
        }


@dataclass
class SObject:
    name: str
    label: str
    key_prefix: str
    fields: dict[str, Field]

    def field(self, name: str) -> Optional[Field]:
        # Salesforce field names are case-insensitive in bodies, CSV headers and SOQL.
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> Optional[Field]:
        lowered = name.lower()
        for candidate in self.fields.values():
            if candidate.relationship_name and candidate.relationship_name.lower() == lowered:
                return candidate
        return None

    def __post_init__(self) -> None:
        self._by_lower = {name.lower(): f for name, f in self.fields.items()}

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def summary(self, version: str) -> dict[str, Any]:
        base = f"/services/data/{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }

    def describe(self, version: str) -> dict[str, Any]:
        return {**self.summary(version), "fields": [f.describe() for f in self.fields.values()]}


class Schema:
    def __init__(self, objects: dict[str, SObject]):
        self.objects = objects
        self._by_lower = {name.lower(): obj for name, obj in objects.items()}
        self._by_prefix = {obj.key_prefix: obj for obj in objects.values()}

    def get(self, name: str) -> Optional[SObject]:
        return self._by_lower.get(name.lower())

    def by_prefix(self, record_id: str) -> Optional[SObject]:
        return self._by_prefix.get(record_id[:3])

    @classmethod
    def load(cls, path: Optional[str] = None) -> "Schema":
        with open(path or DEFAULT_SCHEMA, encoding="utf-8") as handle:
            raw = json.load(handle)
        objects = {}
        for name, spec in raw.items():
            fields = {fname: Field(fname, system=True, **_field_args(fspec)) for fname, fspec in SYSTEM_FIELDS.items()}
            for fname, fspec in spec["fields"].items():
                fields[fname] = Field(fname, **_field_args(fspec))
            objects[name] = SObject(name, spec.get("label", name), spec["keyPrefix"], fields)
        return cls(objects)


def _field_args(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": spec["type"],
        "length": spec.get("length"),
        "required": spec.get("required", False),
        "external_id": spec.get("externalId", False),
        "unique": spec.get("unique", False),
        "reference_to": spec.get("referenceTo", []),
        "relationship_name": spec.get("relationshipName"),
        "createable": spec.get("createable", True),
        "updateable": spec.get("updateable", True),
        "default": spec.get("default"),
    }
