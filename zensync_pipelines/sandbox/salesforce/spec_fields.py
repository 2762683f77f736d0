"""The sandbox org's schema for the catalogs at hand: the packaged schema plus each External ID field a spec
declares on an object the org has (`ExternalObject("Contact", external_id_field="Zenskar_Contact_Id__c")`), as an
admin adds it to a real org before the first sync. Only identity fields are added: any other field a spec names
must be in the schema, so a misspelt one fails in the sandbox as it would in Salesforce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from .schema import DEFAULT_SCHEMA

SYSTEM = "salesforce"
EXTERNAL_ID = {"type": "string", "length": 255, "externalId": True, "unique": True}


def schema_with_spec_fields(specs: Sequence[Any], base: str = DEFAULT_SCHEMA) -> tuple[dict[str, Any], list[str]]:
    """(the schema, "Object.Field" of each field added)."""
    schema = json.loads(Path(base).read_text())
    added = []
    for spec in specs:
        for obj in spec.systems.get(SYSTEM, ()):
            fields = schema.get(obj.object_type, {}).get("fields")
            if obj.external_id_field and fields is not None and obj.external_id_field not in fields:
                fields[obj.external_id_field] = dict(EXTERNAL_ID)
                added.append(f"{obj.object_type}.{obj.external_id_field}")
    return schema, added


def write_schema(data: Path, specs: Sequence[Any]) -> tuple[Optional[str], list[str]]:
    """The schema file for the sandbox (None: the packaged one will do) and the fields it adds."""
    schema, added = schema_with_spec_fields(specs)
    if not added:
        return None, []
    target = data / "salesforce-schema.json"
    target.write_text(json.dumps(schema, indent=1, sort_keys=True))
    return str(target), added
