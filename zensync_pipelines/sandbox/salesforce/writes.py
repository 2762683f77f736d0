"""Create, update, upsert and delete with Salesforce's per-record validation; shared by REST, Collections,
Composite and Bulk so that every API rejects the same record with the same code."""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from . import pricebook
from .errors import RecordError
from .schema import Field, SObject
from .store import Record, Store
from .values import coerce, normalize_id, now_iso

LOOKUP_ATTRIBUTES = "attributes"


class Writer:
    def __init__(self, store: Store, clock: Callable[[], float], default_user: str):
        self.store = store
        self.clock = clock
        self.default_user = default_user
        self.currencies = pricebook.CURRENCIES  # the org's active currencies; one means no CurrencyIsoCode field
        self._acting = threading.local()  # each request thread writes as its session's user

    def act_as(self, user_id: Optional[str]) -> None:
        """The user whose writes this thread makes from now on (CreatedById / LastModifiedById)."""
        self._acting.user_id = user_id

    @property
    def user_id(self) -> str:
        return getattr(self._acting, "user_id", None) or self.default_user

    # -- operations --------------------------------------------------------------------------------------------
    def create(self, sobject: SObject, body: dict[str, Any]) -> str:
        with self.store.lock:
            if body.get("Id") is not None:
                raise RecordError.one("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"])
            changes = self._changes(sobject, body, record_id=None)
            record = {f.name: f.default for f in sobject.fields.values()}
            stamp = now_iso(self.clock())
            record.update(changes, Id=self.store.new_id(sobject), IsDeleted=False, CreatedDate=stamp,
                          CreatedById=self.user_id)
            self._check_record(sobject, record)
            pricebook.before_save(self.store, self.currencies, sobject, record, None, body)
            self._save(sobject, record, stamp)
            return record["Id"]

    def update(self, sobject: SObject, record_id: Any, body: dict[str, Any]) -> str:
        with self.store.lock:
            existing = self.live(sobject, record_id)
            changes = self._changes(sobject, body, record_id=existing["Id"])
            record = {**existing, **changes}
            self._check_record(sobject, record)
            pricebook.before_save(self.store, self.currencies, sobject, record, existing, body)
            stamp = now_iso(self.clock())
            self._save(sobject, record, stamp)
            for follower in pricebook.followers(self.store, sobject, record):
                self._save(sobject, follower, stamp)
            return record["Id"]

    def upsert(self, sobject: SObject, field_name: str, value: Any, body: dict[str, Any]) -> tuple[str, bool]:
        """(id, created). The caller turns several matches (MultipleMatches) into its API's answer."""
        with self.store.lock:
            f = self.external_field(sobject, field_name)
            if value is None or value == "":
                if f.name == "Id":
                    return self.create(sobject, _without(body, "Id")), True
                raise RecordError.one("MISSING_ARGUMENT", f"{f.name} not specified", [f.name])
            matches = self.store.find(sobject, f.name, coerce(f, value) if f.name != "Id" else value)
            if len(matches) > 1:
                raise MultipleMatches(sobject, matches)
            if matches:
                return self.update(sobject, matches[0], _without(body, "Id")), False
            if f.name == "Id":
                raise RecordError.one("NOT_FOUND", f"Provided Id does not exist: {value}", ["Id"])
            return self.create(sobject, {**body, f.name: value}), True

    def delete(self, record_id: Any, sobject: Optional[SObject] = None) -> str:
        with self.store.lock:
            found_type, _ = self.store.get(record_id)
            existing = self.live(sobject or found_type, record_id)
            assert found_type is not None
            pricebook.before_delete(self.store, found_type, existing)
            stamp = now_iso(self.clock())
            self._save(found_type, {**existing, "IsDeleted": True, "_deleted": self.clock()}, stamp)
            return existing["Id"]

    # -- lookups -----------------------------------------------------------------------------------------------
    def live(self, sobject: Optional[SObject], record_id: Any) -> Record:
        found_type, record = self.store.get(record_id)
        if normalize_id(record_id) is None:
            raise RecordError.one("MALFORMED_ID", f"malformed id {record_id}", ["Id"])
        if record is None or (sobject is not None and found_type is not sobject):
            raise RecordError.one("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if record["IsDeleted"]:
            raise RecordError.one("ENTITY_IS_DELETED", "entity is deleted", [])
        return record

    @staticmethod
    def external_field(sobject: SObject, field_name: str) -> Field:
        f = sobject.field(field_name)
        if f is None:
            raise UnknownExternalField(field_name)
        if not (f.external_id or f.name == "Id"):
            raise RecordError.one(
                "INVALID_FIELD", f"Field {f.name} is not an external id field of {sobject.name}", [f.name]
            )
        return f

    # -- validation --------------------------------------------------------------------------------------------
    def _changes(self, sobject: SObject, body: dict[str, Any], record_id: Optional[str]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        errors: list[tuple[str, str, list[str]]] = []
        unwritable: list[str] = []  # Salesforce names them all in one error
        for key, value in body.items():
            if key == LOOKUP_ATTRIBUTES:
                continue
            try:
                if isinstance(value, dict):
                    f = sobject.relationship(key)
                    if f is None:
                        raise _no_column(sobject, key)
                    if not _writable(f, record_id):
                        unwritable.append(f.name)
                        continue
                    changes[f.name] = self._resolve_parent(f, value)
                    continue
                f = sobject.field(key)
                if f is None:
                    raise _no_column(sobject, key)
                if f.name == "Id" and record_id is not None and normalize_id(value) == record_id:
                    continue  # Collections updates carry the record's own Id in the body
                if not _writable(f, record_id):
                    unwritable.append(f.name)
                    continue
                changes[f.name] = coerce(f, value)
                if f.name == pricebook.CURRENCY:
                    pricebook.check_currency(self.currencies, sobject, changes[f.name])
                if f.type == "reference" and changes[f.name] is not None:
                    changes[f.name] = self._check_reference(f, changes[f.name])
            except RecordError as error:
                errors.extend(error.errors)
        if unwritable:
            errors.insert(0, (
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(unwritable)}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.", unwritable))
        if errors:
            raise RecordError(errors)
        return changes

    def _resolve_parent(self, f: Field, value: dict[str, Any]) -> Optional[str]:
        parent = self.store.schema.get((value.get(LOOKUP_ATTRIBUTES) or {}).get("type") or f.reference_to[0])
        keys = [k for k in value if k != LOOKUP_ATTRIBUTES]
        if parent is None or len(keys) != 1:
            raise RecordError.one("INVALID_FIELD", f"Invalid foreign key relationship: {f.relationship_name}", [])
        ext = self.external_field(parent, keys[0]) if parent.field(keys[0]) else None
        if ext is None:
            raise RecordError.one("INVALID_FIELD", f"No such column '{keys[0]}' on entity '{parent.name}'", [])
        key_value = value[keys[0]]
        matches = self.store.find(parent, ext.name, key_value)
        if not matches:
            raise RecordError.one(
                "INVALID_FIELD", f"Foreign key external ID: {key_value} not found for field {ext.name} in entity "
                f"{parent.name}", []
            )
        if len(matches) > 1:
            raise RecordError.one(
                "DUPLICATE_EXTERNAL_ID", f"Foreign key external ID: {key_value} matched more than one record", []
            )
        return matches[0]

    def _check_reference(self, f: Field, value: str) -> str:
        found_type, record = self.store.get(value)
        if found_type is None or found_type.name not in f.reference_to:
            raise RecordError.one(
                "FIELD_INTEGRITY_EXCEPTION", f"{f.name}: id value of incorrect type: {value}", [f.name]
            )
        if record is None:
            raise RecordError.one("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
        if record["IsDeleted"]:
            raise RecordError.one("ENTITY_IS_DELETED", "entity is deleted", [f.name])
        return record["Id"]

    def _check_record(self, sobject: SObject, record: Record) -> None:
        missing = [f.name for f in sobject.fields.values() if f.required and record.get(f.name) is None]
        if missing:
            raise RecordError.one("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                                  missing)
        for f in sobject.fields.values():
            if not f.unique or record.get(f.name) is None:
                continue
            others = [i for i in self.store.find(sobject, f.name, record[f.name]) if i != record["Id"]]
            if others:
                raise RecordError.one(
                    "DUPLICATE_VALUE", f"duplicate value found: {f.name} duplicates value on record with id: "
                    f"{others[0]}", []
                )

    def _save(self, sobject: SObject, record: Record, stamp: str) -> None:
        record.update(LastModifiedDate=stamp, SystemModstamp=stamp, LastModifiedById=self.user_id,
                      _modstamp=self.clock())
        self.store.put(sobject, record)


class MultipleMatches(Exception):
    def __init__(self, sobject: SObject, ids: list[str]):
        super().__init__(f"{len(ids)} {sobject.name} records match")
        self.sobject, self.ids = sobject, ids


class UnknownExternalField(Exception):
    """An upsert path naming a field the object does not have: Salesforce answers 404 for the whole request."""


def _writable(f: Field, record_id: Optional[str]) -> bool:
    """False for a system field, or one the object does not let this call set (create-only on an update,
    read-only)."""
    return not f.system and (f.createable if record_id is None else f.updateable)


def _no_column(sobject: SObject, key: str) -> RecordError:
    return RecordError.one("INVALID_FIELD", f"No such column '{key}' on sobject of type {sobject.name}", [])


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k.lower() != key.lower()}
