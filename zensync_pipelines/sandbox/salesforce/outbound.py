"""Outbound messages, as an org with a workflow rule ("created, and every time it's edited") and an outbound
message on an object sends them: every committed create or update, by any user (zensync's integration user
too), queues a notification; a sender thread delivers them in messages of up to 100 per endpoint and object, and
keeps each until the endpoint answers Ack true. As Salesforce documents, a notification carries the record as it
is when the message is sent: a change made after it was queued shows in it.

Delivery is at least once and unordered, as in Salesforce: a message without an Ack is resent whole after an
exponential backoff (30 s doubling to 2 h between attempts by default; `outbound_base_delay` makes it
milliseconds in tests) until it is a day old. Knobs add what a real org does now and then: a duplicate
delivery, a shuffled queue, an Ack lost on the way back. Deletes do not fire workflow rules, so they send
nothing: pollers read `/deleted`. With `--data` the queue is kept on disk with the records: a restarted org
still delivers what was not Acked.

Each org of the sandbox has its own (orgs.py): its endpoints, its queue and its sender, and its OrganizationId in
every message it sends.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import requests

from . import outbound_xml
from .host import SalesforceHost
from .orgs import ORG_ID
from .schema import SObject
from .store import POD, Record, Store
from .values import make_id


ALL = "*"
DEFAULT_OBJECTS = ("Account", "Contact")  # what one URL "for all" covers: the objects the workflow rules watch
MAX_PER_MESSAGE = 100
API_VERSION = "59.0"
# Notification ids must never repeat, even after a restart without --data, nor between two orgs of one sandbox: a
# receiver that saw an id before would drop the new change as a redelivery. Millisecond start + one counter for
# every org keeps them unique.
_IDS = itertools.count(int(time.time() * 1000) * 1000)


@dataclass
class Pending:
    notification_id: str
    sobject: SObject
    record: Record  # as queued; sent as it is at sending time (see `_current`)
    url: str
    queued_at: float
    due_at: float
    attempts: int = 0


class OutboundMessages:
    def __init__(self, sb: SalesforceHost, urls: Optional[dict[str, str]] = None, org_id: str = ORG_ID,
                 store: Optional[Store] = None):
        self.sb = sb
        self.org_id = org_id
        self._store = store if store is not None else sb.store  # the org's own: the sender runs outside requests
        self.urls: dict[str, str] = {}
        self._queue: list[Pending] = []
        self._cond = threading.Condition()
        self._stop = False
        self._thread: Optional[threading.Thread] = None
        self.on_change: Callable[[], None] = lambda: None  # persistence: the queue changed
        self.stats = {"queued": 0, "messages_sent": 0, "messages_acked": 0, "notifications_acked": 0,
                      "failed_attempts": 0, "acks_dropped": 0, "duplicates_sent": 0, "expired": 0}
        self.configure(urls or {})

    # -- configuration -----------------------------------------------------------------------------------------
    def configure(self, urls: dict[str, str]) -> dict[str, str]:
        """Set the endpoint per object (`{"Account": url}`) or for Account and Contact (`{"*": url}`); an empty
        URL removes an object's outbound message. Queued notifications go to the URL set when they are sent (an
        admin fixing a wrong URL rescues the queue), or, if it was removed, to the one they were queued for."""
        with self._cond:
            for name, url in urls.items():
                targets = DEFAULT_OBJECTS if name == ALL else (self._object(name).name,)
                for target in targets:
                    if url:
                        self.urls[target] = url
                    else:
                        self.urls.pop(target, None)
            return dict(self.urls)

    def _object(self, name: str) -> SObject:
        found = self.sb.schema.get(name)
        if found is None:
            raise ValueError(f"no sObject {name!r} in the sandbox schema for an outbound message")
        return found

    def action_id(self, sobject: SObject) -> str:
        """The outbound message's id: one per object, stable across restarts."""
        return make_id("04k", self._store.pod, list(self.sb.schema.objects).index(sobject.name) + 1)

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {"urls": dict(self.urls), "pending": len(self._queue), "stats": dict(self.stats)}

    # -- persistence -------------------------------------------------------------------------------------------
    def dump(self) -> list[dict[str, Any]]:
        with self._cond:
            return [{"id": p.notification_id, "sobject": p.sobject.name, "record": p.record, "url": p.url,
                     "queued_at": p.queued_at, "attempts": p.attempts} for p in self._queue]

    def load(self, items: list[dict[str, Any]]) -> None:
        """Queued notifications from before a restart, due at once (the org's sender starts over)."""
        now = time.time()
        with self._cond:
            for item in items:
                sobject = self.sb.schema.get(item["sobject"])
                if sobject is not None:
                    self._queue.append(Pending(item["id"], sobject, item["record"], item["url"], item["queued_at"],
                                               now, item["attempts"]))

    # -- queueing ----------------------------------------------------------------------------------------------
    def on_write(self, sobject: SObject, record: Record) -> None:
        """Called by the store after each committed write (under its lock: only queue here, never send)."""
        if record["IsDeleted"]:
            return
        with self._cond:
            url = self.urls.get(sobject.name)
            if url is None:
                return
            now = time.time()
            self._queue.append(Pending(make_id("04l", POD, next(_IDS)), sobject, record, url, now, now))
            self.stats["queued"] += 1
            self._cond.notify()
        self.on_change()

    # -- sending -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"sf-outbound-{self.org_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        http = requests.Session()
        http.trust_env = False  # a proxy from the environment must not sit between the org and a local receiver
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._deliver(http, batch)

    def _next_batch(self) -> Optional[list[Pending]]:
        """Up to 100 due notifications for one endpoint and object, waiting until there are some."""
        with self._cond:
            while True:
                if self._stop:
                    return None
                now = time.time()
                due = [p for p in self._queue if p.due_at <= now] if not self.sb.knobs.outbound_paused else []
                if due:
                    if self.sb.knobs.outbound_reorder:
                        due = self.sb.shuffled(due)
                    for p in due:
                        p.url = self.urls.get(p.sobject.name, p.url)
                    first = due[0]
                    batch = [p for p in due if (p.url, p.sobject.name) == (first.url, first.sobject.name)]
                    return batch[:MAX_PER_MESSAGE]
                # Idle: sleep until a write or stop() notifies. Paused: look again soon, since knobs change
                # without notifying. Otherwise: until the next notification is due.
                waits = [p.due_at - now for p in self._queue]
                self._cond.wait(None if not waits else 0.2 if self.sb.knobs.outbound_paused else min(waits))

    def _current(self, pending: Pending) -> Record:
        # A record is replaced, never mutated, on write: reading the latest version needs no lock.
        return self._store.records[pending.sobject.name].get(pending.record["Id"]) or pending.record

    def _deliver(self, http: requests.Session, batch: list[Pending]) -> None:
        first = batch[0]
        body = outbound_xml.render(self.org_id, self.action_id(first.sobject), self.sb.url, API_VERSION,
                                   [(p.notification_id, p.sobject, self._current(p)) for p in batch])
        try:
            answer = http.post(first.url, data=body, timeout=self.sb.knobs.outbound_timeout,
                               headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
                                        "User-Agent": "Jakarta Commons-HttpClient/3.1"})
            acked = outbound_xml.is_ack(answer.status_code, answer.content)
        except requests.RequestException:
            acked = False
        knobs = self.sb.knobs
        with self._cond:
            self.stats["messages_sent"] += 1
            if acked and self.sb.chance(knobs.outbound_drop_ack_rate):
                acked = False  # the endpoint stored it, the org never heard: the whole message comes again
                self.stats["acks_dropped"] += 1
            now = time.time()
            if acked:
                self.stats["messages_acked"] += 1
                self.stats["notifications_acked"] += len(batch)
                done = {id(p) for p in batch}
                self._queue = [p for p in self._queue if id(p) not in done]
                for p in batch:
                    if self.sb.chance(knobs.outbound_duplicate_rate):
                        self.stats["duplicates_sent"] += 1
                        self._queue.append(Pending(p.notification_id, p.sobject, p.record, p.url, now, now))
            else:
                self.stats["failed_attempts"] += 1
                for p in batch:
                    p.attempts += 1
                    p.due_at = now + min(knobs.outbound_max_delay, knobs.outbound_base_delay * 2 ** (p.attempts - 1))
                expired = {id(p) for p in batch if now - p.queued_at > knobs.outbound_max_age}
                self.stats["expired"] += len(expired)
                self._queue = [p for p in self._queue if id(p) not in expired]
        self.on_change()
