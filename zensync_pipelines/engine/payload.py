"""Catalog row -> external payload: mapping, type coercion, validation and the payload's fingerprint."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .spec import ExternalObject, Field, InvalidValue

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class FieldError:
    column: str
    target: str
    reason: str
    code: str = "invalid_value"


_Invalid = InvalidValue


def _parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise _Invalid(f"expected a datetime, got {type(value).__name__}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def coerce(field: Field, value: Any) -> Any:
    """Normalise a value to the field's type so equal data always fingerprints equally."""
    kind = field.type
    if kind in ("string", "email"):
        text = value if isinstance(value, str) else str(value)
        if kind == "email" and not EMAIL.match(text):
            raise _Invalid(f"{text!r} is not an email address", "invalid_email")
        if field.max_length is not None and len(text) > field.max_length:
            raise _Invalid(f"{len(text)} characters, longer than the maximum {field.max_length}", "too_long")
        return text
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, str, decimal.Decimal, float)):
            raise _Invalid(f"expected an integer, got {type(value).__name__}")
        try:
            number = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            raise _Invalid(f"{value!r} is not an integer") from None
        if number != number.to_integral_value():
            raise _Invalid(f"{value!r} is not an integer")
        return int(number)
    if kind == "decimal":
        try:
            return float(decimal.Decimal(str(value)))
        except decimal.InvalidOperation:
            raise _Invalid(f"{value!r} is not a number") from None
    if kind == "boolean":
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise _Invalid(f"expected true or false, got {value!r}")
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise _Invalid(f"{value!r} is not a date") from None
    if kind == "datetime":
        try:
            return _parse_datetime(value).astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        except ValueError:
            raise _Invalid(f"{value!r} is not a datetime") from None
    return value  # "object": passed through as the transform built it


def _put(payload: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        payload = payload.setdefault(key, {})
    payload[leaf] = value


def build_payload(
    obj: ExternalObject, row: Mapping[str, Any], references: Optional[Mapping[str, Optional[str]]] = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """Map a row to the object's payload. Every field is checked, so one pass reports all of a row's errors.

    `references` holds the already resolved external id for each referencing field's target.
    """
    payload: dict[str, Any] = {}
    errors: list[FieldError] = []
    for field in obj.fields:
        value = row.get(field.column)
        try:
            if field.references is not None and value is not None:
                value = (references or {}).get(field.target)
            if field.transform is not None and value is not None:
                value = field.transform(value, *(row.get(column) for column in field.extra_columns))
            if isinstance(value, str) and not value.strip():
                value = None
            if value is None:
                if field.required:
                    raise _Invalid("is required but empty", "required")
            else:
                value = coerce(field, value)
                if field.choices is not None and value not in field.choices:
                    raise _Invalid(f"{value!r} is not one of {list(field.choices)}", "invalid_choice")
        except _Invalid as bad:
            errors.append(FieldError(field.column, field.target, bad.reason, bad.code))
            continue
        except Exception as bad:  # a user's transform must not stop the batch
            errors.append(FieldError(field.column, field.target, f"transform failed: {bad}", "transform_error"))
            continue
        _put(payload, field.target, value)
    return payload, errors


def fingerprint(payload: Mapping[str, Any]) -> str:
    """Stable hash of the mapped payload: equal payloads, equal fingerprints, whatever the key order."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
