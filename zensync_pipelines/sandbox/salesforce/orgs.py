"""Several orgs in one sandbox, as a multi-org integration meets them: each org has its own OrganizationId, users,
records, API allocation, connected app and outbound messages, and one org's calls never see or spend another's.

The first org is the one the sandbox always had (`auth.ORG_ID`, its integration and sales users); more are added
with `SalesforceSandbox.add_org` or `POST /_sandbox/orgs`. All orgs share one HTTPS origin, as orgs of one pod
share an instance host: the session token (whose first 15 characters are the org id, as Salesforce's are) tells
which org a call acts in. That org is kept in a context variable for the request, so the route modules keep
reading `sb.store` / `sb.writer` / `sb.allocation` and get the current org's; code outside a request (the Bulk
thread, the outbound sender) runs in a copied context or holds its org's objects directly.
"""

from __future__ import annotations

import contextvars
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

from . import pricebook
from .limits import DailyAllocation
from .schema import Schema
from .store import POD, Store
from .values import _BASE62, make_id
from .writes import Writer

ORG_ID = "00D5g000000ZSBXEA4"  # the first org, the one a sandbox has always had
USER_ID = "0055g000000ZSBXAA4"  # its integration user: whoever logs in with credentials, the user zensync runs as
SALES_USER_ID = "0055g000000ZSBYAA4"  # a second user, for edits "made in Salesforce" by someone else
_current: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("salesforce_sandbox_org", default=None)


@dataclass
class Org:
    id: str
    name: str
    pod: str  # the instance characters of its record ids, so two orgs never hand out the same id
    integration_user: str
    sales_user: str
    users: dict[str, str]  # user id -> username
    store: Store
    writer: Writer
    allocation: DailyAllocation
    daily_api_limit: Optional[int] = None  # None: the sandbox's `daily_api_limit` knob
    down: bool = False  # the org's instance is unavailable: every API call and login answers 503
    client_id: Optional[str] = None  # the connected app installed in this org (client credentials flow)
    client_secret: Optional[str] = None
    expected: dict[str, str] = field(default_factory=dict)  # credentials required to log in (empty: any)
    outbound: Any = None  # its OutboundMessages, built by the server (it needs the sandbox)

    def describe(self) -> dict[str, Any]:
        return {"organization_id": self.id, "name": self.name, "integration_user_id": self.integration_user,
                "sales_user_id": self.sales_user, "usernames": dict(self.users),
                "daily_api_limit": self.allocation.limit, "api_usage": self.allocation.used(), "down": self.down,
                "client_id": self.client_id, "currencies": list(self.writer.currencies)}


