"""Bulk API 2.0 upserts for large batches: one CSV job per call, results matched back by external id.

Salesforce advises Bulk above ~2,000 records: a job costs a handful of calls (create, upload, close, polls, the
successful results, and the failed ones only when the job reports failures) whatever its size, where
Collections costs one call per 200 records.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from typing import Any, Iterator, Sequence

from simple_salesforce import bulk2
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession, SalesforceOperationError

from ...engine.types import Operation
from .connection import SalesforceConnection
from .records import RecordResult, flat_record

# create + upload + close + first poll + a few more polls + successful (+ failed) results.
CALLS_PER_JOB = 8
MAX_UPLOAD_BYTES = 100_000_000  # Bulk 2.0 takes 150 MB of CSV per job (base64-encoded); stay well below
# Polls start soon (a small job is done in well under a second) and back off by half again each time; once a poll
# reports records processed, the next waits about as long as the rest should take at the rate seen since the poll
# before (not since the close: a job waits in a queue, and its CSV is read, before its first record is processed).
POLL_GROWTH, MAX_POLL_SECONDS, MAX_WAIT_SECONDS = 1.5, 10.0, 6 * 3600.0
ESTIMATE_MARGIN = 1.1  # a little past the estimate: one poll that finds the job done, not one just before
# Below this share of its records done, a job's pace is not known yet (its first records were processed just now):
# the next poll waits at most as long again as the job has run, not a whole estimate from a few hundred records.
TRUSTED_SHARE = 0.1
TERMINAL = ("JobComplete", "Failed", "Aborted")


def _read_results(text: str, key: str, by_key: dict[str, RecordResult]) -> None:
    """A results CSV into `by_key` (external id -> result), row by row: no list of dicts for 10^5 records."""
    reader = csv.reader(io.StringIO(text))
    header = [name.lower() for name in next(reader, [])]
    if key not in header:
        return
    at_key, at_id = header.index(key), header.index("sf__id")
    at_error = header.index("sf__error") if "sf__error" in header else None
    for row in reader:
        by_key[row[at_key]] = RecordResult(True, row[at_id]) if at_error is None else \
            RecordResult.from_bulk_error(row[at_id], row[at_error])


def _csv_uploads(ops: Sequence[Operation], external_field: str) -> list[str]:
    """The operations as CSV texts of at most MAX_UPLOAD_BYTES each, one per job, every one with the header.

    Every row gets every column: a missing key would be an empty cell, which Bulk reads as "leave unchanged";
    `#N/A` is Bulk's explicit null. Rows are rendered straight from their flat records, one line at a time: no
    second, column-complete copy of 10^5 records."""
    records = [flat_record(op, external_field) for op in ops]
    columns = sorted({column for record in records for column in record})
    return _render(columns, ([record.get(column, "#N/A") for column in columns] for record in records))


def _render(columns: list[str], rows: Iterator[list[str]]) -> list[str]:
    scratch = io.StringIO()
    writer = csv.writer(scratch, lineterminator="\n")

    def line(values: list[str]) -> str:  # one CSV line, quoted the csv module's way
        scratch.seek(0)
        scratch.truncate()
        writer.writerow(values)
        return scratch.getvalue()

    header = line(columns)
    room = MAX_UPLOAD_BYTES - len(header.encode())
    uploads, lines, size = [], [], 0
    for values in rows:
        text = line(values)
        length = len(text.encode())
        if lines and size + length > room:
            uploads.append(header + "".join(lines))
            lines, size = [], 0
        lines.append(text)
        size += length
    uploads.append(header + "".join(lines))
    return uploads


def next_wait(previous: float, first: float, elapsed: float, processed: int, records: int,
              before: tuple[float, int] = (0.0, 0)) -> float:
    """Seconds until the next poll of a job `elapsed` seconds after its close, `processed` of `records` done;
    `before` is (elapsed, processed) at the poll before this one (the close: nothing processed)."""
    then, done_then = before
    if 0 < processed < records and elapsed > then and processed > done_then:
        remaining = (records - processed) * (elapsed - then) / (processed - done_then)
        wait = max(remaining * ESTIMATE_MARGIN, first)
        if processed < records * TRUSTED_SHARE:
            wait = min(wait, max(elapsed, first))
        return min(wait, MAX_POLL_SECONDS)
    return min(previous * POLL_GROWTH, MAX_POLL_SECONDS)


def _run_job(client: Any, external_field: str, data: str, records: int, poll_seconds: float) -> dict[str, Any]:
    """One job, step by step, so it costs the protocol's calls and no more: simple-salesforce's own upsert reads
    the job once more after the poll that saw it complete. A job that fails midway is aborted and raised; the
    caller runs it again whole, and upserts on the external id make the repeat harmless."""
    job = client.create_job(bulk2.Operation.upsert, external_id_field=external_field)
    try:
        client.upload_job_data(job["id"], data)
        client.close_job(job["id"])
        closed, delay, before = time.monotonic(), poll_seconds, (0.0, 0)
        while True:
            time.sleep(delay)
            info = client.get_job(job["id"], False)
            if info["state"] in TERMINAL:
                break
            elapsed = time.monotonic() - closed
            if elapsed > MAX_WAIT_SECONDS:
                raise SalesforceOperationError(f"Bulk job {job['id']} still {info['state']} after {elapsed:.0f} s")
            processed = int(info.get("numberRecordsProcessed") or 0)
            delay = next_wait(delay, poll_seconds, elapsed, processed, records, before)
            before = (elapsed, processed)
    except Exception:
        with contextlib.suppress(Exception):
            client.abort_job(job["id"], False)
        raise
    if info["state"] != "JobComplete":
        raise SalesforceOperationError(f"Bulk job {job['id']} {info['state']}: {info.get('errorMessage')}")
    return info


def upsert(connection: SalesforceConnection, object_type: str, external_field: str, ops: Sequence[Operation],
           poll_seconds: float) -> list[RecordResult]:
    uploads = _csv_uploads(ops, external_field)
    by_key: dict[str, RecordResult] = {}
    key = external_field.lower()
    try:
        while uploads:
            data = uploads.pop(0)  # taken off the list: the text lives only until its job is done
            connection.budget.ensure(CALLS_PER_JOB)
            connection.breaker.check()
            # simple-salesforce's per-object Bulk 2.0 client: its steps are public methods, its attribute is not.
            count = data.count("\n") - 1  # records, near enough: it only paces the polls
            info = connection.call(lambda sf: _run_job(getattr(sf.bulk2, object_type)._client, external_field,
                                                       data, count, poll_seconds))
            data = ""  # the job has it: let the text go before its results (as large again) are read

            def results(kind: str, job_id: str = info["id"]) -> str:
                return connection.call(lambda sf: getattr(sf.bulk2, object_type)._client.get_ingest_results(
                    job_id, kind))

            _read_results(results("successfulResults"), key, by_key)
            if int(info.get("numberRecordsFailed") or 0):  # no failure reported: nothing to download
                _read_results(results("failedResults"), key, by_key)
    except SalesforceExpiredSession:
        raise
    except SalesforceOperationError as error:  # the job failed or timed out: worth another try later
        return [RecordResult.request_failed(error, transient=True)] * len(ops)
    except (SalesforceError, OSError) as error:
        return connection.request_failed(error, len(ops))
    connection.breaker.success()
    missing = RecordResult(False, None, "unprocessed", "Bulk API 2.0 job did not process this record")
    return [by_key.get(op.internal_id, missing) for op in ops]
