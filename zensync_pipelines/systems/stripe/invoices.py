"""Invoices: a draft with one invoice item per catalog line, then finalize, pay out of band, void or delete.

A draft is reconciled to the catalog (its fields and items, matched by `metadata.zenskar_line_id`). Once Stripe
has finalized an invoice its customer, currency, due date and lines are frozen: a catalog change to those is a
per-row `invoice_not_editable` conflict naming the invoice and what changed, never a silent skip. Every POST
carries a key derived from the operation's key, so a replayed run repeats nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import stripe

from .shared import ZENSKAR_ID, Conflict, clear_none, drop_none, tagged, with_zenskar_id

LINE_ID = "zenskar_line_id"
TARGET = {"draft": "draft", "issued": "open", "paid": "paid", "void": "void",
          "uncollectible": "uncollectible"}  # catalog status -> Stripe status
FROZEN_METADATA = ("due_date",)  # written by zensync; tells whether the due date changed after finalization
NOT_EDITABLE = "invoice_not_editable"


def line_params(line: dict[str, Any]) -> dict[str, Any]:
    return {"amount": line["amount"], "description": line.get("description"),
            "metadata": {LINE_ID: line["id"], "quantity": str(line["quantity"]),
                         "unit_amount": str(line["unit_amount"])}}


def line_changes(items: list[Any], lines: list[dict[str, Any]]) -> list[str]:
    """How the catalog's lines differ from the invoice's items, in words: 'line 12 quantity 2 -> 3'."""
    by_line = {item.metadata.to_dict()[LINE_ID]: item for item in items if tagged_line(item)}
    changes = []
    for line in lines:
        item = by_line.pop(line["id"], None)
        if item is None:
            changes.append(f"line {line['id']} added")
            continue
        metadata = item.metadata.to_dict()
        before = {"quantity": metadata.get("quantity"), "unit_amount": metadata.get("unit_amount"),
                  "description": item.description}
        after = {"quantity": str(line["quantity"]), "unit_amount": str(line["unit_amount"]),
                 "description": line.get("description")}
        changes += [f"line {line['id']} {name} {before[name]} -> {after[name]}" for name in before
                    if before[name] != after[name]]
    changes += [f"line {line_id} removed" for line_id in by_line]
    return changes


def tagged_line(item: Any) -> bool:
    return bool(item.metadata) and LINE_ID in item.metadata.to_dict()


class InvoiceHandler:
    def __init__(self, client: stripe.StripeClient, call: Callable[..., Any]):
        self.invoices, self.items, self.call = client.v1.invoices, client.v1.invoice_items, call

    def _post(self, fn: Callable[..., Any], *args: Any, key: str, params: Optional[dict] = None) -> Any:
        return self.call(fn, *args, params=params or {}, options={"idempotency_key": key})

    def create(self, internal_id: str, payload: dict[str, Any], key: str) -> Any:
        if payload["status"] == "void":
            return None  # cancelled before Stripe ever saw it: nothing was billed there, nothing to mirror
        params = {name: payload.get(name) for name in ("customer", "currency", "days_until_due", "description")}
        params |= {"auto_advance": False, "collection_method": "send_invoice",
                   "metadata": with_zenskar_id(payload, internal_id)["metadata"]}
        invoice = self._post(self.invoices.create, key=key, params=drop_none(params))
        self._reconcile_items(invoice, [], payload["lines"], key)
        return self._advance(invoice, internal_id, payload["status"], key)

    def update(self, external_id: str, internal_id: str, payload: dict[str, Any], key: str) -> Any:
        """The invoice as the last request left it (its status and paid_at are Stripe's), or the id of a draft
        deleted."""
        invoice = self.call(self.invoices.retrieve, external_id)
        items = self._items(invoice.id)
        frozen = self._frozen_changes(invoice, items, payload)
        if frozen:
            raise Conflict(NOT_EDITABLE, f"invoice {internal_id} ({invoice.id}) is {invoice.status} in Stripe, so "
                                         f"its {', '.join(frozen)} cannot change", "lines")
        metadata = with_zenskar_id(payload, internal_id)["metadata"]
        stored = invoice.metadata.to_dict() if invoice.metadata else {}
        if invoice.description != payload.get("description") or any(stored.get(k) != v for k, v in metadata.items()):
            params = {"description": payload.get("description"), "metadata": metadata}
            if invoice.status == "draft":
                params["days_until_due"] = payload.get("days_until_due")
            invoice = self._post(self.invoices.update, invoice.id, key=f"{key}-fields", params=clear_none(params))
        if invoice.status == "draft" and payload["status"] == "void":
            self.call(self.invoices.delete, invoice.id)  # a draft was never sent: delete rather than void
            return invoice.id
        self._reconcile_items(invoice, items, payload["lines"], key)
        return self._advance(invoice, internal_id, payload["status"], key)

    def delete(self, external_id: str, key: str) -> None:
        invoice = self.call(self.invoices.retrieve, external_id)
        if invoice.status == "draft":
            self.call(self.invoices.delete, invoice.id)
        elif invoice.status in ("open", "uncollectible"):
            self._post(self.invoices.void_invoice, invoice.id, key=f"{key}-void")
        elif invoice.status == "paid":
            raise Conflict("invoice_not_deletable", f"invoice {invoice.metadata.get(ZENSKAR_ID)} ({invoice.id}) is "
                                                    f"paid in Stripe: it can be neither deleted nor voided")

    def find(self, internal_id: str, payload: dict[str, Any]) -> Optional[str]:
        """An invoice an unrecorded attempt created: the customer's invoices are listed, never searched."""
        listed = self.call(self.invoices.list, params={"customer": payload["customer"], "limit": 100})
        for invoice in listed.auto_paging_iter():
            if tagged(invoice, ZENSKAR_ID, internal_id):
                return invoice.id
        return None

    def _items(self, invoice_id: str) -> list[Any]:
        listed = self.call(self.items.list, params={"invoice": invoice_id, "limit": 100})
        return list(listed.auto_paging_iter())

    def _frozen_changes(self, invoice: Any, items: list[Any], payload: dict[str, Any]) -> list[str]:
        changes = [f"{name} ({getattr(invoice, name)} -> {payload[name]})" for name in ("customer", "currency")
                   if getattr(invoice, name) != payload[name]]  # Stripe never moves an invoice, even a draft
        if invoice.status == "draft":
            return changes
        stored = invoice.metadata.to_dict() if invoice.metadata else {}
        changes += [f"{name.replace('_', ' ')} ({stored.get(name)} -> {payload['metadata'].get(name)})"
                    for name in FROZEN_METADATA if stored.get(name) != payload["metadata"].get(name)]
        return changes + line_changes(items, payload["lines"])

    def _reconcile_items(self, invoice: Any, items: list[Any], lines: list[dict[str, Any]], key: str) -> None:
        by_line = {item.metadata.to_dict()[LINE_ID]: item for item in items if tagged_line(item)}
        for line in lines:
            item, params = by_line.pop(line["id"], None), line_params(line)
            if item is None:
                self._post(self.items.create, key=f"{key}-line-{line['id']}",
                           params=drop_none(params | {"invoice": invoice.id, "currency": invoice.currency}))
            elif line_changes([item], [line]) or item.amount != line["amount"]:
                self._post(self.items.update, item.id, key=f"{key}-line-{line['id']}", params=clear_none(params))
        for item in by_line.values():  # lines gone from the catalog; items others added by hand stay
            self.call(self.items.delete, item.id)

    def _advance(self, invoice: Any, internal_id: str, status: str, key: str) -> Any:
        """Move the invoice forward to the catalog's status; Stripe has no way back, so backwards is a conflict."""
        target = TARGET[status]
        if invoice.status == "draft" and target != "draft":
            invoice = self._post(self.invoices.finalize_invoice, invoice.id, key=f"{key}-finalize")
        if invoice.status in ("open", "uncollectible") and target == "paid":
            invoice = self._post(self.invoices.pay, invoice.id, key=f"{key}-pay", params={"paid_out_of_band": True})
        elif invoice.status in ("open", "uncollectible") and target == "void":
            invoice = self._post(self.invoices.void_invoice, invoice.id, key=f"{key}-void")
        elif invoice.status == "open" and target == "uncollectible":
            invoice = self._post(self.invoices.mark_uncollectible, invoice.id, key=f"{key}-uncollectible")
        zero_paid = invoice.status == "paid" and target == "open" and invoice.amount_due == 0  # Stripe's own rule
        if invoice.status != target and not zero_paid:
            raise Conflict(NOT_EDITABLE, f"invoice {internal_id} ({invoice.id}) is {invoice.status} in Stripe and "
                                         f"cannot become {status}", "status")
        return invoice
