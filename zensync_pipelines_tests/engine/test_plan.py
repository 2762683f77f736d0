from zensync_pipelines.engine.payload import build_payload, fingerprint
from zensync_pipelines.engine.keys import idempotency_key
from zensync_pipelines.engine.plan import plan_row
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field
from zensync_pipelines.engine.types import (CREATE, DELETE, DELETED, FAILED, INVALID, PENDING, SYNCED, UPDATE,
                                            WAITING, MappingState)

SPEC = CatalogSpec(
    name="customers", table="customers", primary_key="id", cursor_column="updated_at",
    created_at_column="created_at", soft_delete_column="deleted_at",
    systems={"crm": [
        ExternalObject("Account", [Field("name", "Name", required=True)], external_id_field="Zenskar_Id__c"),
        ExternalObject("Contact", [Field("name", "LastName", required=True), Field("email", "Email", type="email")],
                       external_id_field="Zenskar_Id__c", after="Account"),
    ]},
)
ROW = {"id": 7, "name": "Ada", "email": "ada@example.com", "deleted_at": None}


def fp(object_type, row=ROW):
    obj = next(o for o in SPEC.objects("crm") if o.object_type == object_type)
    return fingerprint(build_payload(obj, row)[0])


def test_a_new_row_creates_every_object_in_order_with_derived_keys():
    plan = plan_row(SPEC, "crm", ROW, {})
    assert [(op.object_type, op.action) for op in plan.operations] == [("Account", CREATE), ("Contact", CREATE)]
    account = plan.operations[0]
    assert account.internal_id == "7" and account.payload == {"Name": "Ada"}
    assert account.external_id_field == "Zenskar_Id__c" and not account.recovering
    assert account.idempotency_key == idempotency_key("customers", "7", "crm", "Account", CREATE, fp("Account"), 1)
    assert account.seq == 1  # the first write intent of its mapping row


def test_unchanged_rows_plan_nothing_and_changed_rows_update():
    states = {"Account": MappingState("001A", fp("Account"), SYNCED),
              "Contact": MappingState("003A", "old", SYNCED)}
    plan = plan_row(SPEC, "crm", ROW, states)
    assert plan.skipped == 1
    assert [(op.object_type, op.action, op.external_id) for op in plan.operations] == [("Contact", UPDATE, "003A")]


def test_a_failed_create_is_retried_with_a_new_key_and_a_lookup_first():
    states = {"Account": MappingState(None, None, FAILED, attempts=2, write_seq=2)}
    op = plan_row(SPEC, "crm", ROW, states).operations[0]
    assert op.action == CREATE and op.recovering and op.attempt == 3
    assert op.idempotency_key == idempotency_key("customers", "7", "crm", "Account", CREATE, fp("Account"), 3)
    assert op.idempotency_key != plan_row(SPEC, "crm", ROW, {}).operations[0].idempotency_key


def test_a_pending_intent_means_the_outcome_is_unknown():
    op = plan_row(SPEC, "crm", ROW, {"Account": MappingState(None, None, PENDING)}).operations[0]
    assert op.recovering
    assert op.idempotency_key == plan_row(SPEC, "crm", ROW, {}).operations[0].idempotency_key


def test_invalid_parent_makes_the_child_wait_with_the_reason():
    plan = plan_row(SPEC, "crm", ROW | {"name": None, "email": "bad"}, {})
    assert plan.operations == []
    account, contact = plan.outcomes
    assert (account.status, account.error_field, account.error_code) == (INVALID, "name", "required")
    assert contact.status == WAITING and contact.error_code == "parent_not_synced"
    assert "waiting for Account" in contact.error_message and "name: is required" in contact.error_message


def test_soft_deleted_rows_delete_children_first_and_only_what_exists():
    states = {"Account": MappingState("001A", "x", SYNCED), "Contact": MappingState("003A", "y", SYNCED)}
    plan = plan_row(SPEC, "crm", ROW | {"deleted_at": "2026-11-01"}, states)
    assert [(op.object_type, op.action) for op in plan.operations] == [("Contact", DELETE), ("Account", DELETE)]
    gone = {"Account": MappingState("001A", "deleted", DELETED)}
    assert plan_row(SPEC, "crm", ROW | {"deleted_at": "2026-11-01"}, gone).operations == []


def test_an_undeleted_row_is_created_again():
    states = {"Account": MappingState("001A", "deleted", DELETED)}
    op = plan_row(SPEC, "crm", ROW, states).operations[0]
    assert op.action == CREATE and op.external_id is None


def test_invalid_rows_keep_their_attempt_count():
    plan = plan_row(SPEC, "crm", ROW | {"name": None}, {"Account": MappingState(None, None, INVALID, attempts=4)})
    assert plan.outcomes[0].attempt == 5
