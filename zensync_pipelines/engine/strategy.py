"""How one catalog is kept in one system: which writes are allowed (mode) and what starts a sync (trigger).

Declared per system in `CatalogSpec.strategies`; a system the spec does not mention gets `Strategy()`, which is
the behaviour zensync always had: mirror every change, on change, with a nightly reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

# mirror: create, update and delete; upsert: create and update, never delete; insert_only: create once only;
# inbound_only: never write; the system is the source and its objects come in through the inbox (webhooks,
# polling): a catalog born in a system (payments made in Stripe).
MIRROR, UPSERT, INSERT_ONLY, INBOUND_ONLY = "mirror", "upsert", "insert_only", "inbound_only"
MODES = (MIRROR, UPSERT, INSERT_ONLY, INBOUND_ONLY)
# changes: a change sensor plus the reconcile schedule; schedule: a whole-catalog sync on `cron` only;
# manual: nothing starts it but a person (or `zensync`/Dagster's launchpad).
CHANGES, SCHEDULE, MANUAL = "changes", "schedule", "manual"
TRIGGERS = (CHANGES, SCHEDULE, MANUAL)


@dataclass(frozen=True)
class Strategy:
    mode: str = MIRROR
    trigger: str = CHANGES
    cron: Optional[str] = None  # for trigger "schedule": five fields, UTC, e.g. "0 * * * *"

    @property
    def deletes(self) -> bool:
        return self.mode == MIRROR

    @property
    def updates(self) -> bool:
        return self.mode not in (INSERT_ONLY, INBOUND_ONLY)

    @property
    def outbound(self) -> bool:
        """zensync writes this copy at all: no external copy asset, job, sensor or schedule when it does not."""
        return self.mode != INBOUND_ONLY

    @property
    def sensor(self) -> bool:
        return self.trigger == CHANGES

    @property
    def schedule(self) -> bool:
        return self.trigger != MANUAL

    def describe(self) -> str:
        writes = {MIRROR: "mirror (create, update, delete)", UPSERT: "upsert (create, update, never delete)",
                  INSERT_ONLY: "insert_only (create once, never update or delete)",
                  INBOUND_ONLY: "inbound_only (never written: its changes come in through the inbox)"}[self.mode]
        if self.mode == INBOUND_ONLY:
            return writes
        when = {CHANGES: "on change, plus the reconcile schedule", SCHEDULE: f"on schedule `{self.cron}` (UTC)",
                MANUAL: "manual only"}[self.trigger]
        return f"{writes}; {when}"

    def problems(self) -> list[str]:
        """What is wrong with this strategy, as `field: reason` texts (empty when it can work)."""
        found = []
        if self.mode not in MODES:
            found.append(f"mode {self.mode!r} is not one of {MODES}")
        if self.trigger not in TRIGGERS:
            found.append(f"trigger {self.trigger!r} is not one of {TRIGGERS}")
        if self.trigger == SCHEDULE and (not isinstance(self.cron, str) or len(self.cron.split()) != 5):
            found.append(f"trigger 'schedule' needs cron= a five-field cron string, got {self.cron!r}")
        if self.mode == INBOUND_ONLY and self.trigger != CHANGES:
            found.append(f"trigger {self.trigger!r} starts outbound syncs, which an inbound_only copy never has "
                         f"(its inbox sensor applies what comes in)")
        if self.trigger != SCHEDULE and self.cron is not None:
            found.append(f"cron applies to trigger 'schedule' only (this strategy's trigger is {self.trigger!r})")
        return found


def strategy_problems(strategies: Mapping[str, Any], systems: Mapping[str, Any]) -> list[str]:
    """A spec's `strategies` checked against its systems, as `strategies[...]: reason` texts."""
    found = []
    for system, strategy in strategies.items():
        if system not in systems:
            found.append(f"strategies[{system!r}] names a system the spec does not sync to ({sorted(systems)})")
        elif not isinstance(strategy, Strategy):
            found.append(f"strategies[{system!r}] must be a Strategy(...), got {type(strategy).__name__}")
        else:
            found += [f"strategies[{system!r}]: {problem}" for problem in strategy.problems()]
    return found
