"""`zensync inbound` and `zensync poll`: the inbound side's jobs run now, by hand, as recorded runs.

Outside `zensync dev` the inbox sensor and the poll schedules start these jobs; an operator runs them when the
daemon is off or to see at once what a system's changes do: `poll` reads the system's changes into the inbox,
`inbound` applies the inbox's due events to a catalog. Both run in this process and record the run in the same
instance as `zensync sync` (DAGSTER_HOME, else `zensync dev`'s), so it shows in the UI with its metadata.
"""

from __future__ import annotations

from typing import Any, Optional

import click

from . import preflight
from .ops import _instance, _spec, tenant_option
from .ops_view import console

REPORTED = ("applied", "unchanged", "echo", "stale", "conflicts_lost", "untracked", "deletes", "handed_off",
            "failed", "fetches", "seconds")


def _execute(job: Any, tags: dict[str, str]) -> Any:
    with _instance() as instance:
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    console().print(f"{job.name}: run {result.run_id} {'succeeded' if result.success else 'FAILED'}")
    return result


def run_inbound(catalog: str, system: str, tenant: str) -> None:
    from ..dagster_defs.inbound import inbound_enabled, inbound_job_name
    from ..dagster_defs.scope import tenant_tags
    from ..definitions import build_definitions

    spec = _spec(catalog, system, tenant)
    if not inbound_enabled(spec, system):
        raise click.BadParameter(f"catalog {catalog!r} reads nothing back from {system}", param_hint="SYSTEM")
    result = _execute(build_definitions().resolve_job_def(inbound_job_name(spec, system)), tenant_tags(tenant))
    for event in result.get_asset_materialization_events():
        metadata = {k: v.value for k, v in event.materialization.metadata.items()}
        console().print("  ".join(f"{name}={metadata[name]}" for name in REPORTED if name in metadata))
    if not result.success:
        raise SystemExit(1)


@click.command()
@click.argument("catalog")
@click.argument("system")
@tenant_option
def inbound(catalog: str, system: str, tenant: str) -> None:
    """Apply SYSTEM's changes waiting in the inbox to CATALOG now, as a recorded run (what the inbox sensor
    starts). Read the system's changes first with `zensync poll SYSTEM` when no webhook brings them."""
    run_inbound(catalog, system, tenant)


@click.command()
@click.argument("system")
@click.option("--object", "object_type", metavar="TYPE", help="Only this object type (systems polled per type).")
def poll(system: str, object_type: Optional[str]) -> None:
    """Read SYSTEM's changes since the stored cursor into the inbox now, as recorded runs (what the poll
    schedules start); `zensync inbound CATALOG SYSTEM` then applies them."""
    from ..definitions import build_definitions

    definitions = build_definitions()
    prefix = f"poll_{system}"
    names = sorted(job.name for job in definitions.resolve_all_job_defs()
                   if job.name == prefix or job.name.startswith(prefix + "_"))
    if not names:
        raise click.BadParameter(f"no catalog reads anything back from {system!r}", param_hint="SYSTEM")
    if object_type is not None:
        if f"{prefix}_{object_type}" not in names:
            known = ", ".join(name[len(prefix) + 1:] for name in names if name != prefix) or "none (one feed)"
            raise click.BadParameter(f"{system} is not polled per {object_type!r}; its types: {known}",
                                     param_hint="--object")
        names = [f"{prefix}_{object_type}"]
    preflight.system_settings(system)
    failed = False
    for name in names:
        result = _execute(definitions.resolve_job_def(name), {})
        for event in result.all_events:
            if event.is_successful_output and event.event_specific_data.metadata:
                metadata = {k: v.value for k, v in event.event_specific_data.metadata.items()}
                console().print("  ".join(f"{k}={v}" for k, v in metadata.items()))
        failed = failed or not result.success
    if failed:
        raise SystemExit(1)


COMMANDS = [inbound, poll]
