"""Delivers events to webhook endpoints as Stripe does: signed POSTs, retried with backoff, at least once.

One background thread drains a queue ordered by due time. Receivers must cope with what Stripe does to them, so
knobs can duplicate deliveries and shuffle their order (seeded), and a failing receiver is retried with exponential
backoff whose base is a knob, so a test waits milliseconds rather than Stripe's hours.
"""

from __future__ import annotations

import heapq
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

from .api import StripeKnobs
from .store import Obj, Store

# No proxy: deliveries go to receivers the test or developer runs next to the sandbox.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _hmac(secret: str, timestamp: int, payload: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()


def sign(payload: str, secrets: list[str], timestamp: int, livemode: bool = False) -> str:
    """Stripe's header: `t=<unix>,v1=<hmac>`, one v1 per secret while a rolled secret has not expired; test-mode
    events also carry a `v0` made with an unrelated key, which receivers must ignore (only v1 is a real scheme)."""
    header = ",".join([f"t={timestamp}"] + [f"v1={_hmac(secret, timestamp, payload)}" for secret in secrets])
    return header if livemode else f"{header},v0={_hmac('whsec_test_mode_v0', timestamp, payload)}"


def endpoint_secrets(endpoint: Obj, now: float) -> list[str]:
    """The current signing secret, then the rolled ones still valid (`/_sandbox/webhook_endpoints/roll_secret`)."""
    previous = endpoint.get("_previous_secrets", [])
    return [endpoint["_secret"]] + [secret for secret, expires in previous if expires > now]


@dataclass(order=True)
class Delivery:
    due: float
    seq: int
    event_id: str = field(compare=False)
    endpoint_id: str = field(compare=False)
    payload: str = field(compare=False)
    attempt: int = field(compare=False, default=1)
    duplicate: bool = field(compare=False, default=False)
    queued: float = field(compare=False, default_factory=time.monotonic)  # when the event was emitted


