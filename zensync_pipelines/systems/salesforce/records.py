"""Per-record results, whichever API produced them: Collections JSON, Bulk 2.0 CSV, or a failed request."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from simple_salesforce.exceptions import SalesforceError

from ...engine.types import CREATE, Operation
from ..capabilities import Capabilities

LOCKED = "UNABLE_TO_LOCK_ROW"
UNWRITABLE = "INVALID_FIELD_FOR_INSERT_UPDATE"
UNPROCESSED = "unprocessed"
# Deleting what is already gone is the outcome a delete wants.
GONE = {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"}


@dataclass(frozen=True, slots=True)  # slots: a Bulk job's results hold 10^5 of them
class RecordResult:
    ok: bool
    record_id: Optional[str] = None
    code: Optional[str] = None
    message: str = ""
    field: Optional[str] = None
    transient: bool = False  # a later attempt may succeed: a lock, a 5xx, a lost connection

    @property
    def locked(self) -> bool:
        return self.code == LOCKED

    @property
    def retryable(self) -> bool:
        return self.transient or self.locked or self.code == UNPROCESSED

    @classmethod
    def from_collection(cls, item: dict[str, Any]) -> "RecordResult":
        if item.get("success"):
            return cls(True, item.get("id"))
        errors = item.get("errors") or [{}]
        first = errors[0]
        return cls(False, item.get("id"), first.get("statusCode") or "error",
                   "; ".join(e.get("message", "") for e in errors) or "rejected by Salesforce",
                   ", ".join(first.get("fields") or []) or None)

    @classmethod
    def from_bulk_error(cls, record_id: Optional[str], text: str) -> "RecordResult":
        """Bulk 2.0 writes `CODE:message:field1,field2 --` (several errors separated by spaces)."""
        first = text.split(" --")[0].strip()
        code, _, rest = first.partition(":")
        message, _, fields = rest.rpartition(":")
        if not message:  # no field part: the message itself had no colon
            message, fields = rest, ""
        return cls(False, record_id or None, code or "error", message or text, fields or None)

    @classmethod
    def request_failed(cls, error: Exception, transient: bool = False) -> "RecordResult":
        """A whole request failed for good (after retries): each of its records fails with the same reason."""
        if isinstance(error, SalesforceError):
            content = error.content
            item = content[0] if isinstance(content, list) and content and isinstance(content[0], dict) else {}
            return cls(False, None, item.get("errorCode") or f"http_{error.status}",
                       item.get("message") or str(content)[:500], transient=transient)
        return cls(False, None, type(error).__name__, str(error)[:500] or type(error).__name__, transient=transient)


# What retires a record of each type zensync may replace (replace.py): a type not named here cannot be replaced.
RETIRED: dict[str, dict[str, Any]] = {"PricebookEntry": {"IsActive": False}}


def capabilities(object_type: str) -> Capabilities:
    """Any object type is created, updated and deleted; a row may have several records of one type (a plan's two
    PricebookEntries), each upserted on its own external-id value (`external_value`). A type Salesforce keeps once
    used (a PricebookEntry) is replaced by retiring the old record (RETIRED's values) and writing a new one."""
    if object_type in RETIRED:
        retire = ", ".join(f"{name}={value}" for name, value in RETIRED[object_type].items())
        return Capabilities(several=True, replace=True, retire=f"delete; when replaced: {retire}")
    return Capabilities(several=True)


def external_value(op: Operation) -> str:
    """What the external-id field holds: the row's id, or `<row id>:<object name>` for one of several records of
    one type per row (ExternalObject.key), so each record upserts on a value of its own."""
    return f"{op.internal_id}:{op.object_type}" if op.resource_type else op.internal_id


def without_unwritable(op: Operation, result: RecordResult) -> Optional[Operation]:
    """A create sent again after a lost reply finds the record it made, so Salesforce takes the upsert for an
    update and refuses the fields set on create only (a PricebookEntry's Product2Id, Pricebook2Id, currency): the
    same create without them updates that record instead of failing forever. Only for a create that may have
    reached Salesforce before (`recovering`); a first create refused a field is a real error, reported as such.
    The fingerprint stays the whole payload's: the fields left out were set by the first create."""
    if not (op.recovering and op.action == CREATE and result.code == UNWRITABLE and result.field):
        return None
    return without_refused(op, result)


def without_refused(op: Operation, result: RecordResult) -> Optional[Operation]:
    """`op` without the fields Salesforce refused to set in an update (UNWRITABLE, naming them); None when it
    names none of the payload's."""
    if not result.field:
        return None
    refused = {name.strip() for name in result.field.split(",")}  # Collections joins with ", ", Bulk with ","

    def named(key: str) -> bool:  # a lookup set through its relationship: Pricebook2 -> Pricebook2Id
        return bool({key, f"{key}Id", key[:-3] + "__c" if key.endswith("__r") else key} & refused)

    payload = {key: value for key, value in op.payload.items() if not named(key)}
    if payload == op.payload:
        return None
    return dataclasses.replace(op, payload=payload, recovering=False)


def upsert_record(op: Operation, object_type: str, external_field: str) -> dict[str, Any]:
    """The payload as a Collections record: typed, and carrying the row's id in the external-id field. An
    update of a merged object carries only its changed fields (engine/merge.py): Salesforce leaves the others."""
    return {"attributes": {"type": object_type}, **op.sent, external_field: external_value(op)}


def flat_record(op: Operation, external_field: str) -> dict[str, str]:
    """The payload as one Bulk 2.0 CSV row: lookups become `Relation.Field` columns, None becomes `#N/A`
    (an empty cell would leave the field as it was, not clear it). A partial update's record holds its changed
    fields only; the job's other columns stay empty in its row, so Salesforce leaves those fields alone."""
    row: dict[str, str] = {external_field: external_value(op)}

    def put(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                put(f"{prefix}.{key}" if prefix else key, inner)
        else:
            row[prefix] = "#N/A" if value is None else _text(value)

    put("", op.sent)
    return row


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
