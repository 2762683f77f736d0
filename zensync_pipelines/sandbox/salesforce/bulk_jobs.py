"""One Bulk API 2.0 ingest job: its state machine and the row-by-row processing of its CSV.

Rows are processed independently (Bulk has no allOrNone): each succeeds or fails on its own with the same
validation as the REST APIs, and lands in successfulResults or failedResults with the original columns.
Processing runs on a thread of its own after the close request, as on Salesforce; an abort stops it between rows.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import RecordError, lock_row
from .host import SalesforceHost
from .schema import SObject
from .values import now_iso
from .writes import MultipleMatches


DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
TERMINAL = {"JobComplete", "Failed", "Aborted"}
NULL_MARKER = "#N/A"  # an empty CSV cell leaves a field alone; #N/A sets it to null


@dataclass
class Job:
    id: str
    sobject: SObject
    operation: str
    external_id: Optional[str]
    delimiter: str
    line_ending: str
    version: str
    created: float
    state: str = "Open"
    data: Optional[str] = None
    ready_at: Optional[float] = None
    error_message: Optional[str] = None
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    # Set when processing has ended: every row processed, the job failed, or an abort stopped it between rows.
    finished: threading.Event = field(default_factory=threading.Event, repr=False)
    # Wall-clock seconds of processing (perf_counter): its start, and its length once it has ended.
    processing_began: Optional[float] = None
    processing_seconds: Optional[float] = None

    def processing_ms(self) -> int:
        """Job info's `totalProcessingTime`: milliseconds spent processing, so far or in all."""
        if self.processing_seconds is not None:
            return int(self.processing_seconds * 1000)
        return int((time.perf_counter() - self.processing_began) * 1000) if self.processing_began else 0

    def info(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.sobject.name,
            "createdById": "0055g000000ZSBXAA4", "createdDate": now_iso(self.created),
            "systemModstamp": now_iso(self.created), "state": self.state, "concurrencyMode": "Parallel",
            "contentType": "CSV", "apiVersion": float(self.version.lstrip("v")), "jobType": "V2Ingest",
            "contentUrl": f"services/data/{self.version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending, "columnDelimiter": _name_of(self.delimiter),
            "numberRecordsProcessed": len(self.successful) + len(self.failed),
            "numberRecordsFailed": len(self.failed), "retries": 0, "totalProcessingTime": self.processing_ms(),
            "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
        }
        if self.external_id:
            body["externalIdFieldName"] = self.external_id
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body

    def results_csv(self, kind: str) -> str:
        if kind == "unprocessed" and self.state == "Aborted":
            self.finished.wait(60)  # the processing thread stops at its next row
            done = len(self.successful) + len(self.failed)
            rows = _rows(self)
            if rows:
                self.header, self.unprocessed = rows[0], [r for r in rows[1:] if any(r)][done:]
        prefix = {"successful": ["sf__Id", "sf__Created"], "failed": ["sf__Id", "sf__Error"], "unprocessed": []}
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(prefix[kind] + self.header)
        writer.writerows(getattr(self, kind))
        return out.getvalue()


def abort(job: Job) -> None:
    """Processing stops before its next row; rows not processed by then are reported as unprocessed."""
    job.state = "Aborted"
    if job.ready_at is None:  # never closed: no processing thread to wait for
        job.finished.set()


def _rows(job: Job) -> list[list[str]]:
    return list(csv.reader(io.StringIO(job.data or "", newline=""), delimiter=job.delimiter))


def process(sb: SalesforceHost, job: Job) -> None:
    """Process every row. The routes report the job done once `finished` is set and the sandbox clock allows:
    Failed when an `error_message` was set here, JobComplete otherwise."""
    job.processing_began = time.perf_counter()
    try:
        rows = _rows(job)
        if not rows:
            job.error_message = "InvalidBatch : No content in the request"
            return
        job.header, body_rows = rows[0], [r for r in rows[1:] if any(cell != "" for cell in r)]
        problem = _check_header(job)
        if problem:
            job.error_message, job.unprocessed = problem, body_rows
            return
        for row in body_rows:
            if job.state == "Aborted":
                return
            record_id, created, error = _process_row(sb, job, dict(zip(job.header, row)))
            if error is None:
                job.successful.append([record_id or "", "true" if created else "false"] + row)
            else:
                job.failed.append([record_id or "", error.bulk_text()] + row)
    finally:
        job.processing_seconds = time.perf_counter() - job.processing_began
        job.finished.set()


def _check_header(job: Job) -> Optional[str]:
    if job.operation in ("delete", "hardDelete") and [h.lower() for h in job.header] != ["id"]:
        return "InvalidBatch : The 'delete' batch must contain only ids"
    for column in job.header:
        relation, _, parent_field = column.rpartition(".")
        known = job.sobject.relationship(relation) if relation else job.sobject.field(column)
        if known is None or (relation and not parent_field):
            return f"InvalidBatch : Field name not found : {column}"
    return None


def _process_row(sb: SalesforceHost, job: Job, cells: dict[str, str]) -> tuple[Optional[str], bool, Any]:
    body: dict[str, Any] = {}
    for column, value in cells.items():
        if value == "":
            continue
        relation, _, parent_field = column.rpartition(".")
        if relation:
            body[relation] = {parent_field: value}
        else:
            body[column] = None if value == NULL_MARKER else value
    record_id = next((v for k, v in body.items() if k.lower() == "id"), None)
    try:
        if sb.record_fault():
            raise lock_row(record_id)
        writer, sobject = sb.writer, job.sobject
        if job.operation == "insert":
            return writer.create(sobject, body), True, None
        if job.operation == "update":
            return writer.update(sobject, record_id, body), False, None
        if job.operation in ("delete", "hardDelete"):
            return writer.delete(record_id, sobject), False, None
        assert job.external_id is not None
        value = next((v for k, v in body.items() if k.lower() == job.external_id.lower()), None)
        try:
            new_id, created = writer.upsert(sobject, job.external_id, value, body)
        except MultipleMatches as multiple:
            raise RecordError.one("DUPLICATE_EXTERNAL_ID", f"{job.external_id}: more than one record found for "
                                  f"external id field: {multiple.ids}", [job.external_id]) from None
        return new_id, created, None
    except RecordError as error:
        return record_id, False, error


def _name_of(delimiter: str) -> str:
    return next(name for name, char in DELIMITERS.items() if char == delimiter)
