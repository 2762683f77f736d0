"""Every system adapter the conformance suite runs against, each pointed at its own sandbox.

Registering a system is one factory here: a generator that starts (or reuses) the system's sandbox and yields a
`Harness`, the few handles the suite needs to provoke faults and to read the system back without the adapter.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
import stripe

from zensync_pipelines.systems.base import SystemAdapter
from zensync_pipelines.systems.stripe import StripeAdapter

from ..jsonl_system import JsonlSystem, SimulatedCrash


@dataclass
class Harness:
    system: str
    object_type: str
    new_adapter: Callable[[], SystemAdapter]  # a fresh adapter per run, as every Dagster run builds its own
    read: Callable[[str], Optional[dict[str, Any]]]  # external id -> the object's fields, None once deleted
    tagged: Callable[[], Counter]  # catalog row id -> how many live objects carry it
    lose_next_write: Callable[[], None]  # the next write lands, but zensync never learns its outcome
    heal: Callable[[], None]
    throttle: Callable[[], None]  # the system refuses part of the coming requests as over its rate limit
    rejected: dict[str, Any]  # catalog values the system itself refuses, though the spec lets them through
    crash_error: tuple[type[BaseException], ...] = ()  # what a lost write raises out of the run, if anything
    reads_changes: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def stripe_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    sandbox = request.getfixturevalue("stripe_sandbox")
    key = "sk_test_conformance"
    client = stripe.StripeClient(key, base_addresses={"api": sandbox.url})

    def read(external_id: str) -> Optional[dict[str, Any]]:
        customer = client.v1.customers.retrieve(external_id)
        if getattr(customer, "deleted", False):
            return None
        return {"name": customer.name, "email": customer.email, "zenskar_id": customer.metadata["zenskar_id"]}

    def tagged() -> Counter:
        listed = client.v1.customers.list(params={"limit": 100}).auto_paging_iter()
        return Counter(c.metadata.to_dict().get("zenskar_id") for c in listed)

    yield Harness(
        system="stripe", object_type="customer",
        new_adapter=lambda: StripeAdapter(key, sandbox.url, rate_limit_per_second=500, max_network_retries=0,
                                          rate_limit_retries=8),
        read=read, tagged=tagged,
        lose_next_write=lambda: sandbox.configure(fault_rate=1.0, fault_kinds=["drop_after"], seed=1),
        heal=lambda: sandbox.configure(fault_rate=0.0, rate_limit=0),
        throttle=lambda: sandbox.configure(fault_rate=0.4, fault_kinds=["rate_limit"], seed=2),
        rejected={"email": "not-an-email"}, reads_changes=True)


def jsonl_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
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


REGISTRY: dict[str, Callable[[pytest.FixtureRequest, Path], Iterator[Harness]]] = {
    "stripe": stripe_harness,
    "jsonl": jsonl_harness,
}
