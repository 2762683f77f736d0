"""Resources shared by every catalog: the catalog database and one resource per external system."""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any

from dagster import (ConfigurableResource, DagsterInstance, EnvVar, Failure, SensorEvaluationContext,
                     build_resources)
from dagster._serdes import serialize_value
from pydantic import Field
from sqlalchemy import Engine

from .. import config
from ..store import migrate
from ..store.catalog import CatalogTables
from ..store.db import make_engine
from ..store.mappings import MappingStore
from ..store.tables import DEFAULT_TENANT
from ..systems import registry


@lru_cache(maxsize=None)
def _engine(url: str, auto_migrate: bool) -> Engine:
    engine = make_engine(url)
    if auto_migrate:
        migrate.upgrade(engine)
    return engine


class CatalogDatabase(ConfigurableResource):
    """The billing platform's database: catalog tables (read) and zensync's own tables (read and write)."""

    url: str = Field(description="SQLAlchemy URL; from ZENSYNC_DATABASE_URL, else a local SQLite file")
    auto_migrate: bool = Field(default=True, description="Upgrade zensync's tables on first use")

    def engine(self) -> Engine:
        return _engine(self.url, self.auto_migrate)

    def mappings(self, tenant: str = DEFAULT_TENANT) -> MappingStore:
        return MappingStore(self.engine(), tenant)

    def catalog(self, tenant: str = DEFAULT_TENANT) -> CatalogTables:
        return CatalogTables(self.engine(), tenant)


class UnconfiguredSystem(ConfigurableResource):
    """Stands in for a registered system whose required settings are unset or empty where the code location
    loads (a run's process has the same environment): a run that needs the system fails at once with the one
    line saying what to set, before any call, never with a config traceback or a request sent without a key."""

    problem: str = Field(description="What to set, as systems/registry.py words it")

    def adapter(self) -> None:
        raise Failure(description=self.problem)


# Per resource definition of a code location: (the definition, kept so its id is not reused; the built resource).
_TICK_DATABASES: dict[int, tuple[Any, CatalogDatabase]] = {}


def tick_database(context: SensorEvaluationContext) -> CatalogDatabase:
    """The code location's `catalog_db` for a sensor's tick, built once per process.

    zensync's sensors declare no required resources on purpose: Dagster builds a sensor's resources on a
    DagsterInstance it creates afresh for every tick (dagster-io/dagster#14345), which checks the Alembic history
    of each Dagster storage on the way: ~35 ms of CPU a tick in the code server, fifty times the tick's own
    query, and most of what an idle `zensync dev` burned. A tick that needs the instance (a run in flight, a
    failed run) still gets it from `context.instance`, only then."""
    if context.repository_def is None:
        raise ValueError("a zensync sensor needs its Definitions: build_sensor_context(definitions=...)")
    definition = context.repository_def.get_top_level_resources()["catalog_db"]
    found = _TICK_DATABASES.get(id(definition))
    if found is None or found[0] is not definition:
        with build_resources({"catalog_db": definition}) as built:
            found = _TICK_DATABASES[id(definition)] = (definition, built.catalog_db)
    return found[1]


_TICK_INSTANCES: dict[str, DagsterInstance] = {}
_TICK_INSTANCES_LOCK = threading.Lock()  # sensors tick on threads of the code server


def tick_instance(context: SensorEvaluationContext) -> DagsterInstance:
    """The Dagster instance for a sensor's tick, built once per process and instance.

    `context.instance` builds a new DagsterInstance for every tick, reading each storage's Alembic history from
    disk (~0.1 s of CPU): the retry sensors and the tenants' ticks, which look at runs on every tick, spent about
    half of an idle code server's Python CPU on it (py-spy, docs/performance.md section 11). An instance is safe
    to share between threads (the webserver shares one). A context built around an instance (tests) has no ref:
    its own instance is used."""
    ref = context.instance_ref
    if ref is None:
        return context.instance
    key = serialize_value(ref)
    with _TICK_INSTANCES_LOCK:
        found = _TICK_INSTANCES.get(key)
        if found is None:
            found = _TICK_INSTANCES[key] = DagsterInstance.from_ref(ref)
    return found


def _env_or(name: str, default: str) -> str | EnvVar:
    """An EnvVar when the variable is set (masked in the UI, read at launch), else the embedded default."""
    return EnvVar(name) if os.environ.get(name) else default


def default_resources(**overrides: ConfigurableResource) -> dict[str, ConfigurableResource]:
    """The catalog database and one resource per registered system (systems/registry.py), each configured from
    the environment; `overrides` replace some by key (tests point them at sandboxes)."""
    resources = {"catalog_db": CatalogDatabase(url=_env_or(config.DATABASE_URL, config.default_database_url()))}
    resources |= {entry.name: UnconfiguredSystem(problem=problem) if (problem := entry.unconfigured())
                  else entry.build_resource() for entry in registry.entries()}
    return resources | overrides
