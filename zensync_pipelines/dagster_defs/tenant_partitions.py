"""The tenant as the partition of the external copies, and the partitions kept in line with the registry.

Which partitions a deployment's copies have is decided when the code location loads (`partition_by`): months of
created-at, as before tenants, until a tenant is registered; then, for each catalog with a tenant column, the
tenants (one dynamic partitions set, `zensync_tenants`, shared by every copy), with months as run tags
(scope.FROM_TAG / TO_TAG). Why not tenant x month: docs/tenants.md, "Partitions". A deployment with no registered
tenant therefore keeps its month partitions, asset keys, jobs and sensors exactly.

The set holds `default` (the platform's own rows) and every registered tenant, disabled ones included (their
history stays visible; a run of one fails before any call). `zensync tenants add|enable|remove` update it at once
when they reach the Dagster instance; the `zensync_tenant_partitions` sensor heals any drift (a registry edited
by SQL, a command run without DAGSTER_HOME) within a tick.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dagster import (AddDynamicPartitionsRequest, DefaultSensorStatus, DeleteDynamicPartitionsRequest,
                     DynamicPartitionsDefinition, PartitionedConfig, SensorDefinition, SensorEvaluationContext,
                     SensorResult, SkipReason, sensor)
from sqlalchemy import Engine, select

from ..engine.spec import CatalogSpec
from ..store.tables import DEFAULT_TENANT, tenants
from .partition_choice import CHOICES, PARTITION_BY, PartitioningError, partition_by
from .scope import TENANT_PARTITIONS, copy_tags, tenant_tags
from .tenant_systems import lane_tags

__all__ = ["CHOICES", "PARTITION_BY", "PartitioningError", "partition_by", "by_tenant", "build_partitions_sensor"]
PARTITIONS_SENSOR = "zensync_tenant_partitions"
SENSOR_INTERVAL_SECONDS = 30


def by_tenant(spec: CatalogSpec, mode: str) -> CatalogSpec:
    """The spec as the code location builds it: partitioned by tenant in that mode, if it has a tenant column."""
    if mode == "tenant" and spec.tenant_column and not spec.tenant_partitions:
        return dataclasses.replace(spec, tenant_partitions=True)
    return spec


def tenant_job_config(spec: CatalogSpec, system: str) -> Any:
    """The sync job's config by tenant partition: none, and the tenant's own tags, so a partition launched from
    the UI or a backfill runs in its tenant's copy and lane like `zensync sync --tenant` does."""

    def tags(partition_key: str) -> dict[str, str]:
        return tenant_tags(partition_key) | copy_tags(spec, system, partition_key) | lane_tags(partition_key, system)

    return PartitionedConfig(partitions_def=DynamicPartitionsDefinition(name=TENANT_PARTITIONS),
                             run_config_for_partition_key_fn=lambda _key: {}, tags_for_partition_key_fn=tags)


def wanted_keys(engine: Engine) -> list[str]:
    """`default` and every registered tenant (one query)."""
    with engine.connect() as connection:
        ids = connection.execute(select(tenants.c.id).order_by(tenants.c.id)).scalars().all()
    return [DEFAULT_TENANT] + [i for i in ids if i != DEFAULT_TENANT]


def drift(instance: Any, wanted: list[str]) -> tuple[list[str], list[str]]:
    """(keys to add, keys to delete) for the instance's set to equal `wanted`."""
    have = set(instance.get_dynamic_partitions(TENANT_PARTITIONS))
    return [k for k in wanted if k not in have], sorted(have - set(wanted))


def sync_partitions(instance: Any, engine: Engine) -> tuple[list[str], list[str]]:
    """Make the instance's tenant partitions those of the registry now (the CLI's commands); returns the change."""
    add, delete = drift(instance, wanted_keys(engine))
    if add:
        instance.add_dynamic_partitions(TENANT_PARTITIONS, add)
    for key in delete:
        instance.delete_dynamic_partition(TENANT_PARTITIONS, key)
    return add, delete


def build_partitions_sensor() -> SensorDefinition:
    @sensor(name=PARTITIONS_SENSOR, minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
            default_status=DefaultSensorStatus.RUNNING,
            description="Keeps the tenant partitions of the copies (`zensync_tenants`) equal to the tenant registry: "
                        "`default` and every registered tenant. Two reads a tick; it writes only on drift.")
    def _partitions(context: SensorEvaluationContext) -> Any:
        from .resources import tick_database, tick_instance

        add, delete = drift(tick_instance(context), wanted_keys(tick_database(context).engine()))
        if not add and not delete:
            return SkipReason("the tenant partitions match the registry")
        context.log.info(f"tenant partitions: adding {add or 'none'}, deleting {delete or 'none'}")
        requests: list[Any] = []
        if add:
            requests.append(AddDynamicPartitionsRequest(TENANT_PARTITIONS, add))
        if delete:
            requests.append(DeleteDynamicPartitionsRequest(TENANT_PARTITIONS, delete))
        return SensorResult(dynamic_partitions_requests=requests)

    return _partitions
