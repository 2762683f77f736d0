"""Read-back: the Stripe objects zensync owns, read through the real SDK from the sandbox, with calls counted."""

from __future__ import annotations

from typing import Iterator

import pytest
import stripe

from zensync_pipelines.sandbox.stripe import StripeSandbox
from zensync_pipelines.systems.stripe import StripeAdapter

KEY = "sk_test_readback"


@pytest.fixture
def sandbox() -> Iterator[StripeSandbox]:
    with StripeSandbox(rate_limit=None) as sb:
        yield sb


@pytest.fixture
def adapter(sandbox: StripeSandbox) -> StripeAdapter:
    return StripeAdapter(KEY, sandbox.url, rate_limit_per_second=1000, max_network_retries=0)


@pytest.fixture
def human(sandbox: StripeSandbox) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sandbox.url}, max_network_retries=0)


def zensync_customer(adapter: StripeAdapter, internal_id: str, email: str) -> str:
    """Created the way an outbound run does: the adapter's handler, a derived key, the zenskar_id tag."""
    return adapter.handler("customer").create(internal_id, {"email": email, "name": f"C{internal_id}"},
                                              f"zensync-test-{internal_id}").id


def test_lists_only_tagged_customers_with_their_current_state(adapter: StripeAdapter, human: stripe.StripeClient,
                                                              sandbox: StripeSandbox) -> None:
    owned = {str(i): zensync_customer(adapter, str(i), f"c{i}@example.com") for i in range(5)}
    strangers = {human.v1.customers.create({"email": f"s{i}@example.com"}).id for i in range(2)}
    human.v1.customers.update(owned["3"], {"email": "edited-in-dashboard@example.com"})  # drift nobody reported

    sandbox.counters.reset()
    readback = adapter.read_back("customer", page_size=3)
    found = {internal: (external, obj) for internal, external, obj in readback}
    assert {k: v[0] for k, v in found.items()} == owned
    assert found["3"][1]["email"] == "edited-in-dashboard@example.com" and found["1"][1]["name"] == "C1"
    assert readback.complete and readback.existing_ids == set(owned.values()) | strangers
    assert (readback.pages, readback.calls, readback.untagged) == (3, 3, 2)
    assert sandbox.counters.snapshot() == {"GET /v1/customers": 3}


def test_missing_objects_are_confirmed_before_anyone_calls_them_deleted(adapter: StripeAdapter,
                                                                       human: stripe.StripeClient) -> None:
    kept = zensync_customer(adapter, "1", "kept@example.com")
    deleted = zensync_customer(adapter, "2", "gone@example.com")
    human.v1.customers.delete(deleted)
    readback = adapter.read_back("customer")
    with pytest.raises(RuntimeError, match="not complete"):
        readback.missing([kept, deleted])
    assert [internal for internal, _, _ in readback] == ["1"]
    newcomer = zensync_customer(adapter, "3", "new@example.com")  # created after the pass went by
    candidates = readback.missing([kept, deleted, newcomer])
    assert candidates == {deleted, newcomer}
    calls = readback.calls
    assert readback.confirm_missing(candidates) == {deleted}
    assert readback.calls == calls + 2


def test_invoices_show_what_a_human_did_to_them(adapter: StripeAdapter, human: stripe.StripeClient) -> None:
    customer = zensync_customer(adapter, "1", "payer@example.com")
    lines = [{"id": "l1", "amount": 900, "quantity": 1, "unit_amount": 900, "description": "Seat"}]
    handler = adapter.handler("invoice")
    invoices = {str(i): handler.create(str(i), {"customer": customer, "currency": "usd", "days_until_due": 30,
                                                "description": None, "status": "issued", "lines": lines},
                                       f"zensync-inv-{i}").id for i in (10, 11, 12)}
    human.v1.invoices.pay(invoices["10"], {"paid_out_of_band": True})
    human.v1.invoices.void_invoice(invoices["11"])
    duplicate = human.v1.invoices.create({"customer": customer, "metadata": {"zenskar_id": "12"}})
    seen = [(internal, external, obj["status"]) for internal, external, obj in adapter.read_back("invoice")]
    assert sorted(seen) == sorted([("10", invoices["10"], "paid"), ("11", invoices["11"], "void"),
                                   ("12", invoices["12"], "open"), ("12", duplicate.id, "draft")])


def test_an_outage_fails_the_read_back(adapter: StripeAdapter, sandbox: StripeSandbox) -> None:
    zensync_customer(adapter, "1", "x@example.com")
    sandbox.stop()
    readback = adapter.read_back("customer")
    with pytest.raises(stripe.APIConnectionError):
        list(readback)
    assert not readback.complete


def test_two_catalogs_writing_products_each_find_and_read_back_their_own(adapter: StripeAdapter,
                                                                          human: stripe.StripeClient) -> None:
    """plans' product 1 (metadata.zenskar_id) and products' product 1 (its own key, metadata.zenskar_product_id):
    a recovering create finds the catalog's own object, never the other's, and each read-back lists its own."""
    from zensync_pipelines.engine.types import CREATE, SYNCED, Operation

    def create(field, recovering=False, key="k"):
        op = Operation("products" if field else "plans", "stripe", "product", "1", CREATE, {"name": "Starter"},
                       "fp", None, f"{key}-{field}", external_id_field=field, recovering=recovering)
        [outcome] = adapter.apply([op])
        assert outcome.status == SYNCED, outcome
        return outcome.external_id

    plan = create(None)
    mine = create("metadata.zenskar_product_id")
    assert plan != mine
    assert human.v1.products.retrieve(mine).metadata.to_dict() == {"zenskar_product_id": "1"}
    assert human.v1.products.retrieve(plan).metadata.to_dict() == {"zenskar_id": "1"}
    # A lost reply: the retry (a new key) looks before it creates, by the catalog's own key.
    assert create("metadata.zenskar_product_id", recovering=True, key="again") == mine
    assert create(None, recovering=True, key="again") == plan
    assert [(i, e) for i, e, _ in adapter.read_back("product", tag="zenskar_product_id")] == [("1", mine)]
    assert [(i, e) for i, e, _ in adapter.read_back("product")] == [("1", plan)]
    assert len(list(human.v1.products.list().auto_paging_iter())) == 2
