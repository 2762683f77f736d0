"""Bulk API 2.0 upserts for large batches: one CSV job per call, results matched back by external id.

Salesforce advises Bulk above ~2,000 records: a job costs a handful of calls (create, upload, close, polls, the
successful results, and the failed ones only when the job reports failures) whatever its size, where
Collections costs one call per 200 records.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import itertools
import sqlite3
import time
from typing import IO, Any, Iterable, Iterator, Sequence

from simple_salesforce import bulk2
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession, SalesforceOperationError
from simple_salesforce.util import call_salesforce

from ...engine.batch import FIELDS, read_blocks, spool_file, write_block
from ...engine.types import Operation
from .connection import SalesforceConnection
from .records import RecordResult, external_value, flat_record

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
BLOCK = 10_000  # operations pickled, and matched to their results, at a time
MISSING = RecordResult(False, None, "unprocessed", "Bulk API 2.0 job did not process this record")


# An operation as read back from the spool: the same fields by name, as a tuple (Outcome.of reads only fields), so
# 10^5 frozen dataclasses are not rebuilt; `Operation(*sent)` gives the operation itself (a locked record's retry).
Sent = collections.namedtuple("Sent", Operation.__slots__)


class _Spool:
    """A job's operations and CSV on disk, so a job of any size costs flat memory. Every file is anonymous
    (unlinked at once), so nothing is left behind, even by a killed process.

    Pass 1 pickles the operations and their flat records in blocks and learns the columns (every row gets every
    column: a partial update's record leaves the fields it does not send empty, which Bulk 2.0 leaves as they
    are, so one job per object carries updates of any mix of fields and never writes an unchanged one); pass 2
    renders the CSV uploads of at most MAX_UPLOAD_BYTES; the operations are read back, in order,
    to match each one to its result."""

    def __init__(self, ops: Iterable[Operation], external_field: str, results: _Results):
        self.columns: set[str] = set()
        self.size = 0
        self._ops, self._records = _file(), _file()
        pending = iter(ops)
        while block := list(itertools.islice(pending, BLOCK)):
            records = [flat_record(op, external_field) for op in block]
            self.columns.update(*records)  # one call a block: the keys of every record
            write_block(self._ops, list(map(FIELDS, block)))
            write_block(self._records, records)
            results.send(external_value(op) for op in block)
            self.size += len(block)

    def uploads(self) -> list[tuple[IO[bytes], int]]:
        """The CSV files, each with its header, and how many records each holds (consecutive operations)."""
        columns = sorted(self.columns)
        records = (record for block in read_blocks(self._records) for record in block)
        rows = ([record.get(column, "") for column in columns] for record in records)
        return _render(columns, rows)

    def ops(self) -> Iterator[Sent]:
        return (Sent._make(fields) for block in read_blocks(self._ops) for fields in block)

    def close(self) -> None:
        self._ops.close()
        self._records.close()


def _file() -> IO[bytes]:
    return spool_file("bulk")


def _render(columns: list[str], rows: Iterator[list[str]]) -> list[tuple[IO[bytes], int]]:
    scratch_line = io.StringIO()
    writer = csv.writer(scratch_line, lineterminator="\n")

    def line(values: list[str]) -> bytes:  # one CSV line, quoted the csv module's way
        scratch_line.seek(0)
        scratch_line.truncate()
        writer.writerow(values)
        return scratch_line.getvalue().encode()

    header = line(columns)
    uploads: list[tuple[IO[bytes], int]] = []
    out: IO[bytes] | None = None
    size = records = 0
    for values in rows:
        text = line(values)
        if out is None or (records and size + len(text) > MAX_UPLOAD_BYTES):
            if out is not None:
                uploads.append((out, records))
            out = _file()
            out.write(header)
            size, records = len(header), 0
        out.write(text)
        size += len(text)
        records += 1
    if out is not None:
        uploads.append((out, records))
    return uploads


class _Results:
    """A job's results by external id, in a private temporary SQLite database (on disk, deleted when closed).
    Salesforce does not return them in the order they were sent, and a dict of 10^5 or 10^6 of them is what flat
    memory rules out: every key sent is numbered, and SQLite joins the results to the numbers, in order."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("")
        self.db.execute("CREATE TABLE sent (position INTEGER PRIMARY KEY, key TEXT)")
        self.db.execute("CREATE TABLE results (key TEXT PRIMARY KEY, ok INTEGER, id TEXT, error TEXT)")

    def send(self, keys: Iterable[str]) -> None:
        """Number the next records sent (positions count from 1, in the order of the uploads)."""
        self.db.executemany("INSERT INTO sent (key) VALUES (?)", ((key,) for key in keys))

    def load(self, file: IO[bytes], key: str) -> None:
        """A results CSV (`sf__Id`, `sf__Error` for failures, the columns sent) into the table, row by row."""
        file.seek(0)
        with io.TextIOWrapper(file, encoding="utf-8", newline="") as text:
            reader = csv.reader(text)
            header = [name.lower() for name in next(reader, [])]
            if key not in header:
                return
            at_key, at_id = header.index(key), header.index("sf__id")
            at_error = header.index("sf__error") if "sf__error" in header else None
            self.db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", (
                (row[at_key], at_error is None, row[at_id], None if at_error is None else row[at_error])
                for row in reader))

    def answers(self, after: int, count: int) -> Iterator[RecordResult]:
        """The results of the records at positions after+1 .. after+count, in order; a record the job did not
        report was not processed (and is retried)."""
        rows = self.db.execute("SELECT r.ok, r.id, r.error FROM sent AS s LEFT JOIN results AS r ON r.key = s.key "
                               "WHERE s.position > ? AND s.position <= ? ORDER BY s.position", (after, after + count))
        for ok, record_id, error in rows:
            yield MISSING if ok is None else RecordResult(True, record_id) if ok else \
                RecordResult.from_bulk_error(record_id, error)

    def clear(self) -> None:
        self.db.execute("DELETE FROM results")

    def close(self) -> None:
        self.db.close()


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


