"""Ordering decisions per object, without a database: stale, deleted, echoes, and when to read the object."""

import datetime as dt

from zensync_pipelines.engine.inbound.plan import plan_object
from zensync_pipelines.engine.inbound.types import ECHO, REMOVE, STALE, UPSERT, Change
from zensync_pipelines.engine.spec import Field

FIELDS = [Field("email", "email", direction="both", conflict="newest_wins")]
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


def change(event, second, email="a@x.co", kind=UPSERT, echo=False):
    return Change(event, f"evt_{event}", "customer", "cus_1", kind, T0 + dt.timedelta(seconds=second),
                  {"email": email} if kind == UPSERT else {}, echo=echo)


def test_only_the_newest_state_applies_and_older_ones_are_stale():
    plan = plan_object([change(3, 5, "c"), change(1, 1, "a"), change(2, 3, "b")], FIELDS, None, False)
    assert plan.effective.event == 3 and plan.verdicts == {1: STALE, 2: STALE} and not plan.needs_fetch


def test_an_event_older_than_one_already_processed_is_stale():
    plan = plan_object([change(1, 1)], FIELDS, T0 + dt.timedelta(seconds=2), False)
    assert plan.effective is None and plan.verdicts == {1: STALE}


def test_a_deleted_object_is_never_resurrected():
    assert plan_object([change(1, 9)], FIELDS, T0, True).verdicts == {1: STALE}
    plan = plan_object([change(1, 9), change(2, 1, kind=REMOVE)], FIELDS, None, False)
    assert plan.effective.event == 2 and plan.verdicts == {1: STALE}


def test_echoes_are_never_applied_and_hide_older_foreign_changes():
    plan = plan_object([change(1, 1, "mine"), change(2, 2, "zensync", echo=True)], FIELDS, None, False)
    assert plan.effective is None and plan.verdicts == {1: STALE, 2: ECHO}


def test_same_second_events_that_agree_need_no_read():
    plan = plan_object([change(1, 4, "same"), change(2, 4, "same")], FIELDS, None, False)
    assert plan.effective is not None and not plan.needs_fetch and len(plan.verdicts) == 1


def test_when_the_order_cannot_be_told_the_object_is_read_and_its_state_applied():
    disagreeing = [change(1, 4, "a"), change(2, 4, "b")]
    assert plan_object(disagreeing, FIELDS, None, False).needs_fetch
    assert plan_object([change(1, 4, "a"), change(2, 4, "z", echo=True)], FIELDS, None, False).needs_fetch
    assert plan_object([change(1, 4)], FIELDS, T0 + dt.timedelta(seconds=4), False).needs_fetch  # tie with history
    plan = plan_object(disagreeing, FIELDS, None, False, fetched={"email": "now@x.co"})
    assert plan.effective.state == {"email": "now@x.co"} and list(plan.verdicts.values()) == [STALE]
    gone = plan_object(disagreeing, FIELDS, None, False, fetched=None)
    assert gone.effective.kind == REMOVE
