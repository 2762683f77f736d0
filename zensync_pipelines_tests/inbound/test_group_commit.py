"""Group commit on both databases: deliveries that arrive together share a transaction, each is answered for its
own events once they are committed, a row the database refuses fails only its own delivery, and an outage fails
every delivery (answered 5xx, delivered again)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from zensync_pipelines.inbound.groupcommit import GroupCommit, Unavailable
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore, NewInboundEvent
from zensync_pipelines_tests.conftest import free_port


def new(event_id: str, payload: str = "{}") -> NewInboundEvent:
    return NewInboundEvent("stripe", event_id, "customer.updated", "customers", "customer", "cus_1",
                           dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), payload)


class CountingInbox(InboxStore):
    """The real inbox, counting its INSERT statements: one per transaction on either database."""

    statements = 0

    def _rows(self, events):  # SQLite
        self.statements += 1
        return super()._rows(events)

    def insert_statement(self, events, checked=False):  # PostgreSQL
        self.statements += 1
        return super().insert_statement(events, checked)


def test_deliveries_arriving_together_share_commits_and_each_gets_its_own_answer(engine):
    inbox = CountingInbox(engine)
    writer = GroupCommit(inbox)

    async def burst() -> list[int]:
        deliveries = [[new(f"evt_{n}")] for n in range(200)] + [[new("evt_7")], [new("evt_a"), new("evt_b")]]
        return await asyncio.gather(*(writer.add(d) for d in deliveries))

    answers = asyncio.run(burst())
    assert answers == [1] * 200 + [0, 2]  # evt_7 was already stored (or stored by the first delivery of it)
    assert 1 <= inbox.statements < 20, inbox.statements  # 202 deliveries, a handful of transactions
    assert len(InboxStore(engine).rows()) == 202
    assert asyncio.run(writer.add([new("evt_alone")])) == 1  # a quiet receiver commits a delivery at once


def test_a_row_the_database_refuses_fails_only_its_own_delivery(engine):
    writer = GroupCommit(InboxStore(engine))

    async def burst() -> list:
        deliveries = [[new("evt_good_1")], [new("evt_bad", payload="\ud800")], [new("evt_good_2")]]
        return await asyncio.gather(*(writer.add(d) for d in deliveries), return_exceptions=True)

    good_1, bad, good_2 = asyncio.run(burst())
    assert (good_1, good_2) == (1, 1) and isinstance(bad, Unavailable)
    assert sorted(e["event_id"] for e in InboxStore(engine).rows()) == ["evt_good_1", "evt_good_2"]


def test_an_outage_fails_every_delivery_of_the_batch():
    down = make_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test")
    writer = GroupCommit(InboxStore(down))

    async def burst() -> list:
        return await asyncio.gather(*(writer.add([new(f"evt_{n}")]) for n in range(5)), return_exceptions=True)

    answers = asyncio.run(burst())
    assert all(isinstance(a, Unavailable) and str(a) == "OperationalError" for a in answers)
    with pytest.raises(Unavailable):
        asyncio.run(writer.add([new("evt_later")]))
