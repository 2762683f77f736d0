"""The tenant registry (`zensync_tenants`): add, read, change, disable and remove tenants, rotate their secrets.

Every refusal is a `TenantError` with one line naming the tenant and the reason; a second tenant on a Stripe
account or Salesforce org names the tenant that has it. The unique constraints stand behind the checks, so two
concurrent adds of one account cannot both win.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any, Iterable, Optional

from sqlalchemy import Connection, Engine, column, delete, func, inspect, select, table, update
from sqlalchemy.exc import IntegrityError

from . import secrets
from .tables import mappings, metadata, tenants
from .tenant_fields import ACTIVE, COLUMNS, DISABLED, SECRET_FIELDS, Tenant, TenantError, check, salesforce_org

__all__ = ["TenantStore", "Tenant", "TenantError", "UnknownTenant"]


class UnknownTenant(TenantError):
    pass


class TenantStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def add(self, tenant: Tenant) -> Tenant:
        now = dt.datetime.now(dt.timezone.utc)
        tenant = replace(check(tenant), created_at=now, updated_at=now)
        self._write(tenant, tenants.insert().values(_values(tenant)), adding=True)
        return tenant

    def get(self, tenant_id: str) -> Tenant:
        with self.engine.connect() as connection:
            found = self._find(connection, tenant_id)
        if found is None:
            raise UnknownTenant(f"no tenant {tenant_id!r} is registered (zensync tenants list)")
        return found

    def list(self, status: Optional[str] = None) -> list[Tenant]:
        query = select(tenants).order_by(tenants.c.id)
        if status is not None:
            query = query.where(tenants.c.status == status)
        with self.engine.connect() as connection:
            return [_tenant(row) for row in connection.execute(query).mappings()]

    def statuses(self, tenant_ids: Iterable[str]) -> dict[str, str]:
        """The status of each of these tenants that is registered, in one query (a sensor's tick)."""
        ids = sorted(set(tenant_ids))
        if not ids:
            return {}
        with self.engine.connect() as connection:
            return dict(connection.execute(select(tenants.c.id, tenants.c.status).where(tenants.c.id.in_(ids))).all())

    def active_signature(self) -> list[Any]:
        """[active tenants, newest change to the registry among them]: moves when a tenant is added, enabled or
        disabled, so a sensor reads the active ids only then (one cheap aggregate per tick otherwise)."""
        query = select(func.count(), func.max(tenants.c.updated_at)).where(tenants.c.status == ACTIVE)
        with self.engine.connect() as connection:
            count, newest = connection.execute(query).one()
        return [count, str(newest)]

    def active_ids(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.execute(select(tenants.c.id).where(tenants.c.status == ACTIVE)
                                           .order_by(tenants.c.id)).scalars())

    def by_stripe_account(self, account: str) -> Optional[Tenant]:
        return self._one(tenants.c.stripe_account == account)

    def by_salesforce_org(self, org: str) -> Optional[Tenant]:
        """The tenant of an org, given its 15- or 18-character id (outbound messages carry either)."""
        try:
            full = salesforce_org(org, "?")
        except TenantError:
            return None  # not an org id: no tenant's
        return self._one(tenants.c.salesforce_org == full)

    def update(self, tenant_id: str, **changes: Any) -> Tenant:
        unknown = set(changes) - set(COLUMNS) | set(changes) & {"id", "created_at", "updated_at"}
        if unknown:
            raise TenantError(f"tenant {tenant_id}: cannot change {', '.join(sorted(unknown))}")
        changed = check(replace(self.get(tenant_id), **changes, updated_at=dt.datetime.now(dt.timezone.utc)))
        values = _values(changed)
        del values["created_at"]
        self._write(changed, update(tenants).where(tenants.c.id == tenant_id).values(values), adding=False)
        return changed

    def disable(self, tenant_id: str) -> Tenant:
        return self.update(tenant_id, status=DISABLED)

    def enable(self, tenant_id: str) -> Tenant:
        return self.update(tenant_id, status=ACTIVE)

    def remove(self, tenant_id: str, forget: bool = False) -> dict[str, int]:
        """Remove the tenant and its rows in zensync's tables (never catalog rows); rows deleted per table.

        Refused while the tenant has mappings, unless `forget`: they are the only record of which objects in its
        Stripe account and org zensync made, and a tenant added again without them would create those anew."""
        with self.engine.begin() as connection:
            if self._find(connection, tenant_id) is None:
                raise UnknownTenant(f"no tenant {tenant_id!r} is registered (zensync tenants list)")
            scoped = _tenant_tables(connection)
            if mappings.name in scoped and not forget:
                count = connection.execute(select(func.count()).select_from(scoped[mappings.name])
                                           .where(scoped[mappings.name].c.tenant == tenant_id)).scalar_one()
                if count:
                    raise TenantError(f"tenant {tenant_id} has {count} mappings to objects in its Stripe account "
                                      f"or org: remove it with --forget to delete them too")
            deleted = {name: connection.execute(delete(t).where(t.c.tenant == tenant_id)).rowcount
                       for name, t in scoped.items()}
            connection.execute(delete(tenants).where(tenants.c.id == tenant_id))
        return {name: count for name, count in deleted.items() if count}

    def rekey(self, fernet: Any) -> int:
        """Re-encrypt every encrypted secret under `fernet`'s first key, in one transaction: all or none."""
        rotated = 0
        with self.engine.begin() as connection:
            for row in connection.execute(select(tenants).order_by(tenants.c.id)).mappings().all():
                values = {name: secrets.rotate(row[name], fernet, f"tenant {row['id']}: {name}")
                          for name in SECRET_FIELDS if (row[name] or "").startswith(secrets.ENCRYPTED)}
                if values:
                    connection.execute(update(tenants).where(tenants.c.id == row["id"]).values(values))
                    rotated += len(values)
        return rotated

    def _one(self, condition: Any) -> Optional[Tenant]:
        with self.engine.connect() as connection:
            row = connection.execute(select(tenants).where(condition)).mappings().first()
        return _tenant(row) if row else None

    @staticmethod
    def _find(connection: Connection, tenant_id: str) -> Optional[Tenant]:
        row = connection.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings().first()
        return _tenant(row) if row else None

    @staticmethod
    def _refuse_taken(connection: Connection, tenant: Tenant) -> None:
        for name, what in (("stripe_account", "Stripe account"), ("salesforce_org", "Salesforce org"),
                           ("stripe_key", "Stripe key")):
            value = getattr(tenant, name)
            if name == "stripe_key" and (value or "").startswith(secrets.ENCRYPTED):
                continue  # a reference names its key; two encryptions of one key differ, and say nothing
            other = value and connection.execute(select(tenants.c.id).where(
                tenants.c[name] == value, tenants.c.id != tenant.id)).scalar()
            if other:
                raise TenantError(f"tenant {tenant.id}: {what} {value} already belongs to tenant {other}")

    def _write(self, tenant: Tenant, statement: Any, adding: bool) -> None:
        try:
            with self.engine.begin() as connection:
                if adding and self._find(connection, tenant.id):
                    raise TenantError(f"tenant {tenant.id} is already registered")
                self._refuse_taken(connection, tenant)
                connection.execute(statement)
        except IntegrityError:
            # A concurrent writer won between the check and the write: look again after the rollback, so the
            # message still names the other tenant.
            with self.engine.connect() as connection:
                if adding and self._find(connection, tenant.id):
                    raise TenantError(f"tenant {tenant.id} is already registered") from None
                self._refuse_taken(connection, tenant)
            raise TenantError(f"tenant {tenant.id}: refused by the registry's unique constraints") from None


def _tenant_tables(connection: Connection) -> dict[str, Any]:
    """zensync's tables that carry a `tenant` column in this database (mappings once they gain one)."""
    names = set(inspect(connection).get_table_names())
    found = {}
    for name in (t.name for t in metadata.sorted_tables if t.name != tenants.name and t.name in names):
        if any(c["name"] == "tenant" for c in inspect(connection).get_columns(name)):
            found[name] = table(name, column("tenant"))
    return found


def _values(tenant: Tenant) -> dict[str, Any]:
    return {name: getattr(tenant, name) for name in COLUMNS}


def _tenant(row: Any) -> Tenant:
    return Tenant(**{name: row[name] for name in COLUMNS})

