"""invoices -> Stripe with the real SDK against the Stripe sandbox: drafts, lifecycle, lines and conflicts."""

import pytest
from sqlalchemy import delete, insert

from zensync_pipelines.demo.invoices import MISSING_CUSTOMER, NEGATIVE_QUANTITY, UNKNOWN_CURRENCY, seed_invoices
from zensync_pipelines.demo.tables import invoice_lines
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine

from .helpers import catalog_rows, mapping, remote_invoices, remote_items, run, set_line, touch

STRIPE_STATUS = {"draft": "draft", "issued": "open", "paid": "paid", "void": "void"}
INVALID = {str(NEGATIVE_QUANTITY): "negative_quantity", str(UNKNOWN_CURRENCY): "invalid_choice",
           str(MISSING_CUSTOMER): "required"}


@pytest.fixture
def catalog(database_url):
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    seed_invoices(engine, 50, 60)
    yield engine
    engine.dispose()


def first(rows, status):
    return next(i for i, row in sorted(rows.items(), key=lambda kv: int(kv[0]))
                if row["status"] == status and i not in INVALID)


def test_invoices_wait_for_their_customer_then_sync_with_one_item_per_line(catalog, stripe_sandbox_url):
    url = stripe_sandbox_url
    rows, lines = catalog_rows(catalog)
    valid = set(rows) - set(INVALID)

    early = run(catalog, url, "invoices", "r1")
    # Only the row without a customer is judged at once; the others wait before their data is checked.
    assert (early.waiting, early.failed, early.api_calls) == (len(rows) - 1, 1, 0)
    assert "customer not synced to stripe yet" in mapping(catalog, first(rows, "paid"))["last_error"]

    run(catalog, url, "customers", "r2")
    report = run(catalog, url, "invoices", "r3")
    assert report.failed == len(INVALID) and report.waiting == 0
    for internal_id, code in INVALID.items():
        row = mapping(catalog, internal_id)
        assert (row["status"], row["last_error_code"]) == ("invalid", code)

    remote = remote_invoices(url)
    never_billed = {i for i in valid if rows[i]["status"] == "void"}  # void before Stripe saw them
    assert set(remote) == valid - never_billed and all(len(found) == 1 for found in remote.values())
    for internal_id, [invoice] in remote.items():
        row = rows[internal_id]
        assert invoice.status == STRIPE_STATUS[row["status"]]
        assert (invoice.collection_method, invoice.auto_advance) == ("send_invoice", False)
        assert invoice.currency == row["currency"] and invoice.metadata["number"] == row["number"]
        items = remote_items(url, invoice.id)
        assert {k: v.amount for k, v in items.items()} == {
            str(line["id"]): line["quantity"] * line["unit_amount"] for line in lines[internal_id]}
        assert invoice.total == sum(item.amount for item in items.values())
        assert mapping(catalog, internal_id)["external_id"] == invoice.id

    again = run(catalog, url, "invoices", "r4")
    assert again.api_calls == 0 and again.skipped == len(valid)


def test_line_changes_reconcile_a_draft_and_status_changes_move_it_forward(catalog, stripe_sandbox_url):
    url = stripe_sandbox_url
    run(catalog, url, "customers", "r1")
    run(catalog, url, "invoices", "r2")
    rows, lines = catalog_rows(catalog)
    draft = first(rows, "draft")
    changed, removed = lines[draft][0], lines[draft][1]
    set_line(catalog, changed["id"], quantity=changed["quantity"] + 4)
    with catalog.begin() as connection:
        connection.execute(delete(invoice_lines).where(invoice_lines.c.id == removed["id"]))
        connection.execute(insert(invoice_lines).values(
            id=int(draft) * 10 + 9, invoice_id=int(draft), description="Late fee", quantity=1, unit_amount=500,
            created_at=changed["created_at"], updated_at=changed["created_at"]))
    touch(catalog, int(draft))  # a deleted line leaves no cursor: the application touches its invoice

    report = run(catalog, url, "invoices", "r3")
    assert (report.updated, report.failed) == (1, len(INVALID))
    [invoice] = remote_invoices(url)[draft]
    items = remote_items(url, invoice.id)
    assert str(removed["id"]) not in items and items[f"{draft}9"].amount == 500
    assert items[str(changed["id"])].amount == (changed["quantity"] + 4) * changed["unit_amount"]
    assert items[str(changed["id"])].metadata["quantity"] == str(changed["quantity"] + 4)

    issued = first(rows, "issued")
    touch(catalog, int(draft), status="issued", issued_at=changed["created_at"])
    touch(catalog, int(issued), status="paid")
    run(catalog, url, "invoices", "r4")
    remote = remote_invoices(url)
    assert remote[draft][0].status == "open" and remote[draft][0].number
    assert remote[issued][0].status == "paid" and remote[issued][0].amount_paid == remote[issued][0].total


