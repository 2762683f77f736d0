"""Group commit on both databases: deliveries that arrive together share a transaction, each is answered for its
own events once they are committed, a row the database refuses fails only its own delivery, and an outage fails
every delivery (answered 5xx, delivered again)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from zensync_pipelines.inbound import groupcommit
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


async def turns_until(condition, turns: int = 100) -> None:
    """Let the event loop turn until `condition` holds (a writer settles for a few turns before it commits)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("not reached within 100 turns of the event loop")


def test_deliveries_whose_handlers_queue_a_few_turns_after_the_first_share_its_commit(engine):
    """A burst's requests are read together, but each handler takes a few turns of the loop (body, signature,
    JSON) before it queues its delivery; the writer lets the loop turn while the queue grows, so the first
    delivery does not go out alone with the rest waiting for it."""
    inbox = CountingInbox(engine)
    writer = GroupCommit(inbox)

    async def handler(n: int) -> int:
        for _ in range(n):  # the work a handler does between its request's bytes and its queueing
            await asyncio.sleep(0)
        return await writer.add([new(f"evt_{n}")])

    async def burst() -> list[int]:
        return await asyncio.gather(*(handler(n) for n in range(4)))  # up to 3 turns late

    assert asyncio.run(burst()) == [1] * 4
    assert inbox.statements == 1, inbox.statements  # without settling: one statement for the first, one for the rest


def test_a_delivery_queued_as_the_last_writers_finish_is_still_committed(tmp_path, monkeypatch):
    """Both writers end their loops (nothing waiting) in the same turn of the event loop in which a request
    handler queues a delivery: that delivery must get a writer of its own. It used to wait for ever, because a
    finished writer counted as running until its done-callback ran, after the handler (seen as deliveries left
    unanswered by a two-worker receiver under 32 clients)."""
    monkeypatch.setattr(groupcommit, "WRITERS", 2)  # the receiver as it was seen hanging (one writer: the same race)
    writer = GroupCommit(InboxStore(make_engine(f"sqlite:///{tmp_path / 'inbox.db'}")))

    class GatedInbox:  # stands for the asynchronous PostgreSQL inbox: each commit waits for the test's word
        def __init__(self):
            self.gates: list[asyncio.Future] = []

        async def add_new(self, events):
            gate = asyncio.get_running_loop().create_future()
            self.gates.append(gate)
            await gate
            return {(writer.inbox.tenant, e.system, e.event_id) for e in events}

    async def scenario() -> int:
        writer._async = gated = GatedInbox()
        first = asyncio.ensure_future(writer.add([new("evt_1")]))
        await turns_until(lambda: len(gated.gates) == 1)  # writer 1 takes evt_1 and waits on its commit
        second = asyncio.ensure_future(writer.add([new("evt_2")]))
        await turns_until(lambda: len(gated.gates) == 2)  # writer 2 takes evt_2: both writers are committing
        trigger = asyncio.get_running_loop().create_future()

        async def handler() -> int:  # a request handler that becomes ready in the same turn as both writers
            await trigger
            return await writer.add([new("evt_3")])

        third = asyncio.ensure_future(handler())
        await asyncio.sleep(0)
        for gate in gated.gates:
            gate.set_result(None)
        trigger.set_result(None)  # woken after both writers, before their done-callbacks
        assert await asyncio.wait_for(asyncio.gather(first, second), 5) == [1, 1]
        while len(gated.gates) < 3:  # evt_3's commit must start: a writer must exist for it
            await asyncio.sleep(0.01)
        gated.gates[2].set_result(None)
        return await third

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) == 1
