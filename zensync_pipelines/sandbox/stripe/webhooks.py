"""Delivers events to webhook endpoints as Stripe does: signed POSTs, retried with backoff, at least once.

One background thread drains a queue ordered by due time. Receivers must cope with what Stripe does to them, so
knobs can duplicate deliveries and shuffle their order (seeded), and a failing receiver is retried with exponential
backoff whose base is a knob, so a test waits milliseconds rather than Stripe's hours.

With Connect, an event of a connected account goes to that account's own endpoints and to the platform's Connect
endpoints (created with `connect=true`); the platform's own events go to its endpoints without `connect`.
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

from .accounts import Accounts
from .api import StripeKnobs
from .store import Obj

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
    account: Optional[str] = field(compare=False, default=None)  # the event's account (None: the platform)
    endpoint_account: Optional[str] = field(compare=False, default=None)  # the account holding the endpoint


class WebhookDispatcher:
    def __init__(self, accounts: Accounts, knobs: StripeKnobs, random: Callable[[], float],
                 on_delivered: Callable[[str, Optional[str]], None]):
        self._accounts = accounts
        self._clock = accounts.platform.store.clock
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
        """Queue `event` for each enabled endpoint subscribed to its type (called under its account's store lock,
        which may take the platform's after it, never the other way round)."""
        account = event.get("account")
        own = self._accounts.state(account).store
        endpoints = [(account, we) for we in own.newest_first("webhook_endpoint") if not we.get("_connect")]
        if account is not None:
            endpoints += [(None, we) for we in self._accounts.platform.store.newest_first("webhook_endpoint")
                          if we.get("_connect")]
        endpoints = [(holder, we) for holder, we in endpoints if we["status"] == "enabled"
                     and ("*" in we["enabled_events"] or event["type"] in we["enabled_events"])]
        event["pending_webhooks"] = len(endpoints)
        payload = json.dumps(own.render(event), indent=2)  # Stripe sends pretty-printed JSON
        with self._wake:
            for holder, endpoint in endpoints:
                self._push(Delivery(time.monotonic() + self._knobs.webhook_delay, 0, event["id"], endpoint["id"],
                                    payload, account=account, endpoint_account=holder))

    def dump(self) -> list[dict[str, Any]]:
        """The queued deliveries, for the data file: like Stripe, a restart goes on retrying them."""
        with self._wake:
            return [{"event": d.event_id, "endpoint": d.endpoint_id, "attempt": d.attempt, "duplicate": d.duplicate,
                     "account": d.account, "endpoint_account": d.endpoint_account} for d in self._queue]

    def load(self, queued: list[dict[str, Any]]) -> None:
        for entry in queued:
            account, holder = entry.get("account"), entry.get("endpoint_account")
            if account is not None and not self._accounts.exists(account) or \
                    holder is not None and not self._accounts.exists(holder):
                continue  # the account was deleted since
            endpoint = self._accounts.state(holder).store.find(entry["endpoint"])
            with self._accounts.using(account) as state, state.store.lock:
                event = state.store.find(entry["event"])
                if event is None or endpoint is None:
                    continue  # the endpoint was deleted since
                payload = json.dumps(state.store.render(event), indent=2)
            with self._wake:
                self._push(Delivery(time.monotonic(), 0, event["id"], endpoint["id"], payload,
                                    attempt=entry["attempt"], duplicate=entry["duplicate"], account=account,
                                    endpoint_account=holder))

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
        now = self._clock()
        holder = delivery.endpoint_account
        store = self._accounts.state(holder).store if holder is None or self._accounts.exists(holder) else None
        endpoint = None
        if store is not None:
            with store.lock:  # the endpoint as it is now: its URL or secrets may have changed since the event
                endpoint = store.find(delivery.endpoint_id)
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
            # outside the queue lock: enqueue() takes them in the other order
            self._on_delivered(delivery.event_id, delivery.account)
        with self._wake:
            if ok:
                duplicate_rate = self._knobs.webhook_duplicate_rate
                if not delivery.duplicate and duplicate_rate and self._random() < duplicate_rate:
                    self._push(replace(delivery, due=time.monotonic(), duplicate=True))
            elif delivery.attempt < self._knobs.webhook_max_attempts and url is not None:
                backoff = self._knobs.webhook_retry_base * 2 ** (delivery.attempt - 1)
                self._push(replace(delivery, due=time.monotonic() + backoff, attempt=delivery.attempt + 1))
