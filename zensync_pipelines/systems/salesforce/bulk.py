"""Bulk API 2.0 upserts for large batches: one CSV job per call, results matched back by external id.

Salesforce advises Bulk above ~2,000 records: a job costs a handful of calls (create, upload, close, polls, two
result downloads) whatever its size, where Collections costs one call per 200 records.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Sequence

from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession, SalesforceOperationError

from ...engine.types import Operation
from .connection import SalesforceConnection
from .records import RecordResult, flat_record

# create + upload + close + first poll + a few more polls + successful + failed results.
CALLS_PER_JOB = 8


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _csv_records(ops: Sequence[Operation], external_field: str) -> list[dict[str, str]]:
    """Every row gets every column: simple-salesforce writes the header from the union of keys, and a missing
    key would be an empty cell, which Bulk reads as "leave unchanged"."""
    rows = [flat_record(op, external_field) for op in ops]
    columns = sorted({column for row in rows for column in row})
    return [{column: row.get(column, "#N/A") for column in columns} for row in rows]


def upsert(connection: SalesforceConnection, object_type: str, external_field: str, ops: Sequence[Operation],
           poll_seconds: float) -> list[RecordResult]:
    connection.budget.ensure(CALLS_PER_JOB)
    records = _csv_records(ops, external_field)

    def run_jobs(sf: Any) -> list[str]:
        # A job that fails midway is aborted by simple-salesforce and run again whole: upserts on the external
        # id make the repeat harmless. simple-salesforce splits past 100 MB, hence a list of jobs.
        jobs = getattr(sf.bulk2, object_type).upsert(records=records, external_id_field=external_field,
                                                     wait=poll_seconds)
        return [job["job_id"] for job in jobs]

    def results(kind: str, job_id: str) -> str:
        return connection.call(lambda sf: getattr(getattr(sf.bulk2, object_type), kind)(job_id))

    successful, failed = [], []
    try:
        for job_id in connection.call(run_jobs):
            successful += _rows(results("get_successful_records", job_id))
            failed += _rows(results("get_failed_records", job_id))
    except SalesforceExpiredSession:
        raise
    except (SalesforceError, SalesforceOperationError, OSError) as error:
        return [RecordResult.request_failed(error)] * len(ops)
    by_key: dict[str, RecordResult] = {}
    key = external_field.lower()
    for row in successful:
        values = {k.lower(): v for k, v in row.items()}
        by_key[values.get(key, "")] = RecordResult(True, values.get("sf__id"))
    for row in failed:
        values = {k.lower(): v for k, v in row.items()}
        by_key[values.get(key, "")] = RecordResult.from_bulk_error(values.get("sf__id"), values.get("sf__error", ""))
    missing = RecordResult(False, None, "unprocessed", "Bulk API 2.0 job did not process this record")
    return [by_key.get(op.internal_id, missing) for op in ops]
