"""Writing zensync's tag onto records created in Salesforce: when a catalog adopts an Account a person created
there, the new catalog id goes into `Zenskar_Id__c` at once, so the next outbound run upserts that same record
instead of creating a second one.

An update by Id through sObject Collections, 200 records per call, allOrNone false: setting the same value again
is harmless, so a write-back retried after a crash is idempotent. Each record answers on its own (a record
deleted meanwhile, or a tag another record already holds: `DUPLICATE_VALUE`), and the caller decides per record.
Like every zensync write, it fires the org's outbound messages as zensync's integration user: an echo.
"""

from __future__ import annotations

from typing import Mapping

from .collections import MAX_RECORDS, _send
from .connection import SalesforceConnection
from .ids import canonical
from .records import RecordResult


def write_tags(connection: SalesforceConnection, object_type: str, tag_field: str,
               tags: Mapping[str, str]) -> dict[str, RecordResult]:
    """`tags`: Salesforce record id -> catalog id. Returns a result per record id, as given."""
    pairs = list(tags.items())
    results: dict[str, RecordResult] = {}
    for start in range(0, len(pairs), MAX_RECORDS):
        chunk = pairs[start:start + MAX_RECORDS]
        body = {"allOrNone": False, "records": [{"attributes": {"type": object_type}, "Id": canonical(record_id)
                                                 or record_id, tag_field: catalog_id}
                                                for record_id, catalog_id in chunk]}
        answers = _send(connection, chunk, lambda sf, b=body: sf.restful("composite/sobjects", method="PATCH",
                                                                         json=b))
        results.update({record_id: answer for (record_id, _), answer in zip(chunk, answers, strict=True)})
    return results
