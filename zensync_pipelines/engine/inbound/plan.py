"""Ordering: which of an object's pending events is the one to apply, and which are echoes or stale.

Per object, the events of a batch and what was already processed (the newest event time, and whether the object
was deleted) decide:
- a processed delete makes every later event stale: a late `updated` never resurrects a deleted object;
- a delete in the batch is terminal: the object's other events are stale, whatever their times;
- only the newest event carries the state to apply (each event holds the whole object); older ones are stale,
  and so is an event older than one already processed;
- zensync's own echoes are never applied; a foreign event older than an echo is stale (the echo's write came
  after it);
- when the newest second holds events that disagree, an echo beside a foreign change, or a tie with an event
  already processed, the events cannot tell the order: the object's current state is fetched and applied.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Optional, Sequence

from .types import ECHO, REMOVE, STALE, UPSERT, Change
from .values import state_key
from ..spec import Field

MISSING = object()  # no state fetched yet


@dataclass
class GroupPlan:
    verdicts: dict[int, str] = field(default_factory=dict)  # event row id -> echo | stale
    effective: Optional[Change] = None  # the change to apply; its event takes the apply's outcome
    needs_fetch: bool = False


def plan_object(changes: Sequence[Change], fields: list[Field], newest_processed: Optional[dt.datetime],
                deleted_before: bool, fetched: object = MISSING) -> GroupPlan:
    """Decide one object's events. `fetched`: its current state (None: gone), once the plan asked for it."""
    plan = GroupPlan()
    ordered = sorted(changes, key=lambda c: (c.occurred_at, c.event))
    if deleted_before:
        plan.verdicts = {c.event: STALE for c in ordered}
        return plan
    deletes = [c for c in ordered if c.kind == REMOVE]
    if deletes:
        plan.verdicts = {c.event: STALE for c in ordered if c is not deletes[-1]}
        if deletes[-1].echo:
            plan.verdicts[deletes[-1].event] = ECHO
        else:
            plan.effective = deletes[-1]
        return plan
    newest = ordered[-1].occurred_at
    plan.verdicts = {c.event: ECHO if c.echo else STALE for c in ordered}
    top = [c for c in ordered if c.occurred_at == newest]
    foreign = [c for c in top if not c.echo]
    if not foreign or (newest_processed is not None and newest < newest_processed):
        return plan
    ambiguous = len(foreign) < len(top) or len({state_key(fields, c.state) for c in foreign}) > 1 \
        or (newest_processed is not None and newest == newest_processed)
    chosen = foreign[-1]
    if ambiguous:
        if fetched is MISSING:
            return GroupPlan(needs_fetch=True)
        chosen = dataclasses.replace(chosen, kind=UPSERT if fetched is not None else REMOVE,
                                     state=fetched or {})  # type: ignore[arg-type]
    del plan.verdicts[chosen.event]
    plan.effective = chosen
    return plan
