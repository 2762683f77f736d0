"""Read-back in the reconcile: the objects zensync owns, compared with the mapping and repaired by policy
(engine/drift.py); the last result is kept (zensync_state) for the drift and parity checks."""

import datetime as dt
from typing import Any, Optional

from sqlalchemy import Engine

from ..engine.drift import DriftReport, ReadBackRun
from ..engine.spec import CatalogSpec
from ..store.catalog import CatalogTables
from ..store.inbound_apply import InboundTables
from ..store.mappings import MappingStore
from ..store.state import StateStore
from ..store.tables import DEFAULT_TENANT
from ..systems.identity import identity_of
from .inbound_systems import INBOUND_SYSTEMS

SCOPE = "drift"


def state_key(spec: CatalogSpec, system: str) -> str:
    return f"{spec.name}:{system}"


def supports_read_back(system: str) -> bool:
    hooks = INBOUND_SYSTEMS.get(system)
    return hooks is not None and hooks.readback is not None


def run_read_back(spec: CatalogSpec, system: str, adapter: Any, engine: Engine, catalog: CatalogTables,
                  mappings: MappingStore) -> Optional[DriftReport]:
    """The read-back of the tenant that `mappings` is bound to."""
    if not supports_read_back(system):
        return None
    hooks = INBOUND_SYSTEMS[system]
    tables = InboundTables(engine, mappings.tenant)
    total = DriftReport()
    for obj in spec.objects(system):
        def store(items: list, object_type: str = obj.object_type, inbound: bool = obj.reads_inbound) -> int:
            # An object type no spec reads inbound has no policy to apply: its drift is reported, not queued.
            if not inbound:
                return 0
            return tables.inbox.add([hooks.readback_event(spec.name, object_type, internal_id, external_id, state)
                                     for internal_id, external_id, state in items])

        run = ReadBackRun(spec, system, obj, catalog, mappings, tables.forget_fingerprint, store, tables.learn_bases)
        report = run.run(hooks.readback(adapter, obj.object_type, identity_of(system, obj)),
                         tables.synced_external_ids(spec.name, system, obj.object_type))
        for name, value in report.counts().items():
            setattr(total, name, getattr(total, name) + value)
        total.examples += report.examples[:50 - len(total.examples)]
    StateStore(engine, mappings.tenant).put(SCOPE, state_key(spec, system), total.counts() | {
        "drift": total.drift, "at": dt.datetime.now(dt.timezone.utc).isoformat(), "examples": total.examples[:20]})
    return total


def last_read_back(spec: CatalogSpec, system: str, engine: Engine,
                   tenant: str = DEFAULT_TENANT) -> Optional[dict[str, Any]]:
    return StateStore(engine, tenant).get(SCOPE, state_key(spec, system))
