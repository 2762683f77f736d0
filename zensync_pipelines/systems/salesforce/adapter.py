"""Salesforce adapter: upserts on an external-id field (Collections or Bulk 2.0 by batch size), deletes by Id.

Creates and updates are both upserts on the spec's external-id field (`Zenskar_Id__c`), so a retry or a rerun
after a crash finds the record it wrote before instead of duplicating it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import time
from collections import defaultdict
from typing import Any, Callable, Iterable, Iterator, Optional, Protocol, Sequence

from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from ...engine.overwrite import ReadFailed
from ...engine.sync import StopSync, SystemUnavailable
from ...engine.types import DELETE, DELETED, REPLACE, SYNCED, Operation, Outcome
from ..base import Backoff, SystemAdapter
from . import bulk, collections, replace, writeback
from .auth import Credentials, SalesforceAuthError
from .changes import ChangeReader
from .connection import ApiBudget, BudgetSpent, SalesforceConnection, is_transient
from .ids import canonical
from .records import GONE, RecordResult, without_unwritable

Send = Callable[[Sequence[Operation]], list[RecordResult]]
STREAM_CHUNK = 10_000  # operations a streamed step hands to `apply` at a time where it does not use Bulk


class UsageMemory(Protocol):
    """Where the org's last reported API usage is kept between runs (store.state.ApiUsageMemory)."""

    def load(self) -> Optional[dict[str, Any]]: ...

    def save(self, value: dict[str, Any]) -> None: ...


