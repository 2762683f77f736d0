"""The chaos test's sync process: syncs every target of its configuration at once, one thread each, until done
or killed (the test sends SIGKILL at random moments). Plain engine and adapters: what a Dagster run executes."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from typing import Any

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.engine.sync import Selection, SyncRun
from zensync_pipelines.engine.types import SyncReport
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.state import ApiUsageMemory, StateStore
from zensync_pipelines.systems.salesforce import SalesforceResource
from zensync_pipelines.systems.stripe import StripeAdapter

SPEC = {spec.name: spec for spec in load_specs()}["customers"]


def adapter(target: dict[str, Any]) -> Any:
    if target["system"] == "stripe":
        return StripeAdapter(target["api_key"], target["url"], rate_limit_per_second=200)
    return SalesforceResource(login_url=target["url"], client_id="chaos", client_secret="chaos-secret",
                              ca_bundle=target["ca"], bulk_threshold=target["bulk_threshold"], batch_size=100,
                              retry_base_seconds=0.01, retry_max_seconds=0.1, bulk_poll_seconds=0.02).adapter()


def sync(target: dict[str, Any], ids: list[str] | None = None) -> SyncReport:
    engine = make_engine(target["database_url"])
    system_adapter = adapter(target)
    if hasattr(system_adapter, "remember_usage"):
        system_adapter.remember_usage(ApiUsageMemory(StateStore(engine), target["system"]))
    run = SyncRun(SPEC, target["system"], CatalogTables(engine), MappingStore(engine), system_adapter,
                  uuid.uuid4().hex, chunk_size=100)
    try:
        return run.run(Selection(ids=ids))
    finally:
        engine.dispose()


def main() -> None:
    targets = json.loads(sys.argv[1])
    threads = [threading.Thread(target=sync, args=(target,)) for target in targets]
    print("ready", flush=True)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("done", flush=True)


if __name__ == "__main__":
    main()
