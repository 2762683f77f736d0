"""Polling Stripe's Events API into the inbox: the fallback that still delivers a change whose webhooks were lost.

The cursor (StateStore scope `inbound:stripe`, key `events_cursor`) is a time window, not an event id:

    {"newest_created": 1764590400, "newest_event_id": "evt_...", "types": ["customer.created", ...]}

Each poll lists `created >= newest_created - overlap_seconds` and pages through the whole window (newest first,
`starting_after`), storing every page in the inbox as it arrives; the cursor moves only after the last page is
stored. Why a window rather than `ending_before=<last event id>`:
- several events share one `created` second and an event can become listable a little after a newer one
  (Stripe's list is not a log); re-reading an overlap catches those, and the inbox's unique (system, event id)
  turns the re-read into 0 new rows;
- a crash between pages or before the cursor is saved re-reads the same window: nothing is missed, nothing is
  stored twice;
- an id cursor breaks once its event leaves the 30-day retention (`resource_missing`); a time window just
  starts at what Stripe still keeps (`window_expired` says when events may have been lost).
An idle poll costs one call per 20 event types (the `types[]` limit) once the overlap holds at most a page of
events (the re-read is the price of not missing stragglers; lower `overlap_seconds` on very busy accounts).
Event types that are new since the cursor was saved (a catalog started reading invoices) are read over the whole
retention, the others over the window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ...store.inbox import InboxStore
from ...store.state import StateStore
from .adapter import StripeAdapter
from .inbound import event_types, to_inbox_event

SCOPE, CURSOR_KEY = "inbound:stripe", "events_cursor"
OVERLAP_SECONDS = 300  # how late an event may become listable after a newer one and still be read
MAX_TYPES = 20  # `types[]` takes at most 20 event types per list call
PAGE_SIZE = 100  # Stripe's largest page
RETENTION_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class PollResult:
    calls: int  # HTTP requests, the SDK's own retries included
    pages: int
    fetched: int  # events listed (re-read overlap included)
    stored: int  # new inbox rows
    duplicates: int  # already in the inbox: delivered by a webhook or read by an earlier poll
    unrouted: int  # no catalog reads the event's object type
    window_start: Optional[int]  # `created[gte]` of this poll (None: the whole retention)
    window_expired: bool  # the window started before Stripe's retention: events may have been lost
    cursor: dict[str, Any] = field(default_factory=dict)


def poll_events(adapter: StripeAdapter, inbox: InboxStore, state: StateStore, routes: Mapping[str, str],
                overlap_seconds: int = OVERLAP_SECONDS, page_size: int = PAGE_SIZE,
                initial_since: Optional[int] = None) -> PollResult:
    """Read new events of the object types in `routes` (object type -> catalog) into `inbox`, source "poll".

    `initial_since` (unix seconds) bounds the very first poll; by default it reads all 30 days Stripe keeps.
    Raises on an unreachable or refusing API (an outage fails the run; the cursor stays where it was)."""
    types = event_types(sorted(routes))
    cursor = state.get(SCOPE, CURSOR_KEY) or {}
    known = set(cursor.get("types") or [])
    start: Optional[int] = None
    if cursor.get("newest_created") is not None:
        start = max(int(cursor["newest_created"]) - overlap_seconds, 0)
    elif initial_since is not None:
        start = int(initial_since)
    groups = [(start, [t for t in types if t in known or not known]),  # first poll: every type uses `start`
              (None, [t for t in types if known and t not in known])]  # types added since: whole retention
    calls_before = adapter.api_calls
    totals = {"pages": 0, "fetched": 0, "stored": 0, "unrouted": 0}
    newest = (cursor.get("newest_created"), cursor.get("newest_event_id"))
    for window, group in groups:
        for at in range(0, len(group), MAX_TYPES):
            newest = _read(adapter, inbox, routes, group[at:at + MAX_TYPES], window, page_size, totals, newest)
    saved = {"newest_created": newest[0], "newest_event_id": newest[1], "types": sorted(types)}
    if newest[0] is not None or saved["types"] != cursor.get("types"):
        state.put(SCOPE, CURSOR_KEY, saved)
    return PollResult(
        calls=adapter.api_calls - calls_before, pages=totals["pages"], fetched=totals["fetched"],
        stored=totals["stored"], duplicates=totals["fetched"] - totals["stored"] - totals["unrouted"],
        unrouted=totals["unrouted"], window_start=start,
        window_expired=start is not None and start < time.time() - RETENTION_SECONDS, cursor=saved)


def _read(adapter: StripeAdapter, inbox: InboxStore, routes: Mapping[str, str], types: list[str],
          window: Optional[int], page_size: int, totals: dict[str, int],
          newest: tuple[Optional[int], Optional[str]]) -> tuple[Optional[int], Optional[str]]:
    """Page through one `types[]` group, storing each page before asking for the next; returns the newest
    (created, id) seen so far."""
    params: dict[str, Any] = {"types": types, "limit": page_size}
    if window is not None:
        params["created"] = {"gte": window}
    while True:
        page = adapter._call(adapter.client.v1.events.list, params=params)
        events = [event.to_dict(for_json=True) for event in page.data]
        rows = [row for row in (to_inbox_event(e, routes, source="poll") for e in events) if row is not None]
        totals["pages"] += 1
        totals["fetched"] += len(events)
        totals["unrouted"] += len(events) - len(rows)
        totals["stored"] += inbox.add(rows)
        for event in events:
            if newest[0] is None or int(event["created"]) > newest[0]:
                newest = (int(event["created"]), str(event["id"]))
        if not page.has_more or not events:
            return newest
        params = {**params, "starting_after": events[-1]["id"]}
