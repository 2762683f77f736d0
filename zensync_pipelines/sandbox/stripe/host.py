"""What the resource modules use of the sandbox, named here so that none of them imports server.py, which
registers them: server.py -> resources -> host.py, never back."""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Protocol

from ..core import Router
from .accounts import Accounts
from .api import Call, LockTargets, Route
from .events import EventLog
from .forms import Params
from .store import Obj, Store


class StripeHost(Protocol):
    """The StripeSandbox as its resource modules see it: its state, its event log, and how to add a route."""

    accounts: Accounts
    store: Store  # the store of the account the current request acts in
    events: EventLog
    router: Router

    # Finalizes a draft as /finalize does; set by resources/invoice_actions.py for the subscriptions' invoices.
    finalize_invoice: Callable[[Optional[Call], Obj], None]
    # Called after an invoice is marked paid (resources/invoice_actions.py); subscriptions settle on it.
    invoice_paid: list[Callable[[Optional[Call], Obj], None]]

    def api(self, method: str, pattern: str, route: Route, lock: Optional[LockTargets] = None) -> None: ...

    def reply(self, obj: Obj, params: Params) -> Obj: ...

    def list_reply(self, params: Params, objects: Iterable[Obj], url: str) -> Obj: ...
