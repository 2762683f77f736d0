"""The API resources the sandbox serves; each module's `register(sandbox)` adds its routes."""

from . import (accounts, catalog, customers, invoice_actions, invoiceitems, invoices, notifications, payments,
               subscriptions)

ALL = [accounts, customers, catalog, invoiceitems, invoices, invoice_actions, subscriptions, payments, notifications]
