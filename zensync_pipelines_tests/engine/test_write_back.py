"""The write-back of the values a system decides (engine/write_back.py), pure: which fields, which values, and the
fingerprint that keeps the next plan from sending anything back."""

import datetime as dt

from zensync_pipelines.catalogs.invoices import from_unix
from zensync_pipelines.engine.plan import plan_row
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field, Reference
from zensync_pipelines.engine.types import FAILED, SYNCED, MappingState, Outcome
from zensync_pipelines.engine.write_back import take_back

AT = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
THING = ExternalObject("thing", [
    Field("name", "name"),
    # The system's: its own status names, mapped back, and it wins.
    Field("status", "status", direction="both", conflict="system_wins", choices=["issued", "paid"],
          inbound_values={"open": "issued", "paid": "paid"}),
    Field("nickname", "nickname", direction="both", conflict="newest_wins"),  # not the system's to decide
    Field("started_at", "start", type="datetime", direction="in", inbound_transform=from_unix),
    Field("owner_id", "owner", direction="in", references=Reference("owners", "owner")),  # needs a mapping read
])
SPEC = CatalogSpec(name="things", table="things", primary_key="id", cursor_column="updated_at",
                   created_at_column="created_at", systems={"memory": [THING]})
ROW = {"id": 1, "name": "A", "status": "issued", "nickname": "a", "started_at": None, "owner_id": None,
       "updated_at": AT, "created_at": AT}


def written(row, returned, status=SYNCED):
    [op] = plan_row(SPEC, "memory", row, {}).operations
    return op, take_back(SPEC, THING, op, Outcome.of(op, status, external_id="t1", returned=returned))


def test_only_the_fields_the_system_owns_come_back_and_only_when_they_changed():
    assert [f.column for f in THING.owned_fields] == ["status", "started_at"]
    op, outcome = written(ROW, {"id": "t1", "name": "B", "status": "open", "nickname": "b", "start": 1_700_000_000,
                                "owner": "o9"})
    assert op.seen == {"updated_at": AT, "started_at": None}
    assert outcome.returned is None  # never kept past the engine
    assert outcome.write_back.cursor == AT
    values = outcome.write_back.values
    assert values.pop("updated_at") > AT  # the cursor moves, for the other systems' sensors
    assert values == {"started_at": from_unix(1_700_000_000)}  # "open" is the row's "issued": unchanged
    assert outcome.fingerprint == op.fingerprint  # an inbound-only field is not in the payload

    same = written(ROW | {"started_at": from_unix(1_700_000_000)}, {"status": "open", "start": 1_700_000_000})[1]
    assert same.write_back is None
    failed = written(ROW, {"status": "paid", "start": 5}, status=FAILED)[1]
    assert failed.write_back is None and failed.returned is None


def test_a_system_wins_value_that_differs_moves_the_fingerprint_so_the_next_plan_sends_nothing():
    op, outcome = written(ROW, {"status": "paid", "start": 1_700_000_000})
    values = outcome.write_back.values
    assert (values["status"], values["started_at"]) == ("paid", from_unix(1_700_000_000))
    assert outcome.fingerprint != op.fingerprint
    after = ROW | values
    state = MappingState("t1", outcome.fingerprint, SYNCED, base=outcome.base)
    again = plan_row(SPEC, "memory", after, {"thing": state})
    assert (again.operations, again.skipped) == ([], 1)
    # Without the moved fingerprint the same row would be sent again: the test can fail.
    stale = plan_row(SPEC, "memory", after, {"thing": MappingState("t1", op.fingerprint, SYNCED, base=op.base)})
    assert len(stale.operations) == 1


def test_a_value_that_fails_its_checks_is_left_to_the_inbound_side():
    outcome = written(ROW, {"status": "refunded", "start": "yesterday"})[1]
    assert outcome.write_back is None
