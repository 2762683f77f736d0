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
  already processed, the events cannot tell the order: the object's current state is fetched and applied;
- for an object merged field by field (engine/merge.py), a foreign event older than an echo or than what was
  processed is not stale: a person's edit of one field is not undone by zensync's later write of another. The
  object's current state is fetched and merged, and the older events' hinted fields go with it (`overwritten`),
  so an edit that zensync's write replaced before it was applied is still judged by its field's rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from .types import ECHO, REMOVE, STALE, UPSERT, Change
from .values import external_value, state_key
from ..spec import Field

MISSING = object()  # no state fetched yet


@dataclass
class GroupPlan:
    verdicts: dict[int, str] = field(default_factory=dict)  # event row id -> echo | stale
    effective: Optional[Change] = None  # the change to apply; its event takes the apply's outcome
    needs_fetch: bool = False


def plan_object(changes: Sequence[Change], fields: list[Field], newest_processed: Optional[dt.datetime],
                deleted_before: bool, fetched: object = MISSING, merge: bool = False) -> GroupPlan:
    """Decide one object's events. `fetched`: its current state (None: gone), once the plan asked for it;
    `merge`: the object is merged field by field."""
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
        superseded = [c for c in ordered if not c.echo]
        if merge and superseded:
            return _merge_superseded(plan, superseded, fetched, ordered)
        return plan
    ambiguous = len(foreign) < len(top) or len({state_key(fields, c.state) for c in foreign}) > 1 \
        or (newest_processed is not None and newest == newest_processed)
    chosen = foreign[-1]
    if ambiguous and merge:
        return _merge_superseded(plan, [c for c in ordered if not c.echo], fetched, ordered)
    if ambiguous:
        if fetched is MISSING:
            return GroupPlan(needs_fetch=True)
        chosen = dataclasses.replace(chosen, kind=UPSERT if fetched is not None else REMOVE,
                                     state=fetched or {})  # type: ignore[arg-type]
    del plan.verdicts[chosen.event]
    plan.effective = dataclasses.replace(chosen, hints=_union(c.hints for c in ordered if not c.echo),
                                         ours=_ours(ordered))
    return plan


def _ours(ordered: Sequence[Change]) -> frozenset[tuple[str, str]]:
    """The values zensync's echoes in the batch say it wrote (their hinted fields)."""
    return frozenset((target, json.dumps(external_value(c.state, target), sort_keys=True, default=str))
                     for c in ordered if c.echo and c.hints for target in c.hints)


def _union(hints: Iterable[Optional[frozenset[str]]]) -> Optional[frozenset[str]]:
    """The fields the applied state carries changes of: the newest event's state holds its batch's earlier
    foreign changes too (each event holds the whole object), so their hints count with its own; None when one
    of them gives none."""
    found: set[str] = set()
    for hint in hints:
        if hint is None:
            return None
        found |= hint
    return frozenset(found)


def _merge_superseded(plan: GroupPlan, foreign: list[Change], fetched: object,
                      ordered: Sequence[Change]) -> GroupPlan:
    """Foreign events a later echo (or a processed event) came after: merge the object's current state, carrying
    the events' hinted fields as edits zensync's later write may have replaced."""
    if fetched is MISSING:
        return GroupPlan(needs_fetch=True)
    chosen = foreign[-1]
    overwritten = tuple((c.state, c.hints, c.occurred_at) for c in foreign if c.hints)
    del plan.verdicts[chosen.event]
    plan.effective = dataclasses.replace(chosen, kind=UPSERT if fetched is not None else REMOVE,
                                         state=fetched or {}, hints=None,  # type: ignore[arg-type]
                                         overwritten=overwritten, ours=_ours(ordered))
    return plan