class SalesforceAdapter(SystemAdapter):
    name = "salesforce"
    tag_field = "Zenskar_Id__c"  # where an adopted record gets its row id when the spec declares no field
    outage_errors = (SalesforceExpiredSession,)  # SalesforceAuthError is an engine Outage already

    def __init__(self, credentials: Credentials, api_version: str = "59.0", ca_bundle: Optional[str] = None,
                 bulk_threshold: int = 2000, batch_size: int = 1_000_000, budget_share: float = 0.9,
                 backoff: Optional[Backoff] = None, bulk_poll_seconds: float = 0.25, timeout_seconds: float = 120.0):
        super().__init__()
        credentials.check()
        self.bulk_threshold, self.batch_size, self.backoff = bulk_threshold, batch_size, backoff or Backoff()
        self.bulk_poll_seconds = bulk_poll_seconds
        self.budget = ApiBudget(budget_share)
        self.connection = SalesforceConnection(credentials, api_version, self.backoff, self.budget, self.count_call,
                                               ca_bundle, timeout_seconds)
        self.changes = ChangeReader(self.connection)
        self.memory: Optional[UsageMemory] = None

    def remember_usage(self, memory: UsageMemory) -> None:
        """Start from the usage an earlier run saw, and keep this run's for the next: a spent share then costs no
        call at all, not even the `/limits` probe, until its 24-hour window has moved on."""
        self.memory = memory
        saved = memory.load()
        if saved and saved.get("observed_at"):
            self.budget.restore(int(saved["used"]), int(saved["limit"]),
                                dt.datetime.fromisoformat(saved["observed_at"]))
            if not self.budget.spent or self.budget.resumes_at() <= dt.datetime.now(dt.timezone.utc):
                self.budget.used = self.budget.limit = None  # stale or not spent: probe afresh, as without memory

    def write_tags(self, object_type: str, tags: dict[str, str],
                   tag_field: Optional[str] = None) -> dict[str, RecordResult]:
        """Adopted records: put each catalog id (`{salesforce id: catalog id}`) into the tag field (the catalog's
        declared external-id field, else Zenskar_Id__c), batched."""
        return writeback.write_tags(self.connection, object_type, tag_field or self.tag_field, tags)

    def usage(self) -> dict[str, Any]:
        """API usage for run metadata: this run's HTTP requests and the org's daily allocation as last reported."""
        resumes = self.budget.resumes_at()
        return {"api_calls": self.api_calls, "daily_api_used": self.budget.used,
                "daily_api_limit": self.budget.limit, "budget_share": self.budget.share,
                "resumes_at": resumes.isoformat() if resumes else None}

    def _save_usage(self) -> None:
        if self.memory is not None and self.budget.observed_at is not None and self.budget.limit is not None:
            resumes = self.budget.resumes_at()
            self.memory.save({"used": self.budget.used, "limit": self.budget.limit,
                              "observed_at": self.budget.observed_at.isoformat(),
                              "resumes_at": resumes.isoformat() if resumes else None})

    def current(self, object_type: str, external_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records as Salesforce holds them now (a dry run's "old" values); reads only, one call per record."""
        return {i: dict(self.connection.call(lambda sf, i=i: getattr(sf, object_type).get(i))) for i in external_ids}

    def read_current(self, object_type: str, external_ids: Sequence[str],
                     fields: Sequence[str]) -> dict[str, Optional[dict[str, Any]]]:
        """The records' current values of `fields` before a partial update (engine/overwrite.py): one SOQL `IN`
        query per 200, with zensync's login, counted and within the API budget; None for a record gone."""
        self._check_budget()
        with self._stops(lambda: []):
            try:
                found = self.changes.current(object_type, external_ids, fields)
            except Exception as error:  # a failed or refused query fails these updates, as a failed write would
                if isinstance(error, SalesforceExpiredSession) or not (is_transient(error)
                                                                       or isinstance(error, SalesforceError)):
                    raise
                raise ReadFailed(f"reading {object_type} before the update failed: {type(error).__name__}: {error}",
                                 is_transient(error)) from None
        return {i: found.get(canonical(i) or i) for i in external_ids}

    def apply(self, operations: Sequence[Operation]) -> list[Outcome]:
        try:
            return self._apply(operations)
        finally:
            self._save_usage()

    def apply_stream(self, operations: Iterable[Operation], expected: int) -> Iterator[list[Outcome]]:
        """One step's outcomes a chunk at a time (engine/sync.py), in any order. An upsert above the Bulk
        threshold is one job (per 100 MB of CSV) whatever its size, with its operations, CSV and results on disk,
        so memory stays flat; anything else goes through `apply` STREAM_CHUNK operations at a time."""
        pending = iter(operations)
        first = next(pending, None)
        if first is None:
            return
        pending = itertools.chain([first], pending)
        if first.action == DELETE or first.external_id_field is None or expected <= self.bulk_threshold:
            while chunk := list(itertools.islice(pending, STREAM_CHUNK)):
                yield self.apply(chunk)
            return
        replaced: list[Operation] = []  # a replace retires a record first: never part of a Bulk job (replace.py)
        pending = _aside(pending, replaced)
        try:
            locked: list[Operation] = []
            again: list[Operation] = []
            self._check_budget()
            with self._stops(lambda: []):  # every outcome of a finished job was yielded already
                self.connection.learn_budget()
                blocks = bulk.upsert_stream(self.connection, first.system_type, first.external_id_field, pending,
                                            self.bulk_poll_seconds)
                for block in blocks:
                    outcomes = []
                    for sent, result in block:
                        healed = without_unwritable(Operation(*sent), result) if not result.ok else None
                        if healed is not None:  # a create whose reply was lost: again without create-only fields
                            again.append(healed)
                        elif result.locked:
                            locked.append(Operation(*sent))
                        else:
                            outcomes.append(self._outcome(sent, result))
                    yield outcomes
            if again:
                yield self.apply(again)
            if replaced:
                yield self.apply(replaced)
            if locked:  # records Salesforce could not lock: again with backoff, as `apply` does
                time.sleep(self.backoff.delay(0))
                yield self.apply(locked)
        finally:
            self._save_usage()

    def _check_budget(self) -> None:
        resumes = self.budget.resumes_at()
        if resumes is not None:
            raise StopSync(f"Salesforce API budget: {self.budget.used} of {self.budget.limit} daily calls were used "
                           f"at {self.budget.observed_at:%Y-%m-%d %H:%M} UTC, at or above the {self.budget.share:.0%} "
                           f"share; no call made, the sync resumes at {resumes:%Y-%m-%d %H:%M} UTC")

    @contextlib.contextmanager
    def _stops(self, finished: Callable[[], list[Outcome]]) -> Iterator[None]:
        """Turn what stops a run into StopSync (budget) or SystemUnavailable (outage, refused login), carrying
        the outcomes `finished` returns."""
        try:
            yield
        except BudgetSpent as spent:
            raise StopSync(str(spent), finished()) from None
        except StopSync as stop:  # the circuit breaker opened inside a request
            raise SystemUnavailable(stop.reason, finished()) from None
        except (SalesforceAuthError, SalesforceExpiredSession) as refused:
            raise SystemUnavailable(f"Salesforce login failed, the run stopped: {refused}", finished()) from None
        except Exception as error:
            if not is_transient(error):
                raise
            # Only the login and the first probe let an outage escape: nothing was written, the system is down.
            raise SystemUnavailable(f"Salesforce unreachable: {type(error).__name__}: {str(error)[:200]}",
                                    finished()) from None

    def _apply(self, operations: Sequence[Operation]) -> list[Outcome]:
        done: dict[int, Outcome] = {}
        self._check_budget()
        with self._stops(lambda: [done[i] for i in sorted(done)]):
            self.connection.learn_budget()
            groups: dict[tuple[str, bool, Optional[str]], list[int]] = defaultdict(list)
            for index, op in enumerate(operations):
                if op.action == REPLACE and op.external_id_field is not None:
                    done[index] = self._outcome(op, replace.replace(self.connection, op))  # rare: one by one
                    continue
                groups[(op.system_type, op.action == DELETE, op.external_id_field)].append(index)
            for (object_type, deleting, external_field), indexes in groups.items():
                pending = [(i, operations[i]) for i in indexes]
                if deleting:
                    self._settle(pending, done, self._delete_path)
                elif external_field is None:
                    for i, op in pending:
                        done[i] = self.failure(op, "no_external_id_field", f"the spec gives {object_type} no "
                                               "external-id field; Salesforce writes are upserts on one")
                else:
                    self._settle(pending, done, self._upsert_path(object_type, external_field))
        return [done[i] for i in range(len(operations))]

    def _delete_path(self, count: int) -> tuple[Send, int]:
        return (lambda chunk: collections.delete(self.connection, chunk)), collections.MAX_RECORDS

    def _upsert_path(self, object_type: str, external_field: str) -> Callable[[int], tuple[Send, int]]:
        """Collections in 200-record calls up to the threshold, one Bulk 2.0 job above it (fewer calls)."""
        def choose(count: int) -> tuple[Send, int]:
            if count > self.bulk_threshold:
                return (lambda ops: bulk.upsert(self.connection, object_type, external_field, ops,
                                                self.bulk_poll_seconds)), count
            return (lambda ops: collections.upsert(self.connection, object_type, external_field, ops)), \
                collections.MAX_RECORDS

        return choose

    def _settle(self, pending: list[tuple[int, Operation]], done: dict[int, Outcome],
                path: Callable[[int], tuple[Send, int]]) -> None:
        """Send chunk by chunk, recording each chunk's outcomes at once (a budget stop keeps them); then send
        again only the records Salesforce could not lock, with backoff, a bounded number of times. Every other
        result is final for this run."""
        for attempt in range(self.backoff.retries + 1):
            send, size = path(len(pending))
            retry, again = [], []
            for start in range(0, len(pending), size):
                chunk = pending[start:start + size]
                for (index, op), result in zip(chunk, send([op for _, op in chunk]), strict=True):
                    healed = without_unwritable(op, result)
                    if healed is not None:
                        again.append((index, healed))
                    elif result.locked and attempt < self.backoff.retries:
                        retry.append((index, op))
                    else:
                        done[index] = self._outcome(op, result)
            if again:  # at once, once: a healed create is no longer `recovering`
                self._settle(again, done, path)
            if not retry:
                return
            time.sleep(self.backoff.delay(attempt))
            pending = retry

    def _outcome(self, op: Operation, result: RecordResult) -> Outcome:
        if op.action == DELETE:
            if result.ok or result.code in GONE:
                return Outcome.of(op, DELETED)
        elif result.ok:
            return Outcome.of(op, SYNCED, external_id=result.record_id or op.external_id)
        return self.failure(op, result.code, result.message, result.field, transient=result.retryable)


def _aside(operations: Iterable[Operation], replaced: list[Operation]) -> Iterator[Operation]:
    """The operations but the replacements, which are put in `replaced` as they pass."""
    for op in operations:
        if op.action == REPLACE:
            replaced.append(op)
        else:
            yield op
