"""The API resources the sandbox serves; each module's `register(sandbox)` adds its routes."""

from . import catalog, customers, invoice_actions, invoiceitems, invoices, notifications

ALL = [customers, catalog, invoiceitems, invoices, invoice_actions, notifications]
