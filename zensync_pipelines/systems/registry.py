"""Every external system zensync knows, one entry each: adding a system is its module plus one line here.

An entry names, as import paths (so reading the registry imports neither Dagster nor any SDK), the system's
adapter, the function that builds its Dagster resource from the environment, the environment variables it
reads (and which of them it cannot run without), its sandbox for `zensync dev` (if it has one), its conformance
harness, and what it can do per object type. The Dagster resources, `zensync dev`, the spec loader, the
conformance suite and the docs read this table; nothing else lists systems.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .. import config
from .capabilities import Capabilities


def load(path: str) -> Any:
    """`package.module:attribute` -> the attribute."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class SystemEntry:
    name: str  # the key specs use in `systems={...}`, the resource key and the asset key prefix
    adapter: str  # the SystemAdapter class
    resource: str  # () -> the Dagster resource, its settings read from the environment (secrets via EnvVar)
    environment: tuple[str, ...] = ()  # every variable the resource reads
    # Those it cannot work without, as alternatives (any one group fully set will do): `zensync dev` skips the
    # system, with one line, when no group is complete and it has no sandbox to point them at.
    required: tuple[tuple[str, ...], ...] = ()
    capabilities: str = "zensync_pipelines.systems.capabilities:everything"  # object type -> Capabilities
    # (data folder, port) -> (a handle with .stop(), variables pointing the resource at the sandbox)
    sandbox: Optional[str] = None
    # The conformance suite's harness factory; None: `conformance_harness` in the adapter's module, if it has one.
    conformance: Optional[str] = None
    description: str = ""

    def build_resource(self) -> Any:
        return load(self.resource)()

    def object_capabilities(self, object_type: str) -> Capabilities:
        return load(self.capabilities)(object_type)

    def missing(self, environ: Optional[Mapping[str, str]] = None) -> list[str]:
        """[] when configured, else the unset variables of the alternative closest to complete."""
        environ = os.environ if environ is None else environ
        gaps = [[name for name in group if not environ.get(name)] for group in self.required]
        return min(gaps, key=len) if gaps else []

    def unconfigured(self, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
        """None when configured, else the one line every command and run ends in: what to set, each alternative
        by the variables it still lacks. An empty variable counts as unset (an empty key is no key)."""
        environ = os.environ if environ is None else environ
        if not self.missing(environ):
            return None
        options = []
        for group in sorted(self.required, key=lambda g: sum(not environ.get(name) for name in g)):
            lacking = [name for name in group if not environ.get(name)]
            present = [name for name in group if environ.get(name)]
            options.append(" and ".join(lacking) + (f" (beside {', '.join(present)})" if present else ""))
        return f"{self.name} is not configured here: set {', or '.join(options)} (an empty value counts as unset)"


REGISTRY: dict[str, SystemEntry] = {}


def register(entry: SystemEntry) -> SystemEntry:
    """Add (or replace) a system; the shipped ones below, and a test's or a plugin's own."""
    REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def entries() -> list[SystemEntry]:
    return list(REGISTRY.values())


register(SystemEntry(
    "stripe", adapter="zensync_pipelines.systems.stripe:StripeAdapter",
    resource="zensync_pipelines.systems.stripe.resource:stripe_resource_from_env",
    environment=(config.STRIPE_API_KEY, config.STRIPE_API_BASE), required=((config.STRIPE_API_KEY,),),
    capabilities="zensync_pipelines.systems.stripe.objects:capabilities",
    sandbox="zensync_pipelines.sandbox.starters:stripe_sandbox",
    conformance="zensync_pipelines_tests.conformance.registry:stripe_harness",
    description="Stripe's API through the stripe SDK"))
register(SystemEntry(
    "salesforce", adapter="zensync_pipelines.systems.salesforce:SalesforceAdapter",
    resource="zensync_pipelines.systems.salesforce:salesforce_resource_from_env",
    environment=(config.SALESFORCE_LOGIN_URL, config.SALESFORCE_CLIENT_ID, config.SALESFORCE_CLIENT_SECRET,
                 config.SALESFORCE_USERNAME, config.SALESFORCE_PASSWORD, config.SALESFORCE_SECURITY_TOKEN,
                 config.SALESFORCE_REFRESH_TOKEN, config.SALESFORCE_CA_BUNDLE, config.SALESFORCE_INSTANCE_URL,
                 config.SALESFORCE_SESSION_ID, config.SALESFORCE_API_VERSION),
    required=((config.SALESFORCE_CLIENT_ID, config.SALESFORCE_CLIENT_SECRET),
              (config.SALESFORCE_CLIENT_ID, config.SALESFORCE_REFRESH_TOKEN),
              (config.SALESFORCE_USERNAME, config.SALESFORCE_PASSWORD),
              (config.SALESFORCE_SESSION_ID, config.SALESFORCE_INSTANCE_URL)),
    capabilities="zensync_pipelines.systems.salesforce.records:capabilities",
    sandbox="zensync_pipelines.sandbox.starters:salesforce_sandbox",
    conformance="zensync_pipelines_tests.conformance.registry:salesforce_harness",
    description="Salesforce REST, Collections and Bulk 2.0 through simple-salesforce"))


def conformance_of(entry: SystemEntry) -> Optional[str]:
    """The import path of the entry's conformance harness: its own `conformance=`, else `conformance_harness`
    beside its adapter (so a system is its module and its entry). Imports the adapter's module: tests only."""
    if entry.conformance:
        return entry.conformance
    module = entry.adapter.partition(":")[0]
    return f"{module}:conformance_harness" if hasattr(importlib.import_module(module), "conformance_harness") \
        else None


def markdown_table(systems: Optional[list[SystemEntry]] = None) -> str:
    """The registered systems as the docs list them (docs/adding-a-system.md; a test keeps the page current)."""
    lines = ["| system | what | adapter | environment | sandbox in `zensync dev` |", "|---|---|---|---|---|"]
    for entry in systems if systems is not None else entries():
        variables = ", ".join(f"`{name}`" for name in entry.environment) or "none"
        lines.append(f"| `{entry.name}` | {entry.description} | `{entry.adapter}` | {variables} | "
                     f"{'yes' if entry.sandbox else 'no'} |")
    return "\n".join(lines) + "\n"


def check_spec(spec: Any, known_only: bool = True) -> None:
    """Refuse, when a spec loads, what a registered system cannot do to one of the spec's object types."""
    from ..engine.spec import SpecError

    for system, objects in spec.systems.items():
        entry = REGISTRY.get(system)
        if entry is None:
            if known_only:
                continue
            raise SpecError(f"catalog spec {spec.name!r} ({spec.source}): no system {system!r} is registered "
                            f"(known: {sorted(REGISTRY)})")
        strategy = spec.strategy(system)
        for obj in objects:
            where = f"catalog spec {spec.name!r} ({spec.source}): systems[{system!r}][{obj.name!r}]"
            can = entry.object_capabilities(obj.object_type)
            if not can.exists:
                raise SpecError(f"{where}: {system} has no object type {obj.object_type!r}")
            if strategy.deletes and not can.delete:
                raise SpecError(f"{where}: {system} can neither delete nor retire a {obj.object_type}, and the "
                                f"strategy mode 'mirror' deletes; declare strategies={{{system!r}: "
                                f"Strategy(mode='upsert')}} (or 'insert_only') instead")
            for need, label in _needs(obj):
                if not getattr(can, need):
                    raise SpecError(f"{where}: {system} cannot {label} a {obj.object_type}; remove it")


def _needs(obj: Any) -> list[tuple[str, str]]:
    needs = []
    if getattr(obj, "replace_on_change", False):
        needs.append(("replace", "replace (replace_on_change)"))
    if getattr(obj, "lookup", None) is not None:
        needs.append(("lookup", "look up by value (lookup=)"))
    if getattr(obj, "key", None) is not None:
        needs.append(("several", "keep several per row (key=)"))
    return needs

