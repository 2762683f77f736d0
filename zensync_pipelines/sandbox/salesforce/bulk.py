"""Bulk API 2.0 ingest routes: create, upload, close/abort, poll, results, list and delete jobs.

As on Salesforce, the close request answers at once (UploadComplete) and a thread of the job's own processes the
rows meanwhile; clients poll the job through InProgress to JobComplete. The job is complete when its rows are
processed AND `bulk_processing_seconds` have passed on the sandbox clock since the close (a fake clock holds it
InProgress for as long as a test wants). Every HTTP call here counts against the daily API allocation like any
REST call (see docs).
"""

from __future__ import annotations

import bisect
import contextvars
import threading

from zensync_pipelines.sandbox.core import Request, Response

from .bulk_jobs import DELIMITERS, OPERATIONS, TERMINAL, Job, abort, process
from .errors import ApiError, invalid_type
from .host import SalesforceHost
from .limits import DAY
from .values import make_id


P = "/services/data/{version}/jobs/ingest"
CSV = "text/csv"
RESULTS = {"successfulResults": "successful", "failedResults": "failed", "unprocessedrecords": "unprocessed",
           "unprocessedRecords": "unprocessed"}


class BulkRoutes:
    def __init__(self, sb: SalesforceHost):
        self.sb = sb
        self.jobs: dict[str, Job] = {}
        self._owners: dict[str, str] = {}  # job id -> the org that created it; other orgs get 404
        self._lock = threading.RLock()
        self._sequence = 0
        self._uploads: dict[str, list[float]] = {}  # per org, for its DailyBulkApiBatches
        add = sb.router.add
        add("POST", P, self.create)
        add("GET", P, self.list)
        add("GET", P + "/{job_id}", self.get)
        add("PATCH", P + "/{job_id}", self.change_state)
        add("DELETE", P + "/{job_id}", self.delete)
        add("PUT", P + "/{job_id}/batches", self.upload)
        for path in RESULTS:
            add("GET", f"{P}/{{job_id}}/{path}", self.results)

    def create(self, request: Request) -> Response:
        body = request.json() or {}
        sobject = self.sb.schema.get(str(body.get("object", "")))
        if sobject is None:
            raise invalid_type(str(body.get("object")))
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}")
        external_id = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external_id:
                raise ApiError(400, "INVALIDJOB", "External ID was blank for upsert")
            field = sobject.field(external_id)
            if field is None or not (field.external_id or field.name == "Id"):
                raise ApiError(400, "INVALIDJOB", f"The field '{external_id}' is not an external id field of "
                                                  f"{sobject.name}")
        delimiter = DELIMITERS.get(body.get("columnDelimiter", "COMMA"))
        if body.get("contentType", "CSV") != "CSV" or delimiter is None:
            raise ApiError(400, "INVALIDJOB", "Only CSV content with a supported columnDelimiter is accepted")
        with self._lock:
            self._sequence += 1
            job = Job(make_id("750", "5g", self._sequence), sobject, operation, external_id if operation == "upsert"
                      else None, delimiter, body.get("lineEnding", "LF"), request.params["version"], self.sb.clock())
            self.jobs[job.id] = job
            self._owners[job.id] = self.sb.orgs.current().id
        return Response(200, job.info())

    def upload(self, request: Request) -> Response:
        job = self._job(request)
        with self._lock:
            if job.state != "Open" or job.data is not None:
                raise ApiError(409, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads (state {job.state}, "
                                                       "one upload per job)")
            if not (request.header("content-type") or "").startswith(CSV):
                raise ApiError(400, "INVALIDJOB", "Content-Type must be text/csv")
            job.data = request.body.decode("utf-8")
            bisect.insort(self._uploads.setdefault(self.sb.orgs.current().id, []), self.sb.clock())
        return Response(201)

    def change_state(self, request: Request) -> Response:
        job = self._job(request)
        wanted = (request.json() or {}).get("state")
        with self._lock:
            self._advance(job)
            if wanted == "UploadComplete" and job.state == "Open":
                job.state = "UploadComplete"
                job.ready_at = self.sb.clock() + float(self.sb.knobs.bulk_processing_seconds)
                # The thread writes into this request's org: it runs in a copy of the request's context.
                threading.Thread(target=contextvars.copy_context().run, args=(process, self.sb, job),
                                 name=f"bulk-{job.id}", daemon=True).start()
                return Response(200, job.info())
            if wanted == "Aborted" and job.state not in TERMINAL:
                abort(job)
                return Response(200, job.info())
        raise ApiError(400, "INVALIDJOBSTATE", f"Cannot change the state of job {job.id} from {job.state} to "
                                               f"{wanted}")

    def get(self, request: Request) -> Response:
        job = self._job(request)
        with self._lock:
            self._advance(job)
            return Response(200, job.info())

    def list(self, request: Request) -> Response:
        with self._lock:
            mine = [job for job in self.jobs.values() if self._owners[job.id] == self.sb.orgs.current().id]
            for job in mine:
                self._advance(job)
            records = [job.info() for job in mine]
        return Response(200, {"done": True, "records": records, "nextRecordsUrl": None})

    def delete(self, request: Request) -> Response:
        job = self._job(request)
        with self._lock:
            if job.state in ("Open", "InProgress"):
                raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} can't be deleted in state {job.state}")
            del self.jobs[job.id], self._owners[job.id]
        return Response(204)

    def results(self, request: Request) -> Response:
        job = self._job(request)
        kind = RESULTS[request.path.rstrip("/").rsplit("/", 1)[-1]]
        with self._lock:
            self._advance(job)
            if job.state not in TERMINAL:
                raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is not finished (state {job.state})")
            return Response(200, job.results_csv(kind), content_type="text/csv; charset=UTF-8")

    def batches_today(self) -> int:
        with self._lock:
            uploads = self._uploads.get(self.sb.orgs.current().id, [])
            return len(uploads) - bisect.bisect_left(uploads, self.sb.clock() - DAY)

    # -- helpers -----------------------------------------------------------------------------------------------
    def _job(self, request: Request) -> Job:
        with self._lock:
            job = self.jobs.get(request.params["job_id"])
            if job is not None and self._owners[job.id] != self.sb.orgs.current().id:
                job = None  # another org's job does not exist in this one
        if job is None:
            raise ApiError(404, "NOT_FOUND", f"Job {request.params['job_id']} does not exist")
        return job

    def _advance(self, job: Job) -> None:
        """Moves a closed job along: InProgress once closed, JobComplete when processed and due on the clock."""
        if job.state not in ("UploadComplete", "InProgress") or job.ready_at is None:
            return
        done = job.finished.is_set() and self.sb.clock() >= job.ready_at
        job.state = ("Failed" if job.error_message else "JobComplete") if done else "InProgress"