class WebhookDispatcher:
    def __init__(self, store: Store, knobs: StripeKnobs, random: Callable[[], float],
                 on_delivered: Callable[[str], None]):
        self._store = store
        self._knobs = knobs
        self._random = random
        self._on_delivered = on_delivered
        self._queue: list[Delivery] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self.attempts: list[dict[str, Any]] = []  # every delivery attempt, for tests and `/_sandbox/webhooks`

    def enqueue(self, event: Obj) -> None:
        """Queue `event` for each enabled endpoint subscribed to its type (called under the store lock)."""
        endpoints = [we for we in self._store.newest_first("webhook_endpoint") if we["status"] == "enabled"
                     and ("*" in we["enabled_events"] or event["type"] in we["enabled_events"])]
        event["pending_webhooks"] = len(endpoints)
        payload = json.dumps(self._store.render(event), indent=2)  # Stripe sends pretty-printed JSON
        with self._wake:
            for endpoint in endpoints:
                self._push(Delivery(time.monotonic() + self._knobs.webhook_delay, 0, event["id"], endpoint["id"],
                                    payload))

    def dump(self) -> list[dict[str, Any]]:
        """The queued deliveries, for the data file: like Stripe, a restart goes on retrying them."""
        with self._wake:
            return [{"event": d.event_id, "endpoint": d.endpoint_id, "attempt": d.attempt, "duplicate": d.duplicate}
                    for d in self._queue]

    def load(self, queued: list[dict[str, Any]]) -> None:
        with self._store.lock, self._wake:
            for entry in queued:
                event, endpoint = self._store.find(entry["event"]), self._store.find(entry["endpoint"])
                if event is None or endpoint is None:
                    continue  # the endpoint was deleted since
                payload = json.dumps(self._store.render(event), indent=2)
                self._push(Delivery(time.monotonic(), 0, event["id"], endpoint["id"], payload,
                                    attempt=entry["attempt"], duplicate=entry["duplicate"]))

    def _push(self, delivery: Delivery) -> None:
        delivery.seq = next(self._seq)
        heapq.heappush(self._queue, delivery)
        self._wake.notify_all()

    def wake(self) -> None:
        """Re-examine the queue now (after a knob such as `webhook_paused` changed)."""
        with self._wake:
            self._wake.notify_all()

    def pending(self) -> int:
        with self._wake:
            return len(self._queue)

    # -- the delivery threads ----------------------------------------------------------------------------------
    def start(self) -> None:
        """`webhook_concurrency` threads deliver (Stripe sends many at once; one thread keeps the seeded order)."""
        self._stopping = False
        self._threads = [threading.Thread(target=self._run, name=f"stripe-sandbox-webhooks-{n}", daemon=True)
                         for n in range(max(1, int(self._knobs.webhook_concurrency)))]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        for thread in self._threads:
            # A POST in flight cannot be interrupted; the thread ends after it and sends nothing more, so do not
            # make every stop() wait out a slow receiver's timeout.
            thread.join(timeout=0.5)
        self._threads = []

    def _run(self) -> None:
        while True:
            delivery = self._next()
            if delivery is None:
                return
            self._send(delivery)

    def _next(self) -> Optional[Delivery]:
        with self._wake:
            while not self._stopping:
                now = time.monotonic()
                if self._queue and self._queue[0].due <= now and not self._knobs.webhook_paused:
                    if not self._knobs.webhook_out_of_order:
                        return heapq.heappop(self._queue)  # oldest due first, without scanning a long queue
                    due = [d for d in self._queue if d.due <= now]
                    chosen = due[int(self._random() * len(due))]
                    self._queue.remove(chosen)
                    heapq.heapify(self._queue)
                    return chosen
                wait = None if not self._queue or self._knobs.webhook_paused else self._queue[0].due - now
                self._wake.wait(timeout=wait if wait is None else max(wait, 0.001))
            return None

    def _send(self, delivery: Delivery) -> None:
        now = self._store.clock()
        with self._store.lock:  # the endpoint as it is now: its URL or secrets may have changed since the event
            endpoint = self._store.find(delivery.endpoint_id)
            url, secrets = (endpoint["url"], endpoint_secrets(endpoint, now)) if endpoint else (None, [])
        status, error = None, None
        failure_rate = self._knobs.webhook_failure_rate
        if url is None:
            error = "endpoint deleted"
        elif failure_rate and self._random() < failure_rate:
            error = "injected: delivery lost before reaching the endpoint"
        else:
            request = urllib.request.Request(url, data=delivery.payload.encode(), method="POST", headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(delivery.payload, secrets, int(now)),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            })
            try:
                with _OPENER.open(request, timeout=self._knobs.webhook_timeout) as reply:
                    status = reply.status
            except urllib.error.HTTPError as failure:
                status = failure.code
            except (OSError, ValueError) as failure:  # refused, reset, timed out, bad URL
                error = f"{type(failure).__name__}: {failure}"
        ok = status is not None and 200 <= status < 300
        self.attempts.append({"event": delivery.event_id, "endpoint": delivery.endpoint_id,
                              "attempt": delivery.attempt, "status": status, "error": error,
                              "duplicate": delivery.duplicate, "ok": ok,
                              "waited": time.monotonic() - delivery.queued})
        if ok and not delivery.duplicate:
            self._on_delivered(delivery.event_id)  # outside the queue lock: enqueue() takes them in the other order
        with self._wake:
            if ok:
                duplicate_rate = self._knobs.webhook_duplicate_rate
                if not delivery.duplicate and duplicate_rate and self._random() < duplicate_rate:
                    self._push(replace(delivery, due=time.monotonic(), duplicate=True))
            elif delivery.attempt < self._knobs.webhook_max_attempts and url is not None:
                backoff = self._knobs.webhook_retry_base * 2 ** (delivery.attempt - 1)
                self._push(replace(delivery, due=time.monotonic() + backoff, attempt=delivery.attempt + 1))
