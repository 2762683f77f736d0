"""Spooled batches (engine/batch.py): what the engine gets back from disk is what it put in, by step and in
order, and every intent is committed before the batch can be applied."""

from operator import attrgetter

from zensync_pipelines.engine import batch as batches
from zensync_pipelines.engine.batch import MemoryBatch, SpooledBatch
from zensync_pipelines.engine.types import Operation


def op(i, object_type="Account", action="create"):
    return Operation("customers", "salesforce", object_type, str(i), action, {"Name": f"n{i}"}, "f", None, f"k{i}",
                     group=f"g{i % 3}")


def test_a_spooled_batch_gives_back_each_steps_operations_in_order_and_commits_intents_when_sealed(monkeypatch):
    monkeypatch.setattr(batches, "BLOCK", 4)
    monkeypatch.setattr(batches, "INTENTS", 5)
    recorded = []
    spooled, memory = SpooledBatch(recorded.append), MemoryBatch(lambda ops: None)
    ops = [op(i, "Account" if i % 2 else "Contact", "delete" if i % 5 == 0 else "create") for i in range(21)]
    for start in range(0, 21, 3):  # whole rows at a time, as the engine adds them
        part = ops[start:start + 3]
        for batch in (spooled, memory):
            batch.add(part, {o.internal_id: f"d{o.internal_id}" for o in part})
    assert len(spooled) == 21 and recorded == []  # full blocks are on disk; no intent is written while planning
    spooled.seal()
    assert [len(block) for block in recorded] == [6, 6, 6, 3]  # spilled 6 at a time, written once 5 are gathered
    fields = attrgetter("catalog", "system", "object_type", "internal_id", "external_id", "seq", "pending")
    assert [tuple(o) for block in recorded for o in block] == list(map(fields, ops))
    for step in [("Account", False), ("Contact", False), ("Account", True), ("Contact", True)]:
        expected = [o for o in ops if (o.object_type, o.action == "delete") == (step[0], step[1])]
        assert spooled.count(step) == memory.count(step) == len(expected)
        assert list(spooled.ops(step)) == list(memory.ops(step)) == expected
        assert list(spooled.ops(step)) == expected  # read again (after a stop the engine reads a step twice)
    assert dict(spooled.digests()) == dict(memory.digests()) == {str(i): f"d{i}" for i in range(21)}
    spooled.close()
    assert list(spooled.ops(("Account", False))) == []
