"""What the inbound side needs of each system: how to read its stored events, how to fetch an object's current
state, and how to poll its change feed. A system that reports changes joins by adding an entry here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from ..engine.inbound_types import EventDecoder, StateFetcher
from ..store.inbox import InboxStore
from ..store.state import StateStore


@dataclass(frozen=True)
class InboundSystem:
    decoder: Callable[[], EventDecoder]
    fetcher: Callable[[Any], StateFetcher]  # from the system's Dagster resource
    # poll(resource, inbox, state, routes) -> a result whose fields become run metadata
    poll: Callable[[Any, InboxStore, StateStore, Mapping[str, str]], Any]
    # The read-back: readback(adapter, object type) lists the objects zensync owns (engine.drift.Listing);
    # readback_event(catalog, object type, internal id, external id, state or None) -> the inbox row of a drift.
    readback: Optional[Callable[[Any, str], Any]] = None
    readback_event: Optional[Callable[..., Any]] = None


def _stripe_decoder() -> EventDecoder:
    from ..systems.stripe.inbound import StripeEvents

    return StripeEvents()


def _stripe_fetcher(resource: Any) -> StateFetcher:
    from ..systems.stripe.current import StripeCurrentState

    return StripeCurrentState(resource.adapter())


def _stripe_poll(resource: Any, inbox: InboxStore, state: StateStore, routes: Mapping[str, str]) -> Any:
    # /v1/events from a stored cursor into the inbox: systems/stripe/polling.py (built beside the receiver).
    from ..systems.stripe.polling import poll_events

    return poll_events(resource.adapter(), inbox, state, routes)


def _stripe_readback(adapter: Any, object_type: str) -> Any:
    from ..systems.stripe.readback import ReadBack

    return ReadBack(adapter, object_type)


def _stripe_readback_event(*args: Any) -> Any:
    from ..systems.stripe.inbound import readback_event

    return readback_event(*args)


INBOUND_SYSTEMS: dict[str, InboundSystem] = {
    "stripe": InboundSystem(_stripe_decoder, _stripe_fetcher, _stripe_poll, _stripe_readback,
                            _stripe_readback_event),
}