def test_edits_after_finalization_are_per_row_conflicts_naming_what_changed(catalog, stripe_sandbox_url):
    url = stripe_sandbox_url
    run(catalog, url, "customers", "r1")
    run(catalog, url, "invoices", "r2")
    rows, lines = catalog_rows(catalog)
    issued, paid = first(rows, "issued"), first(rows, "paid")
    line = lines[issued][0]
    set_line(catalog, line["id"], quantity=line["quantity"] + 1)
    touch(catalog, int(paid), status="issued")

    report = run(catalog, url, "invoices", "r3")
    assert report.failed == len(INVALID) + 2 and report.updated == 0
    conflict = mapping(catalog, issued)
    assert conflict["status"] == "failed" and conflict["last_error_code"] == "invoice_not_editable"
    assert f"invoice {issued} " in conflict["last_error"]
    assert f"line {line['id']} quantity {line['quantity']} -> {line['quantity'] + 1}" in conflict["last_error"]
    backwards = mapping(catalog, paid)
    assert backwards["last_error_code"] == "invoice_not_editable" and "cannot become issued" in backwards["last_error"]
    [invoice] = remote_invoices(url)[issued]
    assert remote_items(url, invoice.id)[str(line["id"])].metadata["quantity"] == str(line["quantity"])


def test_void_deletes_a_draft_and_voids_an_issued_invoice(catalog, stripe_sandbox_url):
    url = stripe_sandbox_url
    run(catalog, url, "customers", "r1")
    run(catalog, url, "invoices", "r2")
    rows, _ = catalog_rows(catalog)
    draft, issued, deleted = first(rows, "draft"), first(rows, "issued"), \
        [i for i in sorted(rows, key=int) if rows[i]["status"] == "issued" and i not in INVALID][1]
    draft_id = remote_invoices(url)[draft][0].id
    touch(catalog, int(draft), status="void")
    touch(catalog, int(issued), status="void")
    touch(catalog, int(deleted), deleted_at=rows[deleted]["created_at"])
    report = run(catalog, url, "invoices", "r3")
    assert (report.updated, report.deleted) == (2, 1)
    remote = remote_invoices(url)
    assert draft not in remote and remote[issued][0].status == "void" and remote[deleted][0].status == "void"
    assert draft_id not in {i.id for found in remote.values() for i in found}


def test_lost_replies_heal_without_duplicate_invoices_or_items(catalog, stripe_sandbox):
    run(catalog, stripe_sandbox.url, "customers", "r1")
    stripe_sandbox.configure(fault_rate=0.2, fault_kinds=["drop_after"], seed=5)
    first_run = run(catalog, stripe_sandbox.url, "invoices", "r2")
    assert first_run.failed > len(INVALID)
    stripe_sandbox.configure(fault_rate=0.0)
    second = run(catalog, stripe_sandbox.url, "invoices", "r3")
    assert second.failed == len(INVALID)
    rows, lines = catalog_rows(catalog)
    remote = remote_invoices(stripe_sandbox.url)
    assert all(len(found) == 1 for found in remote.values())
    for internal_id, [invoice] in remote.items():
        assert invoice.status == STRIPE_STATUS[rows[internal_id]["status"]]
        assert sorted(remote_items(stripe_sandbox.url, invoice.id)) == sorted(
            str(line["id"]) for line in lines[internal_id])
