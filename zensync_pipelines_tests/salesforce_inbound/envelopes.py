"""The receiver stores a Salesforce outbound message as one envelope row; the inbox job splits it before applying.
Tests that read the inbox right after deliveries split the envelopes first, as the job would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from zensync_pipelines.store.inbox import ENVELOPE, InboxStore
from zensync_pipelines.store.inbox_envelopes import split_envelopes
from zensync_pipelines.store.tables import inbound_events
from zensync_pipelines.systems.salesforce.outbound_envelope import split


def split_all(engine: Any, tenant: str = "default") -> int:
    """Split every pending envelope of `tenant`, whatever its catalog; how many notifications were new."""
    c = inbound_events.c
    with engine.connect() as connection:
        catalogs = connection.execute(select(c.catalog).where(c.tenant == tenant, c.event_type == ENVELOPE)
                                      .distinct()).scalars().all()
    return sum(split_envelopes(InboxStore(engine, tenant), catalog, "salesforce", split) for catalog in catalogs)


def notifications(engine: Any, tenant: str = "default", **filters: Any) -> list[dict[str, Any]]:
    """The inbox's Salesforce notification rows once every envelope is split (the envelopes left out)."""
    split_all(engine, tenant)
    return [row for row in InboxStore(engine, tenant).rows(system="salesforce", **filters)
            if row["event_type"] != ENVELOPE]
