"""Idempotency keys: one per write intent (a value set back to an earlier one is a new intent), the same for the
rerun of an intent a crash left pending, and never one that the attempt-based scheme before them derived."""

import hashlib
import itertools

from zensync_pipelines.engine.keys import idempotency_key, next_write_seq
from zensync_pipelines.engine.plan import plan_delete, plan_row
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field
from zensync_pipelines.engine.types import CREATE, DELETED, FAILED, PENDING, SYNCED, UPDATE, MappingState

SPEC = CatalogSpec(
    name="customers", table="customers", primary_key="id", cursor_column="updated_at",
    created_at_column="created_at", soft_delete_column="deleted_at",
    systems={"stripe": [ExternalObject("customer", [Field("city", "address.city")])]},
)


def plan(city, state):
    return plan_row(SPEC, "stripe", {"id": 1, "city": city, "deleted_at": None},
                    {} if state is None else {"customer": state}).operations[0]


def synced(op):
    """The mapping row as the outcome of `op` leaves it: synced, with the intent's sequence number."""
    return MappingState("cus_1", op.fingerprint, SYNCED, 0, op.seq)


def test_a_value_set_back_to_an_earlier_one_gets_a_key_of_its_own():
    alpha = plan("Alpha", None)
    beta = plan("Beta", synced(alpha))
    alpha_again = plan("Alpha", synced(beta))
    beta_again = plan("Beta", synced(alpha_again))
    assert [op.action for op in (alpha, beta, alpha_again, beta_again)] == [CREATE, UPDATE, UPDATE, UPDATE]
    assert alpha_again.fingerprint == alpha.fingerprint and beta_again.fingerprint == beta.fingerprint
    assert [op.seq for op in (alpha, beta, alpha_again, beta_again)] == [1, 2, 3, 4]
    keys = [op.idempotency_key for op in (alpha, beta, alpha_again, beta_again)]
    assert len(set(keys)) == 4


def test_a_rerun_of_a_pending_intent_reuses_its_key_and_a_new_intent_does_not():
    beta = plan("Beta", MappingState("cus_1", "fp-alpha", SYNCED, 0, 4))
    assert beta.seq == 5
    crashed = MappingState("cus_1", "fp-alpha", PENDING, 0, 5)  # intent 5 recorded, then kill -9
    rerun = plan("Beta", crashed)
    assert (rerun.seq, rerun.idempotency_key) == (5, beta.idempotency_key)
    # The row changed again before the rerun: a different intent under the same number, so a different key.
    assert plan("Gamma", crashed).idempotency_key != beta.idempotency_key


def test_a_failure_ends_its_intent_so_a_retry_gets_a_fresh_key():
    first = plan("Beta", MappingState("cus_1", "fp-alpha", SYNCED, 0, 4))
    retry = plan("Beta", MappingState("cus_1", "fp-alpha", FAILED, 1, 5))
    assert retry.seq == 6 and retry.idempotency_key != first.idempotency_key


def test_deletes_and_re_creations_take_the_sequence_too():
    state = MappingState("cus_1", "fp", SYNCED, 0, 7)
    delete = plan_delete(SPEC, "stripe", "1", {"customer": state}).operations[0]
    assert delete.seq == 8
    again = plan_delete(SPEC, "stripe", "1", {"customer": MappingState("cus_1", "fp", SYNCED, 0, 9)}).operations[0]
    assert again.idempotency_key != delete.idempotency_key
    recreated = plan("Alpha", MappingState("cus_1", None, DELETED, 0, 8))
    first = plan("Alpha", None)
    assert recreated.action == CREATE and recreated.seq == 9 and recreated.idempotency_key != first.idempotency_key


def test_a_row_from_before_the_sequence_starts_at_one():
    assert next_write_seq(None) == 1
    assert next_write_seq(MappingState("cus_1", "fp", SYNCED, 0, 0)) == 1
    assert next_write_seq(MappingState(None, None, PENDING, 0, 0)) == 1  # an old intent: a new number
    assert next_write_seq(MappingState(None, None, PENDING, 0, 3)) == 3


def test_no_key_of_the_new_scheme_is_one_the_attempt_based_scheme_derived():
    def old(catalog, internal_id, system, object_type, action, fingerprint_, attempt):  # the scheme before 0005
        material = "|".join((catalog, internal_id, system, object_type, action, fingerprint_, str(attempt)))
        return "zensync-" + hashlib.sha256(material.encode()).hexdigest()[:40]

    parts = ("customers", "1", "stripe", "customer", UPDATE, "f" * 64)
    old_keys = {old(*parts, attempt) for attempt in range(50)}
    new_keys = {idempotency_key(*parts, seq) for seq in range(50)}
    assert len(new_keys) == 50 and not old_keys & new_keys
    assert all(key.startswith("zensync-") for key in new_keys)  # the echo marker stays


def test_every_intent_of_a_long_history_has_a_distinct_key():
    state, keys = None, []
    for city in itertools.islice(itertools.cycle(["A", "B", "A", "A", "C"]), 40):
        ops = plan_row(SPEC, "stripe", {"id": 1, "city": city, "deleted_at": None},
                       {} if state is None else {"customer": state}).operations
        if not ops:  # unchanged since the last write: no intent, no key
            assert state is not None and city == "A"
            continue
        keys.append(ops[0].idempotency_key)
        state = synced(ops[0])
    assert len(keys) == 32 and len(set(keys)) == 32
