"""The three-way merge and partial updates as pure functions: which side changed a field, who wins, what is sent."""

import datetime as dt

import pytest

from zensync_pipelines.engine.merge import CATALOG, SYSTEM, base_of, dump, merge, partial, payload_of
from zensync_pipelines.engine.plan import plan_row
from zensync_pipelines.engine.spec import BOTH, CatalogSpec, ExternalObject, Field
from zensync_pipelines.engine.types import SYNCED, UPDATE, MappingState

T0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc)


def obj(rule: str = "newest_wins") -> ExternalObject:
    return ExternalObject("customer", fields=[
        Field("name", "name", required=True),
        Field("email", "email", type="email", direction=BOTH, conflict=rule),
        Field("phone", "phone", direction=BOTH, conflict=rule),
        Field("city", "address.city", direction=BOTH, conflict=rule),
        Field("line1", "address.line1", direction=BOTH, conflict=rule)])


BASE = {"name": "Ada", "email": "a@x.com", "phone": "1", "address.city": "Paris", "address.line1": "1 rue"}


def both(o: ExternalObject) -> list[Field]:
    return [f for f in o.fields if f.direction == BOTH]


def state(**changes) -> dict:
    flat = BASE | changes
    return payload_of(flat)


def test_different_fields_on_each_side_take_the_systems_and_keep_the_catalogs():
    catalog = BASE | {"email": "b@x.com"}
    result = merge(both(obj()), BASE, catalog, state(phone="2"), T0, T0 - dt.timedelta(minutes=1))
    assert {t: raw for t, (_, raw) in result.take.items()} == {"phone": "2"}
    assert result.conflicts == []
    assert result.base == BASE | {"phone": "2"}  # the system holds the new phone and still the old email


def test_the_same_value_on_both_sides_is_taken_without_a_conflict():
    result = merge(both(obj()), BASE, BASE | {"email": "b@x.com"}, state(email="b@x.com"), T0, T0)
    assert result.conflicts == [] and result.base["email"] == "b@x.com"


@pytest.mark.parametrize("rule,system_later,winner", [
    ("newest_wins", True, SYSTEM), ("newest_wins", False, CATALOG), ("catalog_wins", True, CATALOG),
    ("system_wins", False, SYSTEM)])
def test_the_same_field_changed_on_both_sides_goes_by_its_rule(rule, system_later, winner):
    catalog_at = T0 - dt.timedelta(minutes=1) if system_later else T0 + dt.timedelta(minutes=1)
    result = merge(both(obj(rule)), BASE, BASE | {"email": "c@x.com"}, state(email="s@x.com"), T0, catalog_at)
    [conflict] = result.conflicts
    assert (conflict.field.column, conflict.catalog_value, conflict.system_value, conflict.winner, conflict.rule) \
        == ("email", "c@x.com", "s@x.com", winner, rule)
    assert ("email" in result.take) == (winner == SYSTEM)
    assert result.base["email"] == "s@x.com"  # the system holds its value whoever won


def test_hints_leave_out_fields_the_change_did_not_touch():
    """A state older than zensync's last write carries the old email; the event says only the phone changed."""
    result = merge(both(obj()), BASE | {"email": "new@x.com"}, BASE | {"email": "new@x.com"},
                   state(phone="2"), T0, T0, hints=frozenset({"phone"}))
    assert set(result.take) == {"phone"} and result.base["email"] == "new@x.com"


def test_an_edit_a_later_write_replaced_is_still_judged_and_recorded():
    written = BASE | {"email": "c@x.com"}  # zensync wrote the catalog's email over the person's
    earlier = (state(email="s@x.com"), frozenset({"email"}), T0)
    result = merge(both(obj()), written, written, payload_of(written), T0 + dt.timedelta(seconds=5),
                   T0 - dt.timedelta(minutes=1), overwritten=[earlier])
    [conflict] = result.conflicts
    assert conflict.winner == SYSTEM and result.take["email"][1] == "s@x.com"


def test_a_value_zensyncs_echo_says_it_wrote_is_learnt_not_judged():
    ours = frozenset({("email", '"w@x.com"')})
    result = merge(both(obj()), BASE, BASE | {"email": "later@x.com"}, state(email="w@x.com"), T0, T0, ours=ours)
    assert result.conflicts == [] and result.take == {} and result.base["email"] == "w@x.com"


def test_partial_sends_the_changed_top_level_keys_whole():
    o = obj()
    payload = payload_of(BASE | {"address.city": "Lyon"})
    assert partial(o, payload, BASE) == {"address": {"city": "Lyon", "line1": "1 rue"}}
    assert partial(o, payload_of(BASE), BASE) == {}
    assert base_of(o, payload) == BASE | {"address.city": "Lyon"}


def test_an_update_plans_only_the_changed_fields_under_a_key_of_its_own():
    o = obj()
    spec = CatalogSpec(name="people", table="people", primary_key="id", cursor_column="updated_at",
                       created_at_column="created_at", systems={"memory": [o]})
    row = {"id": 1, "name": "Ada", "email": "b@x.com", "phone": "1", "city": "Paris", "line1": "1 rue"}
    known = MappingState("ext_1", "old", SYNCED, 0, 3, dump(BASE))
    [op] = plan_row(spec, "memory", row, {"customer": known}).operations
    assert (op.action, op.fields, op.sent, op.seq) == (UPDATE, ("email",), {"email": "b@x.com"}, 4)
    assert payload_of(BASE | {"email": "b@x.com"}) == op.payload  # whole, for the fingerprint and the base
    without_base = plan_row(spec, "memory", row, {"customer": MappingState("ext_1", "old", SYNCED, 0, 3)})
    assert without_base.operations[0].fields is None  # no base yet: the whole payload, as before
    assert without_base.operations[0].idempotency_key != op.idempotency_key
