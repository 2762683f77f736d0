"""What the inbound side needs of each system: how to read its stored events, how to fetch an object's current
state, and how to poll its change feed. A system that reports changes joins by adding an entry here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from ..engine.inbound.types import EventDecoder, StateFetcher
from ..store.inbox import InboxStore
from ..store.state import StateStore


@dataclass(frozen=True)
class InboundSystem:
    decoder: Callable[[], EventDecoder]
    fetcher: Callable[[Any], StateFetcher]  # from the system's Dagster resource
    # poll(resource, inbox, state, routes) -> a result whose fields become run metadata
    poll: Callable[[Any, InboxStore, StateStore, Mapping[str, str]], Any]
    # The read-back: readback(adapter, object type, tag field) lists the objects the catalog owns, those carrying
    # its tag in that field (engine.drift.Listing);
    # readback_event(catalog, object type, internal id, external id, state or None) -> the inbox row of a drift.
    readback: Optional[Callable[[Any, str, Optional[str]], Any]] = None
    readback_event: Optional[Callable[..., Any]] = None
    # A system whose decoder needs the API (Salesforce: who zensync is, for echoes) builds the run's decoder,
    # fetcher and adopter together from its resource, on one adapter: parts(resource, tag fields) -> (decoder,
    # fetcher, adopter); the tag fields (object type -> the catalog's declared external-id field) say where the
    # catalog's tag is read and written.
    parts: Optional[Callable[..., tuple[EventDecoder, StateFetcher, Any]]] = None
    # Polled per object type, one schedule each (the routes' object types), instead of one per system.
    poll_per_object: bool = False


def _stripe_decoder() -> EventDecoder:
    from ..systems.stripe.inbound import StripeEvents

    return StripeEvents()


def _stripe_fetcher(resource: Any) -> StateFetcher:
    from ..systems.stripe.current import StripeCurrentState

    return StripeCurrentState(resource.adapter())


def _stripe_parts(resource: Any, tag_fields: Optional[Mapping[str, str]] = None,
                  ) -> tuple[EventDecoder, StateFetcher, Any]:
    """Decoder and fetcher on one adapter, completing a charge's state with its invoice (systems/stripe/links.py);
    Stripe objects need no adopter (zensync's tag is written by the next outbound run)."""
    from ..systems.stripe.current import StripeCurrentState
    from ..systems.stripe.inbound import StripeEvents
    from ..systems.stripe.links import ChargeInvoices

    adapter = resource.adapter()
    links = ChargeInvoices(adapter)
    return StripeEvents(links), StripeCurrentState(adapter, links), None


def _stripe_poll(resource: Any, inbox: InboxStore, state: StateStore, routes: Mapping[str, str]) -> Any:
    # /v1/events from a stored cursor into the inbox: systems/stripe/polling.py (built beside the receiver).
    from ..systems.stripe.polling import poll_events

    return poll_events(resource.adapter(), inbox, state, routes)


def _stripe_readback(adapter: Any, object_type: str, tag_field: Optional[str] = None) -> Any:
    from ..systems.stripe.readback import ReadBack
    from ..systems.stripe.shared import tag_key

    return ReadBack(adapter, object_type, tag=tag_key(tag_field))


def _stripe_readback_event(*args: Any) -> Any:
    from ..systems.stripe.inbound import readback_event

    return readback_event(*args)


def _salesforce_parts(resource: Any, tag_fields: Optional[Mapping[str, str]] = None,
                      ) -> tuple[EventDecoder, StateFetcher, Any]:
    from ..systems.salesforce.inbound import SalesforceAdopter, SalesforceCurrentState, SalesforceEvents

    adapter = resource.adapter()
    return (SalesforceEvents(identify=lambda: adapter.changes.identity().user_id, tag_fields=tag_fields),
            SalesforceCurrentState(adapter.changes, lambda: adapter.api_calls),
            SalesforceAdopter(adapter, tag_fields))


def _salesforce_fetcher(resource: Any) -> StateFetcher:
    return _salesforce_parts(resource)[1]


def _salesforce_decoder() -> EventDecoder:
    from ..systems.salesforce.inbound import SalesforceEvents

    return SalesforceEvents(None)  # without the API: no echo by author (the asset uses `parts`)


def _salesforce_poll(resource: Any, inbox: InboxStore, state: StateStore, routes: Mapping[str, str]) -> Any:
    from ..systems.salesforce.polling import SalesforcePoller

    adapter = resource.adapter()
    reports = SalesforcePoller(adapter.changes, inbox, state, routes).tick()
    return {"read": sum(r.read for r in reports), "stored": sum(r.stored for r in reports),
            "api_calls": adapter.api_calls,
            "objects": {r.object_type: {"read": r.read, "stored": r.stored, "deletions_checked": r.deletions_checked,
                                        "gap_before": r.gap_before} for r in reports}}


INBOUND_SYSTEMS: dict[str, InboundSystem] = {
    "stripe": InboundSystem(_stripe_decoder, _stripe_fetcher, _stripe_poll, _stripe_readback,
                            _stripe_readback_event, parts=_stripe_parts),
    "salesforce": InboundSystem(_salesforce_decoder, _salesforce_fetcher, _salesforce_poll,
                                parts=_salesforce_parts, poll_per_object=True),
}