class Orgs:
    def __init__(self, schema: Schema, clock: Callable[[], float], default_limit: Callable[[], int]):
        self._schema, self._clock, self._default_limit = schema, clock, default_limit
        self._orgs: dict[str, Org] = {}  # by the first 15 characters of the id: 15- and 18-character ids both work
        self._lock = threading.Lock()
        self._adding = threading.Lock()  # two orgs added at once must not take the same number (and ids)
        self.default = self._build(ORG_ID, "zensync sandbox", POD, USER_ID, SALES_USER_ID,
                                   {USER_ID: "integration@zensync.sandbox", SALES_USER_ID: "sam.sales@zensync.sandbox"})

    # -- which org a piece of code acts in ---------------------------------------------------------------------
    def current(self) -> Org:
        return self.get(_current.get()) or self.default

    @contextmanager
    def using(self, org_id: Optional[str]) -> Iterator[Org]:
        token = _current.set(org_id)
        try:
            yield self.current()
        finally:
            _current.reset(token)

    # -- lookups -----------------------------------------------------------------------------------------------
    def get(self, org_id: Optional[str]) -> Optional[Org]:
        if not org_id:
            return None
        with self._lock:
            return self._orgs.get(str(org_id)[:15])

    def all(self) -> list[Org]:
        with self._lock:
            return list(self._orgs.values())

    def of_user(self, user_id: str) -> Optional[Org]:
        return next((org for org in self.all() if user_id in org.users), None)

    def of_username(self, username: Optional[str]) -> Optional[tuple[Org, str]]:
        for org in self.all():
            for user_id, name in org.users.items():
                if username is not None and name.lower() == username.lower():
                    return org, user_id
        return None

    def of_client(self, client_id: Optional[str]) -> Optional[Org]:
        return next((org for org in self.all() if client_id and org.client_id == client_id), None)

    # -- adding orgs -------------------------------------------------------------------------------------------
    def add(self, name: Optional[str] = None, daily_api_limit: Optional[int] = None,
            client_id: Optional[str] = None, client_secret: Optional[str] = None,
            currencies: Optional[list[str]] = None) -> Org:
        codes = tuple(str(code).upper() for code in currencies or ())
        if currencies is not None and (not codes or any(len(c) != 3 or not c.isalpha() for c in codes)):
            raise ValueError(f"currencies must be ISO codes like 'USD', got {currencies!r}")
        with self._adding:
            number = len(self.all()) + 1
            slug = re.sub(r"[^a-z0-9]+", "-", (name or f"org{number}").lower()).strip("-") or f"org{number}"
            if self.of_username(f"integration@{slug}.zensync.sandbox"):
                raise ValueError(f"an org named {name!r} exists already")
            integration, sales = (make_id("005", POD, 4000 + 2 * number + k) for k in (0, 1))
            org = self._build(make_id("00D", POD, 1000 + number), name or f"org{number}", _pod(number),
                              integration, sales, {integration: f"integration@{slug}.zensync.sandbox",
                                                   sales: f"sam.sales@{slug}.zensync.sandbox"})
            org.daily_api_limit, org.client_id, org.client_secret = daily_api_limit, client_id, client_secret
            if codes:
                org.writer.currencies = codes
            return org

    def restore(self, saved: dict[str, Any]) -> Org:
        org = self._build(saved["id"], saved["name"], saved["pod"], saved["integration_user"], saved["sales_user"],
                          dict(saved["users"]), seed=False)
        org.daily_api_limit, org.down = saved.get("daily_api_limit"), bool(saved.get("down"))
        org.client_id, org.client_secret = saved.get("client_id"), saved.get("client_secret")
        org.writer.currencies = tuple(saved.get("currencies") or pricebook.CURRENCIES)
        org.store.load(saved.get("store", {}))
        pricebook.ensure_standard(org.store, self._clock, org.integration_user)  # a file saved before price books
        org.allocation.load(saved.get("api_calls", []))
        return org

    def dump(self, org: Org) -> dict[str, Any]:
        return {"id": org.id, "name": org.name, "pod": org.pod, "integration_user": org.integration_user,
                "sales_user": org.sales_user, "users": org.users, "daily_api_limit": org.daily_api_limit,
                "down": org.down, "client_id": org.client_id, "client_secret": org.client_secret,
                "currencies": list(org.writer.currencies),
                "store": org.store.dump(), "api_calls": org.allocation.dump(),
                "outbound_urls": dict(org.outbound.urls) if org.outbound else {},
                "outbound_queue": org.outbound.dump() if org.outbound else []}

    def _build(self, org_id: str, name: str, pod: str, integration: str, sales: str, users: dict[str, str],
               seed: bool = True) -> Org:
        store = Store(self._schema, pod)
        holder: list[Org] = []
        allocation = DailyAllocation(lambda: holder[0].daily_api_limit or self._default_limit(), self._clock)
        org = Org(org_id, name, pod, integration, sales, users, store, Writer(store, self._clock, integration),
                  allocation)
        holder.append(org)
        if seed:  # every org is born with its standard price book (and zensync's yearly one)
            pricebook.ensure_standard(store, self._clock, integration)
        with self._lock:
            self._orgs[org_id[:15]] = org
        return org


def _pod(number: int) -> str:
    """Two base-62 instance characters per org, never the first org's `5g`."""
    first = _BASE62.index(POD[0]) * 62 + _BASE62.index(POD[1])
    index = number if number < first else number + 1
    return _BASE62[index // 62 % 62] + _BASE62[index % 62]