def _run_job(client: Any, external_field: str, body: IO[bytes], records: int, poll_seconds: float) -> dict[str, Any]:
    """One job, step by step, so it costs the protocol's calls and no more: simple-salesforce's own upsert reads
    the job once more after the poll that saw it complete, and wants its CSV as one string (this uploads the
    file as it is read). A job that fails midway is aborted and raised; the caller runs it again whole, and
    upserts on the external id make the repeat harmless."""
    job = client.create_job(bulk2.Operation.upsert, external_id_field=external_field)
    try:
        body.seek(0)  # from the start on every attempt
        call_salesforce(url=f"{client.bulk2_url}ingest/{job['id']}/batches", method="PUT", session=client.session,
                        data=body, headers={**client.headers, "Content-Type": "text/csv", "Accept": "application/json"})
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


def _download(client: Any, job_id: str, kind: str, out: IO[bytes]) -> None:
    """A job's results CSV into a file, streamed (as large as the upload, or larger)."""
    response = call_salesforce(url=f"{client.bulk2_url}ingest/{job_id}/{kind}", method="GET",
                               session=client.session, stream=True,
                               headers={**client.headers, "Content-Type": "application/json", "Accept": "text/csv"})
    out.seek(0)
    out.truncate()  # a retried download starts again
    with contextlib.closing(response):
        for chunk in response.iter_content(chunk_size=1 << 16):
            out.write(chunk)


def upsert(connection: SalesforceConnection, object_type: str, external_field: str, ops: Sequence[Operation],
           poll_seconds: float) -> list[RecordResult]:
    """Results of `ops`, in their order (the in-memory form of `upsert_stream`)."""
    return [result for block in upsert_stream(connection, object_type, external_field, ops, poll_seconds)
            for _, result in block]


def upsert_stream(connection: SalesforceConnection, object_type: str, external_field: str, ops: Iterable[Operation],
                  poll_seconds: float) -> Iterator[list[tuple[Sent, RecordResult]]]:
    """Upsert any number of operations, one job per MAX_UPLOAD_BYTES of CSV, with the operations, the CSV and the
    results on disk: yields (operation as `Sent`, result) in the operations' order, a block at a time, job after
    job."""
    key = external_field.lower()
    results = _Results()
    spool = _Spool(ops, external_field, results)
    uploads: list[tuple[IO[bytes], int]] = []
    try:
        uploads = spool.uploads()
        sent, done = spool.ops(), 0
        for body, records in uploads:
            failed = _run(connection, object_type, external_field, key, body, records, poll_seconds, results)
            body.close()  # the job has it
            answers = itertools.repeat(failed) if failed is not None else results.answers(done, records)
            for start in range(0, records, BLOCK):
                block = list(itertools.islice(sent, min(BLOCK, records - start)))
                yield list(zip(block, itertools.islice(answers, len(block)), strict=True))
            done += records
            results.clear()
    finally:
        spool.close()
        results.close()
        for body, _ in uploads:
            body.close()


def _run(connection: SalesforceConnection, object_type: str, external_field: str, key: str, body: IO[bytes],
         records: int, poll_seconds: float, results: _Results) -> RecordResult | None:
    """Run one upload's job and load its results; or the failure of every one of its records when the job or a
    request failed for good."""
    try:
        connection.budget.ensure(CALLS_PER_JOB)
        connection.breaker.check()
        # simple-salesforce's per-object Bulk 2.0 client: its steps are public methods, its attribute is not.
        info = connection.call(lambda sf: _run_job(getattr(sf.bulk2, object_type)._client, external_field,
                                                   body, records, poll_seconds))
        kinds = ["successfulResults"] + (["failedResults"] if int(info.get("numberRecordsFailed") or 0) else [])
        for kind in kinds:  # no failure reported: nothing to download
            with _file() as target:
                connection.call(lambda sf, kind=kind, target=target: _download(
                    getattr(sf.bulk2, object_type)._client, info["id"], kind, target))
                results.load(target, key)
    except SalesforceExpiredSession:
        raise
    except SalesforceOperationError as error:  # the job failed or timed out: worth another try later
        return RecordResult.request_failed(error, transient=True)
    except (SalesforceError, OSError) as error:
        return connection.request_failed(error, 1)[0]
    connection.breaker.success()
    return None
