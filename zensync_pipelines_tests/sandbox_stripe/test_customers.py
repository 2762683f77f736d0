"""Customers through the real SDK: CRUD, metadata semantics, cursor pagination, filters and search."""

from __future__ import annotations

import pytest
import stripe

from zensync_pipelines.sandbox.stripe import StripeSandbox

from .conftest import KEY


def test_create_retrieve_update_delete(client: stripe.StripeClient) -> None:
    created = client.v1.customers.create({"email": "ada@example.com", "name": "Ada", "metadata": {"zid": "42"}})
    assert created.id.startswith("cus_") and len(created.id) == len("cus_") + 14
    assert client.v1.customers.retrieve(created.id).email == "ada@example.com"

    updated = client.v1.customers.update(created.id, {"name": "Ada L.", "metadata": {"plan": "pro"}})
    assert updated.name == "Ada L."
    assert updated.metadata.to_dict() == {"zid": "42", "plan": "pro"}  # merged, not replaced
    removed = client.v1.customers.update(created.id, {"metadata": {"zid": ""}})
    assert removed.metadata.to_dict() == {"plan": "pro"}  # an empty value removes the key
    cleared = client.v1.customers.update(created.id, {"metadata": ""})
    assert cleared.metadata.to_dict() == {}

    stub = client.v1.customers.delete(created.id)
    assert stub.to_dict() == {"id": created.id, "object": "customer", "deleted": True}
    assert client.v1.customers.retrieve(created.id).to_dict()["deleted"] is True  # Stripe keeps a stub
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.update(created.id, {"name": "ghost"})
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"


def test_list_is_newest_first_and_pages_with_cursors(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create({"email": f"c{i}@example.com"}).id for i in range(23)]
    newest_first = list(reversed(ids))

    first = client.v1.customers.list({"limit": 10})
    assert [c.id for c in first.data] == newest_first[:10] and first.has_more
    assert [c.id for c in first.auto_paging_iter()] == newest_first
    after = client.v1.customers.list({"limit": 5, "starting_after": newest_first[19]})
    assert [c.id for c in after.data] == newest_first[20:] and not after.has_more
    before = client.v1.customers.list({"limit": 3, "ending_before": newest_first[10]})
    assert [c.id for c in before.data] == newest_first[7:10] and before.has_more


def test_list_filters_by_email_and_created(client: stripe.StripeClient, clock) -> None:
    early = client.v1.customers.create({"email": "same@example.com"})
    clock.advance(100)
    late = client.v1.customers.create({"email": "same@example.com"})
    client.v1.customers.create({"email": "other@example.com"})

    by_email = client.v1.customers.list({"email": "same@example.com"})
    assert [c.id for c in by_email.data] == [late.id, early.id]
    recent = client.v1.customers.list({"email": "same@example.com", "created": {"gte": late.created}})
    assert [c.id for c in recent.data] == [late.id]
    older = client.v1.customers.list({"created": {"lt": late.created}})
    assert [c.id for c in older.data] == [early.id]
    exact = client.v1.customers.list({"created": early.created})
    assert [c.id for c in exact.data] == [early.id]


def test_search_query_language(client: stripe.StripeClient) -> None:
    ada = client.v1.customers.create({"email": "ada@example.com", "name": "Ada", "metadata": {"zid": "1"}})
    bob = client.v1.customers.create({"email": "bob@example.com", "name": "Bob", "metadata": {"zid": "2"}})

    def found(query: str) -> set[str]:
        return {c.id for c in client.v1.customers.search({"query": query}).auto_paging_iter()}

    assert found("metadata['zid']:'1'") == {ada.id}
    assert found("email:'ADA@example.com'") == {ada.id}  # exact match ignores case
    assert found("name:'Ada' AND metadata['zid']:'2'") == set()
    assert found("name:'Ada' OR metadata['zid']:'2'") == {ada.id, bob.id}
    assert found("email~'example.com' AND -name:'Bob'") == {ada.id}
    assert found(f"created>={bob.created}") == {ada.id, bob.id}
    with pytest.raises(stripe.InvalidRequestError) as mixed:
        found("name:'Ada' AND email:'x@y.z' OR name:'Bob'")
    assert mixed.value.param == "query"
    with pytest.raises(stripe.InvalidRequestError):
        found("favourite_colour:'blue'")


def test_search_pages_through_next_page(client: stripe.StripeClient) -> None:
    ids = {client.v1.customers.create({"metadata": {"batch": "b"}}).id for _ in range(7)}
    page = client.v1.customers.search({"query": "metadata['batch']:'b'", "limit": 3})
    assert page.object == "search_result" and page.has_more and page.next_page
    assert {c.id for c in page.auto_paging_iter()} == ids


def test_search_lags_writes_by_the_configured_delay(client: stripe.StripeClient, sandbox: StripeSandbox,
                                                    clock) -> None:
    sandbox.configure(search_lag_seconds=60)
    customer = client.v1.customers.create({"metadata": {"zid": "7"}})
    query = {"query": "metadata['zid']:'7'"}
    assert client.v1.customers.search(query).data == []  # read-after-write through search fails, like Stripe
    assert client.v1.customers.retrieve(customer.id).id == customer.id  # while direct reads see it at once
    clock.advance(61)
    assert [c.id for c in client.v1.customers.search(query).data] == [customer.id]
    client.v1.customers.update(customer.id, {"metadata": {"zid": "8"}})
    assert [c.id for c in client.v1.customers.search(query).data] == [customer.id]  # the old version, still
    clock.advance(61)
    assert client.v1.customers.search(query).data == []


def test_global_api_base_configuration(sandbox: StripeSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe, "api_base", sandbox.url)
    monkeypatch.setattr(stripe, "api_key", KEY)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    customer = stripe.Customer.create(email="global@example.com")
    assert stripe.Customer.retrieve(customer.id).email == "global@example.com"
    assert [c.id for c in stripe.Customer.list(limit=1).data] == [customer.id]
