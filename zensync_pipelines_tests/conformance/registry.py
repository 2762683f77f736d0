"""Every system adapter the conformance suite runs against, each pointed at its own sandbox.

A system's harness is a generator that starts (or reuses) the system's sandbox and yields a `Harness`, the few
handles the suite needs to provoke faults and to read the system back without the adapter. The system's registry
entry names it (`conformance=`), which is all it takes for every test here to run on it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
import requests
import stripe
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.systems.registry import conformance_of, entries, load
from zensync_pipelines.systems.salesforce import SalesforceResource
from zensync_pipelines.systems.stripe import StripeAdapter

from .. import test_systems  # noqa: F401 (registers the test-only systems)
from .harness import Harness

__all__ = ["Harness", "REGISTRY", "salesforce_harness", "stripe_harness"]


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


def salesforce_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with SalesforceSandbox() as sb:
        sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
        resource = SalesforceResource(login_url=sb.login_url, client_id="zensync-app", client_secret="app-secret",
                                      ca_bundle=sb.ca_file, retry_base_seconds=0.002, retry_max_seconds=0.02)

        def read(external_id: str) -> Optional[dict[str, Any]]:
            try:
                contact = sf.Contact.get(external_id)
            except SalesforceResourceNotFound:
                return None
            return {"name": contact["LastName"], "email": contact["Email"], "zenskar_id": contact["Zenskar_Id__c"]}

        def tagged() -> Counter:
            return Counter(r["Zenskar_Id__c"] for r in sf.query_all("SELECT Zenskar_Id__c FROM Contact")["records"])

        # Salesforce has no per-second limit: it refuses what it cannot take now record by record (a row lock
        # held elsewhere), and calls over the daily allocation, which the budget tests cover.
        yield Harness(
            system="salesforce", object_type="Contact", new_adapter=resource.adapter, read=read, tagged=tagged,
            lose_next_write=lambda: sb.configure(fault_rate=1.0, fault_kinds=["drop_after"], seed=1),
            heal=lambda: sb.configure(fault_rate=0.0),
            throttle=lambda: sb.configure(fault_rate=0.4, fault_kinds=["lock_row"], seed=2),
            rejected={"email": "not-an-email"}, crash_error=(requests.ConnectionError,),
            targets={"name": "LastName", "email": "Email"}, external_id_field="Zenskar_Id__c")


# Read from the systems registry (zensync_pipelines/systems/registry.py): every system with a harness, named by its
# entry or defined beside its adapter (`conformance_harness` in the adapter's module).
REGISTRY: dict[str, Callable[[pytest.FixtureRequest, Path], Iterator[Harness]]] = {
    entry.name: load(path) for entry in entries() if (path := conformance_of(entry))}
