"""A test-only external system: a JSON-lines journal on disk, written through the public adapter interface.

Every write appends one record; the objects are the journal replayed. The file is the system's whole state, so
a new adapter (each Dagster run builds one) sees what earlier ones wrote, and a crash between the append and
zensync's bookkeeping is real. It honours idempotency keys, validates like a real API, and can throttle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from dagster import ConfigurableResource, EnvVar

from zensync_pipelines.engine.types import CREATE, DELETE, DELETED, SYNCED, UPDATE, Operation, Outcome
from zensync_pipelines.systems.base import ExternalChange, ReadsChanges, SystemAdapter

MAX_NAME = 100  # the system's own rule, stricter than any catalog's


class SimulatedCrash(BaseException):
    """The process died after the write landed and before zensync recorded it."""
    # A BaseException, like the SystemExit of a killed process: no handler in the engine can swallow it.


class Throttled(Exception):
    pass


class JsonlSystem(SystemAdapter, ReadsChanges):
    name = "jsonl"

    def __init__(self, path: Path, batch_size: int = 50, retries: int = 3,
                 sleep: Callable[[float], None] = time.sleep):
        super().__init__()
        self.path, self.batch_size, self.retries, self.sleep = Path(path), batch_size, retries, sleep
        self.knobs_path = self.path.with_suffix(".knobs.json")  # faults outlive one adapter, like a server's

    # -- the "server" ------------------------------------------------------------------------------------------
    def journal(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def objects(self, object_type: str) -> dict[str, dict[str, Any]]:
        """Live objects by external id: the journal replayed."""
        state: dict[str, dict[str, Any]] = {}
        for record in self.journal():
            if record["object_type"] != object_type:
                continue
            if record["op"] == DELETE:
                state.pop(record["id"], None)
            else:
                state[record["id"]] = state.get(record["id"], {}) | record["fields"]
        return state

    def knobs(self) -> dict[str, Any]:
        return json.loads(self.knobs_path.read_text()) if self.knobs_path.exists() else {}

    def configure(self, **knobs: Any) -> None:
        """`throttle`: refuse the next N requests; `crash_after`: die after the Nth write from now."""
        self.knobs_path.write_text(json.dumps(self.knobs() | knobs))

    def _spend(self, knob: str) -> bool:
        knobs = self.knobs()
        if knobs.get(knob, 0) <= 0:
            return False
        self.configure(**{knob: knobs[knob] - 1})
        return knobs[knob] == 1 if knob == "crash_after" else True

    def _append(self, record: dict[str, Any]) -> None:
        record |= {"seq": len(self.journal()) + 1, "at": dt.datetime.now(dt.timezone.utc).isoformat()}
        with self.path.open("a") as journal:
            journal.write(json.dumps(record, sort_keys=True) + "\n")

    def _write(self, op: Operation) -> str:
        self.count_call()
        if self._spend("throttle"):
            raise Throttled()
        answered = next((r["id"] for r in self.journal() if r.get("key") == op.idempotency_key), None)
        if answered is not None:
            return answered  # a replayed key writes nothing and returns the first answer
        if op.action == DELETE:
            self._append({"op": DELETE, "object_type": op.object_type, "id": op.external_id,
                          "fields": {"zenskar_id": op.internal_id},
                          "key": op.idempotency_key})
            return op.external_id or ""
        name = op.payload.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise ValueError(f"name must be 1 to {MAX_NAME} characters")
        external_id = op.external_id or f"jl_{len(self.journal()) + 1:06d}"
        self._append({"op": op.action, "object_type": op.object_type, "id": external_id,
                      "fields": op.payload | {"zenskar_id": op.internal_id}, "key": op.idempotency_key})
        return external_id

    # -- the adapter -------------------------------------------------------------------------------------------
    def apply(self, operations: Sequence[Operation]) -> list[Outcome]:
        return [self._apply_one(op) for op in operations]

    def _apply_one(self, op: Operation) -> Outcome:
        for attempt in itertools.count():
            try:
                write = op
                if op.action == CREATE and op.recovering:  # an unrecorded attempt may have landed: look first
                    found = self.find(op.object_type, op.internal_id)
                    if found is not None:
                        write = dataclasses.replace(op, action=UPDATE, external_id=found)
                external_id = self._write(write)
                break
            except Throttled:
                if attempt == self.retries:
                    return self.failure(op, "rate_limited", "throttled by the system; retried next run")
                self.sleep(0.01 * 2 ** attempt)
            except ValueError as error:
                return self.failure(op, "invalid_field", str(error), "name")
        if self._spend("crash_after"):
            raise SimulatedCrash("the process died after its write landed")
        return Outcome.of(op, DELETED) if op.action == DELETE else Outcome.of(op, SYNCED, external_id=external_id)

    def find(self, object_type: str, internal_id: str) -> Optional[str]:
        return next((i for i, o in self.objects(object_type).items() if o.get("zenskar_id") == internal_id), None)

    def read_changes(self, object_type: str, since: dt.datetime) -> list[ExternalChange]:
        changes = []
        for record in self.journal():
            at = dt.datetime.fromisoformat(record["at"])
            if record["object_type"] == object_type and at >= since:
                kind = {"create": "created", "update": "updated", "delete": "deleted"}[record["op"]]
                changes.append(ExternalChange(object_type, record["id"], kind, at,
                                              record["fields"].get("zenskar_id"), record["fields"]))
        return changes


class JsonlResource(ConfigurableResource):
    """How the factory reaches the journal: `getattr(resources, system).adapter()`, like Stripe's resource."""

    path: str

    def adapter(self) -> JsonlSystem:
        return JsonlSystem(Path(self.path))


JOURNAL_PATH = "ZENSYNC_JSONL_PATH"


def jsonl_resource_from_env() -> JsonlResource:
    """The registry's resource builder (zensync_pipelines_tests/test_systems.py): the journal path from the
    environment, read at launch."""
    return JsonlResource(path=EnvVar(JOURNAL_PATH))


def conformance_harness(request: Any, tmp_path: Path) -> Iterator[Any]:
    """The conformance suite's harness, beside the adapter: the registry entry needs no `conformance=`."""
    from collections import Counter

    from .conformance.harness import Harness

    journal = JsonlSystem(tmp_path / "journal.jsonl")

    def read(external_id: str) -> Optional[dict[str, Any]]:
        return journal.objects("contact").get(external_id)

    yield Harness(
        system="jsonl", object_type="contact",
        new_adapter=lambda: JsonlSystem(journal.path, sleep=lambda seconds: None),
        read=read, tagged=lambda: Counter(o["zenskar_id"] for o in journal.objects("contact").values()),
        lose_next_write=lambda: journal.configure(crash_after=1),
        heal=lambda: journal.configure(crash_after=0, throttle=0),
        throttle=lambda: journal.configure(throttle=2),
        rejected={"name": "N" * 150}, crash_error=(SimulatedCrash,), reads_changes=True)
