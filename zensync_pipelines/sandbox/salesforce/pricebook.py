"""Price books as Salesforce keeps them: one standard price book per org, and PricebookEntry's rules.

What the object reference documents (PricebookEntry, Pricebook2) and what the API answers when a rule is broken:
- Every org has exactly one standard price book (`IsStandard` true, read-only); it cannot be deleted.
- One entry per product, price book and currency: a second one is `DUPLICATE_VALUE`.
- A product's standard price (its entry in the standard price book, same currency) must exist before any other
  price book's entry for it: `STANDARD_PRICE_NOT_DEFINED`, "No standard price defined for this product". Nor can
  the standard entry be deleted while such entries exist.
- `UseStandardPrice`: a custom entry takes the standard entry's UnitPrice (and follows it when it changes); its
  own UnitPrice is then not writable (`FIELD_INTEGRITY_EXCEPTION`); a standard entry cannot use it. Otherwise
  UnitPrice is required.
- Product2Id, Pricebook2Id and CurrencyIsoCode are set on create only (schema.json: `updateable: false`); Name
  and ProductCode mirror the product's.
- CurrencyIsoCode exists only in a multi-currency org (more than one active currency), holds one of the org's
  active currencies (a restricted picklist) and defaults to the corporate currency.

A sandbox org is born set up for zensync as docs/salesforce.md asks of a real org (as its schema already has the
`Zenskar_Id__c` fields): the standard price book carries `Zenskar_Id__c = standard`, and a second, active price
book "Yearly" (`yearly`) holds the plans' yearly prices, since the standard one can hold one price per product
and currency.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .errors import RecordError
from .schema import SObject
from .store import Record, Store
from .values import now_iso

STANDARD_NAME = "Standard Price Book"
# Price books of zensync's setup: (Name, Zenskar_Id__c, IsStandard).
SET_UP = ((STANDARD_NAME, "standard", True), ("Yearly", "yearly", False))
CURRENCY = "CurrencyIsoCode"
# The sandbox org's active currencies, the corporate one first: the currencies zensync's demo catalogs bill in.
CURRENCIES = ("USD", "EUR", "GBP", "INR", "CAD", "AUD", "JPY", "CHF", "SGD")


def _integrity(message: str, fields: list[str]) -> RecordError:
    return RecordError.one("FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {message}", fields)


def ensure_standard(store: Store, clock: Callable[[], float], user_id: str) -> None:
    """Give an org that has none yet its standard price book and zensync's yearly one (active); nothing with a
    schema file that has no price books."""
    sobject = store.schema.get("Pricebook2")
    if sobject is None:
        return
    with store.lock:
        if standard_book(store) is not None:
            return
        for name, tag, standard in SET_UP:
            stamp = now_iso(clock())
            record = {f.name: f.default for f in sobject.fields.values()}
            record.update(Id=store.new_id(sobject), Name=name, IsActive=True, IsStandard=standard, IsDeleted=False,
                          CreatedDate=stamp, CreatedById=user_id, LastModifiedDate=stamp, LastModifiedById=user_id,
                          SystemModstamp=stamp, _modstamp=clock())
            if sobject.field("Zenskar_Id__c") is not None:
                record["Zenskar_Id__c"] = tag
            store.put(sobject, record)


def standard_book(store: Store) -> Optional[Record]:
    return next((r for r in store.rows("Pricebook2") if r["IsStandard"]), None)


def check_currency(currencies: tuple[str, ...], sobject: SObject, value: Any) -> None:
    """A value for CurrencyIsoCode: no such column in a single-currency org, else one of the active currencies."""
    if len(currencies) < 2:
        raise RecordError.one("INVALID_FIELD", f"No such column '{CURRENCY}' on sobject of type {sobject.name}", [])
    if value is not None and value not in currencies:
        raise RecordError.one("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                              f"Currency ISO Code: bad value for restricted picklist field: {value}", [CURRENCY])


def _entries(store: Store, product: Any, currency: Any) -> list[Record]:
    return [r for r in store.rows("PricebookEntry") if r["Product2Id"] == product and r[CURRENCY] == currency]


def before_save(store: Store, currencies: tuple[str, ...], sobject: SObject, record: Record,
                existing: Optional[Record], body: dict[str, Any]) -> None:
    """Check (and complete) a PricebookEntry about to be saved; other objects pass untouched."""
    if sobject.name != "PricebookEntry":
        return
    if existing is None and len(currencies) > 1 and record.get(CURRENCY) is None:
        record[CURRENCY] = currencies[0]
    _, book = store.get(record["Pricebook2Id"])
    _, product = store.get(record["Product2Id"])
    assert book is not None and product is not None  # the reference checks ran before
    record["Name"], record["ProductCode"] = product.get("Name"), product.get("ProductCode")
    same = [r for r in _entries(store, record["Product2Id"], record[CURRENCY]) if r["Id"] != record.get("Id")]
    if existing is None and any(r["Pricebook2Id"] == record["Pricebook2Id"] for r in same):
        raise RecordError.one("DUPLICATE_VALUE", "This price definition already exists in this price book", [])
    given_price = any(key.lower() == "unitprice" for key in body)
    if book["IsStandard"]:
        if record["UseStandardPrice"]:
            raise _integrity("UseStandardPrice (a standard price cannot use the standard price)",
                             ["UseStandardPrice"])
    else:
        standard = next((r for r in same if _is_standard(store, r)), None)
        if standard is None:
            if existing is None:
                raise RecordError.one("STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product", [])
        elif record["UseStandardPrice"]:
            if given_price and record["UnitPrice"] != standard["UnitPrice"]:
                raise _integrity("UnitPrice (an entry that uses the standard price takes the standard entry's)",
                                 ["UnitPrice"])
            record["UnitPrice"] = standard["UnitPrice"]
    if record["UnitPrice"] is None:
        raise RecordError.one("REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", ["UnitPrice"])


def followers(store: Store, sobject: SObject, record: Record) -> list[Record]:
    """The entries that use this standard entry's price: each takes its new UnitPrice (the caller saves them)."""
    if sobject.name != "PricebookEntry" or not _is_standard(store, record):
        return []
    return [{**r, "UnitPrice": record["UnitPrice"]}
            for r in _entries(store, record["Product2Id"], record[CURRENCY])
            if r["UseStandardPrice"] and r["Id"] != record["Id"] and r["UnitPrice"] != record["UnitPrice"]]


def before_delete(store: Store, sobject: SObject, record: Record) -> None:
    if sobject.name == "Pricebook2" and record["IsStandard"]:
        raise RecordError.one("DELETE_FAILED", "You can't delete the standard price book.", [])
    if sobject.name == "PricebookEntry" and _is_standard(store, record):
        others = [r for r in _entries(store, record["Product2Id"], record[CURRENCY]) if r["Id"] != record["Id"]]
        if others:
            raise RecordError.one("DELETE_FAILED", "This standard price is used by other price books: delete "
                                  f"their entries first ({others[0]['Id']})", [])


def _is_standard(store: Store, entry: Record) -> bool:
    _, book = store.get(entry["Pricebook2Id"])
    return bool(book and book["IsStandard"])
