"""A kill between a partial update and its bookkeeping, then the catalog edits the same field again: the merge
must know the killed write's value as zensync's own (the intent records it, `pending_base`), so an edit of
another field made in the system before the kill is merged without a conflict, and the rerun heals everything.

The exact sequence the property test (test_merge_property.py) can draw, made deterministic: the system's event
of a phone edit made before the kill arrives after the echo of the killed write was processed alone, so the merge
reads the object's current state (no hints) and finds the killed write's email there.
"""

from __future__ import annotations

from sqlalchemy import select

from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.tables import conflicts
from zensync_pipelines_tests.engine.test_merge_property import SPEC, SYSTEM, World


def _events(world: World, **match) -> list[dict]:
    return [e for e in world.system.events if all(e[k] == v for k, v in match.items())]


def test_a_write_killed_before_its_bookkeeping_is_known_as_zensyncs_own_and_nothing_conflicts(engine):
    world = World(engine)
    world.outbound()  # both objects exist
    world.tick()
    world.system_edit("1", "phone", "+1 555 0100")  # a person edits the phone in the system (not delivered yet)
    [phone_edit] = _events(world, echo=False)
    world.tick()
    world.catalog_edit("1", "email", "first@example.com")
    world.tick()
    assert world.outbound(crash_at=1) is None  # the email is written, the run dies before its bookkeeping
    assert world.system.writes[-1] == ("update", "customer", "1")
    [killed] = [e for e in _events(world, echo=True) if e["state"].get("email") == "first@example.com"]
    state = MappingStore(engine).load_states(SPEC.name, SYSTEM, ["1"])[("1", "customer")]
    assert state.status == "pending" and '"first@example.com"' in state.pending_base
    world.tick()
    world.catalog_edit("1", "email", "second@example.com")  # the catalog edits the same field again
    world.tick()
    world._store([killed])  # the killed write's echo, alone: nothing to apply
    assert world.inbound().echo == 1
    world.tick()
    world._store([phone_edit])  # older than the echo: merged from the object's current state
    report = world.inbound()
    assert (report.applied, report.conflicts, report.failed) == (1, 0, 0)
    assert world.catalog()["1"]["phone"] == "+1 555 0100"
    assert world.catalog()["1"]["email"] == "second@example.com"  # the catalog's newer edit kept, no conflict
    world.tick()
    assert world.outbound() is not None  # the rerun sends the catalog's newer email, and only that
    for _ in range(2):
        world.tick()
        world.deliver_all()
        assert world.inbound() is not None
        assert world.outbound() is not None
    assert world.catalog() == world.expected
    assert world.remote() == world.expected
    with engine.connect() as connection:
        assert connection.execute(select(conflicts)).all() == []
    state = MappingStore(engine).load_states(SPEC.name, SYSTEM, ["1"])[("1", "customer")]
    assert state.status == "synced" and state.pending_base is None  # the confirmed write settled the intent
