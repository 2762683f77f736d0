"""engine/overwrite.py: a partial update that would overwrite a two-way field the system changed since the base to
a value other than the catalog's is held back, whole, for the inbound merge; everything else is sent as planned."""

from zensync_pipelines.engine.merge import base_of, dump, load, payload_of
from zensync_pipelines.engine.overwrite import OverwriteGuard, ReadFailed, withhold
from zensync_pipelines.engine.same_row import object_fingerprint
from zensync_pipelines.engine.spec import BOTH, NEWEST_WINS, CatalogSpec, ExternalObject, Field, Inbound
from zensync_pipelines.engine.types import SYNCED, UPDATE, MappingState, Operation, Outcome

OBJ = ExternalObject("Account", inbound=Inbound(), external_id_field="Zenskar_Id__c", fields=[
    Field("name", "Name"),  # one way: the catalog's to overwrite
    Field("phone", "Phone", direction=BOTH, conflict=NEWEST_WINS),
    Field("city", "BillingCity", direction=BOTH, conflict=NEWEST_WINS)])
SPEC = CatalogSpec(name="customers", table="customers", primary_key="id", cursor_column="updated_at",
                   created_at_column="created_at",
                   systems={"salesforce": [OBJ]})
BASE = {"Name": "Acme", "Phone": "+1 0", "BillingCity": "Lyon"}


def update(**changes) -> Operation:
    payload = BASE | changes
    return Operation("customers", "salesforce", "Account", "1", UPDATE, payload, object_fingerprint(OBJ, payload),
                     "001A", "k", "Zenskar_Id__c", base=dump(base_of(OBJ, payload)), fields=tuple(sorted(changes)))


def test_an_update_of_a_field_the_system_changed_to_another_value_is_held_back_whole_without_a_call():
    op = update(Phone="+1 mine", BillingCity="Paris", Name="Acme Inc")
    answer = withhold(OBJ, op, BASE, {"Phone": "+1 theirs", "BillingCity": "Lyon", "Name": "Acme"})
    # Whole: writing the city alone would move the record's time, which newest-wins compares for the phone.
    assert isinstance(answer, Outcome) and answer.status == SYNCED
    assert load(answer.base) == BASE and answer.fingerprint == object_fingerprint(OBJ, payload_of(BASE))


def test_a_one_way_field_the_system_changed_is_the_catalogs_to_overwrite():
    op = update(Name="Acme Inc")
    assert withhold(OBJ, op, BASE, BASE | {"Name": "Acme by hand"}) is op


def test_nothing_is_withheld_when_the_system_kept_the_base_or_holds_the_catalogs_value_or_is_unknown():
    op = update(Phone="+1 mine")
    assert withhold(OBJ, op, BASE, BASE) is op
    assert withhold(OBJ, op, BASE, BASE | {"Phone": "+1 mine"}) is op  # the same edit on both sides
    assert withhold(OBJ, op, None, BASE | {"Phone": "+1 theirs"}) is op  # no base: judged whole, as before
    assert withhold(OBJ, op, BASE, None) is op  # gone: the write reports it


class Reader:
    def __init__(self, records):
        self.records, self.calls = records, []

    def read_current(self, object_type, external_ids, fields):
        self.calls.append((object_type, list(external_ids), list(fields)))
        return {i: self.records.get(i) for i in external_ids}


def test_the_guard_reads_once_per_chunk_and_unsettles_the_rows_it_changed():
    reader = Reader({"001A": BASE | {"Phone": "+1 theirs"}})
    unsettled = []
    state = MappingState("001A", "f", SYNCED, base=dump(BASE))
    guard = OverwriteGuard(SPEC, "salesforce", reader, lambda ids: {(i, "Account"): state for i in ids},
                           unsettled.append)
    op = update(Phone="+1 mine")
    [answer] = guard.screen("Account", [op])
    assert isinstance(answer, Outcome) and unsettled == ["1"]
    assert reader.calls == [("Account", ["001A"], ["BillingCity", "Phone"])]  # two-way fields only
    assert list(OverwriteGuard(SPEC, "salesforce", object(), None, unsettled.append).screen("Account", [op])) == [op]


def test_a_failed_read_fails_the_updates_it_was_for_and_sends_none_unchecked():
    class Failing:
        def read_current(self, object_type, external_ids, fields):
            raise ReadFailed("reading Account before the update failed: 503", transient=True)

    state = MappingState("001A", "f", SYNCED, base=dump(BASE))
    guard = OverwriteGuard(SPEC, "salesforce", Failing(), lambda ids: {(i, "Account"): state for i in ids},
                           lambda internal_id: None)
    [answer] = guard.screen("Account", [update(Phone="+1 mine")])
    assert isinstance(answer, Outcome) and (answer.status, answer.error_code, answer.transient) == \
        ("failed", "read_failed", True)
