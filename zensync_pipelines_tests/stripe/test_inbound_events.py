"""Stripe events become inbox rows the same way from webhooks and from polling."""

import json

from zensync_pipelines.systems.stripe.inbound import event_types, internal_id, to_inbox_event

EVENT = {"id": "evt_1", "object": "event", "type": "invoice.paid", "created": 1764590400,
         "request": {"id": None, "idempotency_key": None},
         "data": {"object": {"id": "in_1", "object": "invoice", "status": "paid", "metadata": {"zenskar_id": "7"}}}}


def test_a_routed_event_becomes_an_inbox_row():
    row = to_inbox_event(EVENT, {"invoice": "invoices"}, source="poll")
    assert (row.system, row.event_id, row.event_type, row.catalog, row.object_type, row.external_id, row.source) \
        == ("stripe", "evt_1", "invoice.paid", "invoices", "invoice", "in_1", "poll")
    assert row.occurred_at.isoformat() == "2025-12-01T12:00:00+00:00"
    assert json.loads(row.payload) == EVENT
    assert internal_id(EVENT) == "7"


def test_events_no_catalog_reads_are_not_stored():
    assert to_inbox_event(EVENT, {"customer": "customers"}) is None
    assert to_inbox_event(dict(EVENT, type="invoice.sent"), {"invoice": "invoices"}) is None
    assert "customer.deleted" in event_types(["customer"]) and "invoice.voided" in event_types(["invoice"])
    assert event_types(["price"]) == []
