"""How zensync object types map onto Stripe resources: one declarative table, one generic handler.

Most Stripe objects are plain create/update/delete resources; a new one needs no code here at all: the object
type names the resource by convention (`product` -> `client.v1.products`). An entry in `OBJECTS` only says how
a resource differs: how to find an object an unrecorded attempt created, and how to retire it. Objects with a
lifecycle of their own (invoices) have a handler class in `HANDLERS`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional

import stripe

from ..capabilities import Capabilities
from .invoices import InvoiceHandler
from .shared import ZENSKAR_ID, ZENSKAR_OBJECT, clear_none, drop_none, tagged, with_zenskar_id
from .subscriptions import SubscriptionHandler

@dataclass(frozen=True)
class StripeObject:
    resource: str  # the service on `client.v1`, e.g. "customers"
    # Recovery lookup: list filtered by this payload field (strongly consistent), else list everything.
    list_filter: Optional[str] = None
    # Then try search by metadata (lags writes by up to a minute, fine for an attempt a run ago).
    searchable: bool = False
    # "archive" sets active=false: Stripe refuses to delete objects others point at (a product with prices).
    retire: str = "delete"
    # What a list needs to include every object (Stripe leaves cancelled subscriptions out by default).
    list_all: tuple[tuple[str, str], ...] = ()


OBJECTS = {
    "customer": StripeObject("customers", list_filter="email", searchable=True),
    "product": StripeObject("products", retire="archive"),
    # A price can be neither deleted nor changed in amount: it is archived, and replaced when its amount moves.
    "price": StripeObject("prices", retire="archive"),
    # Cancelled, not deleted: a read-back must list them, or each would look deleted in Stripe.
    "subscription": StripeObject("subscriptions", list_all=(("status", "all"),)),
}


def describe(object_type: str) -> StripeObject:
    return OBJECTS.get(object_type) or StripeObject(object_type + "s")


class ResourceHandler:
    """Create, update, retire and recover one kind of plain Stripe object, keyed by `metadata.zenskar_id` or the
    metadata key its catalog declares (`tag`: two catalogs writing products each tag their own)."""

    partial_updates = True  # an update sends only the parameters given: Stripe leaves the others as they are

    def __init__(self, client: stripe.StripeClient, call: Callable[..., Any], spec: StripeObject):
        self.spec, self.call = spec, call
        self.service = getattr(client.v1, spec.resource)

    # create and update answer with the object as Stripe returned it (writes.py takes its id, and the values
    # Stripe decided, from it).
    def create(self, internal_id: str, payload: dict[str, Any], key: str, tag: str = ZENSKAR_ID) -> Any:
        params = drop_none(with_zenskar_id(payload, internal_id, tag))
        return self.call(self.service.create, params=params, options={"idempotency_key": key})

    def update(self, external_id: str, internal_id: str, payload: dict[str, Any], key: str,
               tag: str = ZENSKAR_ID) -> Any:
        params = clear_none(with_zenskar_id(payload, internal_id, tag))
        return self.call(self.service.update, external_id, params=params, options={"idempotency_key": key})

    def delete(self, external_id: str, key: str) -> None:
        if self.spec.retire == "archive":
            self.call(self.service.update, external_id, params={"active": False}, options={"idempotency_key": key})
        else:
            self.call(self.service.delete, external_id)

    def find(self, internal_id: str, payload: dict[str, Any], tag: str = ZENSKAR_ID) -> Optional[str]:
        """Look for an object an unrecorded earlier attempt may have created: list first, then search."""
        value = payload.get(self.spec.list_filter) if self.spec.list_filter else None
        name = (payload.get("metadata") or {}).get(ZENSKAR_OBJECT)
        if value or not self.spec.list_filter:
            params = {"limit": 100} | ({self.spec.list_filter: value} if value else {})
            for obj in self.call(self.service.list, params=params).auto_paging_iter():
                if tagged(obj, tag, internal_id) and (name is None or tagged(obj, ZENSKAR_OBJECT, name)):
                    return obj.id
        if self.spec.searchable:
            found = self.call(self.service.search, params={"query": f"metadata['{tag}']:'{internal_id}'"})
            return found.data[0].id if found.data else None
        return None


    def lookup(self, field: str, value: Any) -> Optional[str]:
        """An existing live object whose `field` equals `value` (ExternalObject.lookup), for adopting on create."""
        params = {"limit": 100} | ({"active": True} if self.spec.retire == "archive" else {})
        for obj in self.call(self.service.list, params=params).auto_paging_iter():
            if obj.to_dict().get(field) == value:
                return obj.id
        return None


HANDLERS: dict[str, Callable[[stripe.StripeClient, Callable[..., Any]], Any]] = {
    "invoice": InvoiceHandler, "subscription": SubscriptionHandler}


@functools.lru_cache(maxsize=1)
def _offline_client() -> stripe.StripeClient:
    """Only to see which services the SDK has: it never sends a request."""
    return stripe.StripeClient("sk_test_offline")


# Every object zensync writes carries its row id in this metadata key (writes, recovery, inbound, read-back).
IDENTITY = Capabilities(identity=f"metadata.{ZENSKAR_ID}", custom_identity=False)
# A plain object (the generic handler) may carry it under a key its catalog declares, `metadata.<key>`, so two
# catalogs can both write products; the handlers of invoices and subscriptions, and the inbound path, read
# zenskar_id only (systems/identity.py refuses a declared key there).
PLAIN_IDENTITY = dataclasses.replace(IDENTITY, custom_identity=True, custom_identity_inbound=False)


def capabilities(object_type: str) -> Capabilities:
    """What zensync can do to `object_type` in Stripe, known without a call: asked when a spec loads."""
    if object_type in HANDLERS:
        retire = getattr(HANDLERS[object_type], "retire", "void or delete (invoices)")
        return dataclasses.replace(IDENTITY, delete=True, replace=False, retire=retire)
    spec = describe(object_type)
    service = getattr(_offline_client().v1, spec.resource, None)
    if service is None:
        return dataclasses.replace(IDENTITY, exists=False, delete=False, replace=False)
    lists = hasattr(service, "list")
    if spec.retire == "archive":
        return dataclasses.replace(PLAIN_IDENTITY, delete=True, replace=True, retire="archive (active=false)",
                                   lookup=lists, several=True)
    deletes = hasattr(service, "delete")
    return dataclasses.replace(PLAIN_IDENTITY, delete=deletes, replace=deletes, retire="delete" if deletes else None,
                               lookup=lists, several=True)


def handler_for(client: stripe.StripeClient, call: Callable[..., Any], object_type: str) -> Optional[Any]:
    """The handler for `object_type`; `call` wraps every request (rate limit, retries). None: no such resource."""
    if object_type in HANDLERS:
        return HANDLERS[object_type](client, call)
    spec = describe(object_type)
    if not hasattr(client.v1, spec.resource):
        return None
    return ResourceHandler(client, call, spec)
