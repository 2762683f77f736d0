"""Replacing a Salesforce record whose create-only field changed (ExternalObject.replace_on_change): a plan moved
to another currency needs new PricebookEntries, since Salesforce sets an entry's product, price book and currency
on create only.

Salesforce keeps such records (a quote or an opportunity may use an entry; PricebookEntry records cannot be
deleted once used, only deactivated), so the old record is retired, not deleted: it takes its object type's
RETIRED values (IsActive false) and gives up the row's external-id value, which it keeps with the digest of its
create-only values appended (`<row>:monthly_entry~<digest>`), so the new record can be upserted on the row's own
value. Salesforce also keeps one entry per product, price book and currency, retired or not: a plan moved back to
a currency it had before takes back the record retired with those values (found by that tag) instead of failing
with DUPLICATE_VALUE on a second one.

Every step can run again: a rerun after a crash part-way retires the old record again (the same values), finds
the new record on the row's value and updates it (sending again without the fields Salesforce refuses in an
update), or finds the retired one it was reviving already back under the row's value.
"""

from __future__ import annotations

from typing import Any, Callable, Optional
from urllib.parse import quote

from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from ...engine.same_row import HALF
from ...engine.types import Operation
from . import collections
from .connection import SalesforceConnection, is_transient
from .records import GONE, RETIRED, UNWRITABLE, RecordResult, external_value, without_refused


def retired_tag(op: Operation, fingerprint: Optional[str]) -> str:
    """The external-id value of the row's record retired with these create-only values (a replace-on-change
    fingerprint's second half is its create-only values' digest, engine/same_row.py)."""
    return f"{external_value(op)}~{(fingerprint or '')[HALF:]}"


def replace(connection: SalesforceConnection, op: Operation) -> RecordResult:
    """Retire the record `op` replaces, then write the new one (taking back one retired earlier with the same
    create-only values); the result names the new record. Three calls (five to take one back), in the rare event
of a replace."""
    object_type, field = op.system_type, str(op.external_id_field)
    own = external_value(op)
    failed = _request(connection, lambda sf: sf.restful(
        f"sobjects/{object_type}/{op.external_id}", method="PATCH",
        json={**RETIRED[object_type], field: retired_tag(op, op.replaced)}))
    if failed is not None and failed.code not in GONE:
        return failed
    earlier: dict[str, Any] = {}
    failed = _request(connection, lambda sf: earlier.update(sf.restful(
        f"sobjects/{object_type}/{field}/{quote(retired_tag(op, op.fingerprint), safe='')}") or {}))
    if failed is not None and failed.code not in ("NOT_FOUND", "http_404"):
        return failed
    if earlier.get("Id"):  # back to values it had before: that record takes the row's value again
        failed = _request(connection, lambda sf: sf.restful(f"sobjects/{object_type}/{earlier['Id']}",
                                                            method="PATCH", json={field: own}))
        if failed is not None:
            return failed
    # The upsert on the row's value creates the record, or updates the one found (revived, or made by an earlier
    # attempt); an update refuses the create-only fields, so it goes again without them.
    [result] = collections.upsert(connection, object_type, field, [op])
    healed = without_refused(op, result) if not result.ok and result.code == UNWRITABLE else None
    if healed is not None:
        [result] = collections.upsert(connection, object_type, field, [healed])
    return result


def _request(connection: SalesforceConnection, send: Callable[[Any], Any]) -> Optional[RecordResult]:
    """One REST call under the budget and the breaker; None when it succeeded, else its failure."""
    connection.budget.ensure(1)
    connection.breaker.check()
    try:
        connection.call(send)
    except SalesforceExpiredSession:
        raise
    except (SalesforceError, OSError) as error:
        if isinstance(error, SalesforceError) and getattr(error, "status", 0) == 404:
            return RecordResult(False, None, "NOT_FOUND", "not found")
        if is_transient(error):
            return connection.request_failed(error, 1)[0]
        return RecordResult.request_failed(error)
    connection.breaker.success()
    return None

