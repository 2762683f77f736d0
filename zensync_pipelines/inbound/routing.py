"""Which tenant an inbound event belongs to, decided before anything is stored: the receiver's view of the tenant
registry (`zensync_tenants`).

A delivery must not cost a registry query, and `zensync tenants disable X` must take effect within seconds without
a restart. So each worker process keeps a snapshot of the whole registry (id, status, Stripe account, org, webhook
secret reference: a few hundred bytes a tenant) and reads it again once it is older than TTL_SECONDS, on a thread,
one reload at a time however many deliveries wait for it. A delivery that needs no tenant lookup (a Stripe event
without `account`, a message from the deployment's own org) never waits for it: the single-tenant path is as before.
Secrets are resolved when first used and kept with the snapshot, so a rotated reference is read again within TTL.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from sqlalchemy import Engine, select

from ..store import secrets
from ..store.tables import tenants
from ..store.tenant_fields import ACTIVE
from .groupcommit import Unavailable

TTL_SECONDS = 5.0


@dataclass(frozen=True)
class TenantRoute:
    """What the receiver needs of a tenant; `stripe_webhook_secret` is the stored form (a reference or token)."""

    id: str
    status: str
    stripe_account: Optional[str]
    salesforce_org: Optional[str]
    stripe_webhook_secret: Optional[str] = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


class Snapshot:
    """The registry at one moment, indexed the three ways a delivery names its tenant."""

    def __init__(self, routes: list[TenantRoute]):
        self.empty = not routes  # no tenant registered: every delivery goes to the default tenant, as before
        self.by_id = {route.id: route for route in routes}
        self.by_stripe_account = {route.stripe_account: route for route in routes if route.stripe_account}
        self.by_salesforce_org = {route.salesforce_org: route for route in routes if route.salesforce_org}
        self._secrets: dict[str, list[str]] = {}

    def webhook_secrets(self, route: TenantRoute) -> list[str]:
        """The tenant's signing secrets (comma-separated while a rolled secret is valid, as STRIPE_WEBHOOK_SECRET);
        raises secrets.SecretError naming the tenant, the field and the reference, never a value."""
        if route.id not in self._secrets:
            value = secrets.resolve(route.stripe_webhook_secret or "", f"tenant {route.id}: stripe_webhook_secret")
            self._secrets[route.id] = [part.strip() for part in value.split(",") if part.strip()]
        return self._secrets[route.id]


class TenantDirectory:
    """The snapshot of one worker, reloaded when older than `ttl` seconds."""

    def __init__(self, engine: Engine, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.engine, self.ttl, self._clock = engine, ttl, clock
        self._snapshot: Optional[Snapshot] = None
        self._loaded_at = 0.0
        self._loading: Optional[asyncio.Future[Snapshot]] = None

    async def snapshot(self) -> Snapshot:
        """The current snapshot; raises Unavailable when the registry cannot be read (the caller answers 5xx, so
        the system delivers again: an event is never refused because the database blinked)."""
        if self._snapshot is not None and self._clock() - self._loaded_at < self.ttl:
            return self._snapshot
        if self._loading is None:  # one reload at a time: every delivery waiting meanwhile shares its result
            self._loading = asyncio.ensure_future(self._reload())
        return await asyncio.shield(self._loading)

    async def _reload(self) -> Snapshot:
        try:
            started = self._clock()
            snapshot = Snapshot(await asyncio.get_running_loop().run_in_executor(None, self._load))
            self._snapshot, self._loaded_at = snapshot, started
            return snapshot
        except Exception as error:  # its text may hold the URL or SQL: the type is enough for the log
            raise Unavailable(f"tenant registry: {type(error).__name__}") from None
        finally:
            self._loading = None

    def _load(self) -> list[TenantRoute]:
        c = tenants.c
        query = select(c.id, c.status, c.stripe_account, c.salesforce_org, c.stripe_webhook_secret)
        with self.engine.connect() as connection:
            return [TenantRoute(*row) for row in connection.execute(query)]
