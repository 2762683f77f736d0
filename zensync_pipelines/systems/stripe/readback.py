"""Read-back for drift: the Stripe objects zensync owns (tagged `metadata.zenskar_id`, or the metadata key the catalog
declares for the type), as Stripe holds them now.

Stripe cannot filter a list by metadata (search can, but lags writes by up to a minute, an hour in incidents), so
one pass pages through every object of the type and keeps the tagged ones. The same pass collects the id of every
object that exists, tagged or not: a mapped id missing from it was deleted in Stripe, or created after the pass
went by (lists are newest first), which `confirm_missing` tells apart with one retrieve per candidate.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Protocol

import stripe

from .objects import describe
from .shared import ZENSKAR_ID

PAGE_SIZE = 100  # Stripe's largest page


class Caller(Protocol):
    """What a read-back needs of the StripeAdapter (which imports this module, so it is named here instead): its
    SDK client, its count of HTTP requests, and its guarded call (limiter, 429 backoff, circuit breaker)."""

    client: Any
    api_calls: int

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...


class ReadBack:
    """Iterate to get `(internal_id, external_id, object dict)` for every tagged object, oldest page last.

    While iterating, `existing_ids` fills with every listed id, `calls` counts HTTP requests (the SDK's retries
    included), `pages` the list pages and `untagged` the objects without zensync's tag; `complete` turns true
    once the whole list was read, and only then is `existing_ids` an input for missing-object detection. An
    outage raises (the read-back fails; nothing is concluded from a partial list). Two objects with the same tag
    (a duplicate from a lost reply) are both yielded: the engine decides what that means.
    """

    def __init__(self, adapter: Caller, object_type: str, page_size: int = PAGE_SIZE, tag: str = ZENSKAR_ID):
        # Another catalog's objects of the type carry another key: they count as untagged here, never as ours.
        self.adapter, self.object_type, self.page_size, self.tag = adapter, object_type, page_size, tag
        self.service = getattr(adapter.client.v1, describe(object_type).resource)
        self.list_all = dict(describe(object_type).list_all)
        self.existing_ids: set[str] = set()
        self.calls = self.pages = self.untagged = 0
        self.complete = False

    def __iter__(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        params: dict[str, Any] = {"limit": self.page_size, **self.list_all}
        while True:
            before = self.adapter.api_calls
            page = self.adapter._call(self.service.list, params=params)
            self.calls += self.adapter.api_calls - before
            self.pages += 1
            for item in page.data:
                obj = item.to_dict(for_json=True)
                self.existing_ids.add(obj["id"])
                tag = (obj.get("metadata") or {}).get(self.tag)
                if tag in (None, ""):
                    self.untagged += 1
                    continue
                yield str(tag), obj["id"], obj
            if not page.has_more or not page.data:
                self.complete = True
                return
            params = {**params, "starting_after": page.data[-1].id}

    def missing(self, external_ids: Iterable[str]) -> set[str]:
        """The mapped ids the completed pass did not list: candidates for `confirm_missing`."""
        if not self.complete:
            raise RuntimeError("read-back not complete: a partial list proves nothing missing")
        return set(external_ids) - self.existing_ids

    def confirm_missing(self, candidates: Iterable[str]) -> set[str]:
        """The candidates Stripe no longer has (a 404 or a `deleted` stub), one retrieve each, calls counted;
        an object created after the pass went by exists and is left out."""
        gone = set()
        for external_id in sorted(candidates):
            before = self.adapter.api_calls
            try:
                found = self.adapter._call(self.service.retrieve, external_id)
                if found.to_dict().get("deleted"):
                    gone.add(external_id)
            except stripe.InvalidRequestError as error:
                if error.code != "resource_missing":
                    raise
                gone.add(external_id)
            finally:
                self.calls += self.adapter.api_calls - before
        return gone

